/*
 * skiff_block_ring.h: Skiff's block ring, an extension of the hvt ABI (docs/block-ring.md).
 *
 * Offered when host_features has SKIFF_FEATURE_BLOCK_RING and at least one
 * block device is attached. The guest keeps a ring of requests in its own
 * memory and submits everything queued with one hypercall (port 0x509):
 * one VM exit per batch instead of one per block. Guests that do not look at
 * the bit see exactly the hvt ABI.
 */
#ifndef SKIFF_BLOCK_RING_H
#define SKIFF_BLOCK_RING_H

#include <stdint.h>

#define SKIFF_FEATURE_BLOCK_RING     (1u << 31)
#define SKIFF_HYPERCALL_BLOCK_RING   9u          /* x86_64: OUT to port 0x509 */
#define SKIFF_BLOCK_RING_MAX_SIZE    1024u       /* entries, power of two */
#define SKIFF_BLOCK_RING_MAX_LEN     (4u << 20)  /* bytes per request */

enum skiff_block_op {
    SKIFF_BLOCK_OP_READ  = 1,
    SKIFF_BLOCK_OP_WRITE = 2,
    SKIFF_BLOCK_OP_FLUSH = 3
};

/* One request, 40 bytes. `ret` is written by the monitor (enum hvt_result). */
struct skiff_block_ring_entry {
    uint32_t op;
    uint32_t handle;
    uint64_t offset;   /* bytes, a multiple of the block size */
    uint64_t data;     /* GPA of the buffer */
    uint64_t len;      /* bytes, a non-zero multiple of the block size, <= MAX_LEN */
    int32_t  ret;
    uint32_t reserved;
};

/* Ring header, followed by `size` entries. Indices are free-running; slot = index & (size - 1). */
struct skiff_block_ring {
    uint32_t size;     /* guest: number of entries, a power of two <= MAX_SIZE */
    uint32_t head;     /* guest: producer index (next slot to fill) */
    uint32_t tail;     /* monitor: consumer index (next slot to serve) */
    uint32_t reserved;
    struct skiff_block_ring_entry entries[];
};

/* Argument block of SKIFF_HYPERCALL_BLOCK_RING, 16 bytes. */
struct skiff_hc_block_ring {
    uint64_t ring;     /* IN: GPA of struct skiff_block_ring */
    uint32_t served;   /* OUT: requests served by this call */
    int32_t  ret;      /* OUT: OK, or EINVAL for a malformed ring header */
};

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct skiff_block_ring_entry) == 40, "block ring entry");
_Static_assert(sizeof(struct skiff_block_ring) == 16, "block ring header");
_Static_assert(sizeof(struct skiff_hc_block_ring) == 16, "block ring hypercall");
#endif

#endif /* SKIFF_BLOCK_RING_H */
