/*
 * virtio.h: the virtio drivers: the virtio-mmio (version 2, "modern")
 * transport and split virtqueues (mmio.c), virtio-blk (blk.c) and
 * virtio-net (net.c). Virtio 1.1, sections 2.7 (split virtqueues), 4.2
 * (virtio over MMIO), 5.1 (net) and 5.2 (block). The platform provides
 * virtio_wait_used() (how to sleep until a device answers).
 */
#ifndef SKIFF_VIRTIO_H
#define SKIFF_VIRTIO_H

#include "rt.h"

#define VIRTIO_MMIO_MAGIC          0x000
#define VIRTIO_MMIO_VERSION        0x004
#define VIRTIO_MMIO_DEVICE_ID      0x008
#define VIRTIO_MMIO_DEVICE_FEATURES     0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES     0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL      0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX  0x034
#define VIRTIO_MMIO_QUEUE_NUM      0x038
#define VIRTIO_MMIO_QUEUE_READY    0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY   0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK  0x064
#define VIRTIO_MMIO_STATUS         0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW    0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH   0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW  0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW  0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG         0x100

#define VIRTIO_MAGIC               0x74726976u   /* "virt" */
#define VIRTIO_ID_NET              1
#define VIRTIO_ID_BLOCK            2

#define VIRTIO_STATUS_ACKNOWLEDGE  1
#define VIRTIO_STATUS_DRIVER       2
#define VIRTIO_STATUS_DRIVER_OK    4
#define VIRTIO_STATUS_FEATURES_OK  8
#define VIRTIO_STATUS_FAILED       128

#define VIRTIO_F_VERSION_1         (1ull << 32)

#define VIRTQ_DESC_F_NEXT          1
#define VIRTQ_DESC_F_WRITE         2

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct virtq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];
};

struct virtq_used_elem {
    uint32_t id;
    uint32_t len;
};

struct virtq_used {
    uint16_t flags;
    uint16_t idx;
    struct virtq_used_elem ring[];
};

struct virtio_dev {
    uint64_t base;
    uint32_t intid;
    int      edge;
    uint32_t device_id;
};

struct virtq {
    struct virtio_dev *dev;
    uint16_t index;          /* queue number */
    uint16_t num;            /* entries (power of two) */
    uint16_t avail_idx;      /* our copy of avail->idx */
    uint16_t last_used;      /* next used entry to consume */
    struct virtq_desc *desc;
    volatile struct virtq_avail *avail;
    volatile struct virtq_used *used;
};

/* Reads the transport header at `base`: the device ID for a version-2
 * device, 0 for an empty slot, -1 for a legacy (version 1) transport. */
int virtio_probe(uint64_t base, uint32_t *device_id);
/* Reset, ACKNOWLEDGE, DRIVER, feature negotiation, FEATURES_OK; returns
 * the negotiated features or 0 if the device refuses (status FAILED). */
uint64_t virtio_negotiate(struct virtio_dev *d, uint64_t wanted);
/* Allocates and registers queue `index` with at most `max` entries. */
int virtq_init(struct virtq *q, struct virtio_dev *d, uint16_t index, uint16_t max);
void virtio_driver_ok(struct virtio_dev *d);
/* Publishes descriptor chain `head` and notifies the device. */
void virtq_submit(struct virtq *q, uint16_t head);
/* True if the device has returned a buffer we have not consumed yet. */
static inline int virtq_has_used(const struct virtq *q)
{
    return q->used->idx != q->last_used;
}
/* Consumes one used entry (call only if virtq_has_used). */
struct virtq_used_elem virtq_pop_used(struct virtq *q);
void virtio_ack(struct virtio_dev *d);

uint8_t virtio_config8(struct virtio_dev *d, uint32_t off);
uint16_t virtio_config16(struct virtio_dev *d, uint32_t off);
uint32_t virtio_config32(struct virtio_dev *d, uint32_t off);
uint64_t virtio_config64(struct virtio_dev *d, uint32_t off);

/*
 * Allocates a driver's device structure of `size` bytes (64-byte aligned,
 * zeroed), whose first member is a struct virtio_dev, copies `vd` into it
 * and negotiates `wanted`; NULL if either fails. *features: the result.
 */
void *virtio_device_new(size_t size, const struct virtio_dev *vd, uint64_t wanted, uint64_t *features);

/* Provided by the platform: waits until q has a used entry. */
void virtio_wait_used(struct virtq *q);

/* ---- virtio-blk (blk.c) ------------------------------------------------- */
#define VIRTIO_BLK_T_IN        0
#define VIRTIO_BLK_T_OUT       1

struct virtio_blk_req_hdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

struct virtio_blk {
    struct virtio_dev dev;     /* first: virtio_device_new */
    struct virtq q;
    uint64_t capacity;         /* bytes */
    uint32_t block_size;
    int read_only;
    struct virtio_blk_req_hdr *hdr;   /* one request in flight: header + status */
    volatile uint8_t *status;
    uint8_t *bounce;           /* one block, for unaligned byte ranges */
};

/* Sets up the device; NULL on failure. */
struct virtio_blk *virtio_blk_attach(const struct virtio_dev *vd);
/* Reads (VIRTIO_BLK_T_IN) or writes (_OUT) any byte range inside the
 * device; returns an hvt result (HVT_R_OK, HVT_R_EINVAL, HVT_R_EUNSPEC). */
int virtio_blk_io(struct virtio_blk *b, uint32_t type, uint64_t offset, void *buf, uint64_t len);

/* ---- virtio-net (net.c) ------------------------------------------------- */
#define VIRTIO_NET_QUEUE_MAX   128

struct virtio_net {
    struct virtio_dev dev;     /* first: virtio_device_new */
    struct virtq rx, tx;
    uint8_t mac[6];
    uint16_t mtu;
    size_t buf_size;           /* header + mtu + 14, rounded up */
    uint8_t *rx_bufs, *tx_bufs;
    uint16_t tx_free[VIRTIO_NET_QUEUE_MAX];
    uint16_t tx_nfree;
};

/* Sets up the device; NULL on failure. */
struct virtio_net *virtio_net_attach(const struct virtio_dev *vd);
/* One frame of at most mtu + 14 bytes; hvt results, as NET_WRITE/NET_READ. */
int virtio_net_write(struct virtio_net *n, const void *frame, size_t len);
int virtio_net_read(struct virtio_net *n, void *buf, size_t size, size_t *len);
static inline int virtio_net_has_input(const struct virtio_net *n)
{
    return virtq_has_used(&n->rx);
}

#endif
