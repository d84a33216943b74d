/*
 * skiff_rt.h: the Skiff guest runtime's C interface (x86_64).
 *
 * Imported into Swift as the clang module `SkiffRuntime` (module.modulemap)
 * and used by the Swift module `Skiff`; C code may use it directly. All of it
 * runs at CPL3. Functions returning `int` results return enum hvt_result
 * (HVT_R_OK, HVT_R_AGAIN, HVT_R_EINVAL, HVT_R_EUNSPEC).
 */
#ifndef SKIFF_RT_H
#define SKIFF_RT_H

#include <stddef.h>
#include <stdint.h>
#include "hvt_abi.h"
#include "skiff_block_ring.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Boot info as passed by the tender (read-only page at 0x10000). */
extern const struct hvt_boot_info *skiff_boot_info;

/* TSC ticks to ns: ns = (ticks * skiff_tsc_mult) >> 32. Set at start. */
extern uint64_t skiff_tsc_mult;

#if defined(__x86_64__)
/* Read the time-stamp counter (native at CPL3). */
static inline uint64_t skiff_rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}
#elif defined(__aarch64__)
/* aarch64: read the virtual counter CNTVCT_EL0, the TSC's counterpart
 * (frequency CNTFRQ_EL0, reported as cpu_cycle_freq; Guest/aarch64). */
static inline uint64_t skiff_rdtsc(void)
{
    uint64_t v;
    __asm__ __volatile__("isb\n\tmrs %0, cntvct_el0" : "=r"(v) : : "memory");
    return v;
}
#else
#error "skiff_rt.h: unsupported architecture"
#endif

/* Monotonic ns from the TSC and boot info cpu_cycle_freq; no hypercall. */
static inline uint64_t skiff_clock_monotonic(void)
{
    unsigned __int128 p = (unsigned __int128)skiff_rdtsc() * skiff_tsc_mult;
    return (uint64_t)(p >> 32);
}

/* Wall-clock ns since the Unix epoch (WALLTIME hypercall). */
uint64_t skiff_clock_wall(void);

/* Command line (NUL-terminated) and guest memory size from boot info. */
const char *skiff_cmdline(void);
uint64_t skiff_mem_size(void);

/* Console: line-buffered (as putchar); one PUTS per line or full buffer. */
void skiff_console_write(const void *data, size_t len);
void skiff_console_flush(void);

/* End the unikernel: flush the console, HALT with `status`. */
_Noreturn void skiff_exit(int status);
/* Print "Skiff: ABORT: <msg>" (msg need not be NUL-terminated), HALT 255. */
_Noreturn void skiff_abort(const char *msg, size_t len);

/* POLL for at most timeout_ns; returns the set of ready net handles. */
uint64_t skiff_poll(uint64_t timeout_ns);

/*
 * Find the attached manifest entry `name` (len bytes, no NUL needed) of
 * `type` (MFT_DEV_*); stores its handle. NULL if absent or not attached.
 */
const struct mft_entry *skiff_mft_lookup(const char *name, size_t len,
                                         uint32_t type, uint64_t *handle);

/* Block I/O straight to the tender: no alignment or size checks here. */
int skiff_block_write(uint64_t handle, uint64_t offset, const void *buf,
                      uint64_t len);
int skiff_block_read(uint64_t handle, uint64_t offset, void *buf,
                     uint64_t len);

/* Net I/O: one frame. Reads return HVT_R_AGAIN when nothing is pending.
 * They use the tender's shared ring when it is offered and enabled (the
 * default), else the NET_READ/NET_WRITE hypercalls. */
int skiff_net_write(uint64_t handle, const void *frame, size_t len);
int skiff_net_read(uint64_t handle, void *buf, size_t size, size_t *len);
int skiff_net_ring_active(void);
void skiff_net_ring_enable(int on);

/*
 * Block ring (Skiff extension, docs/block-ring.md): serve every request
 * queued in `ring` (tail..head) and return how many were served. With a
 * monitor that offers SKIFF_FEATURE_BLOCK_RING this is one hypercall;
 * otherwise (upstream solo5-hvt, or aarch64 virtio) each entry is one
 * skiff_block_read/skiff_block_write, and FLUSH reports HVT_R_EUNSPEC
 * (hvt has no flush). Each entry's `ret` holds its result.
 */
int skiff_block_ring_offered(void);
static inline uint32_t skiff_block_ring_submit(struct skiff_block_ring *ring)
{
    uint32_t size = ring->size, head = ring->head, tail = ring->tail;
#if defined(__x86_64__)
    if (skiff_block_ring_offered()) {
        volatile struct skiff_hc_block_ring arg = {
            .ring = (uint64_t)(uintptr_t)ring, .served = 0, .ret = HVT_R_EUNSPEC };
        __asm__ __volatile__("outl %%eax, (%%dx)"
                             :
                             : "a"((uint32_t)(uintptr_t)&arg),
                               "d"((uint16_t)(HVT_HYPERCALL_PIO_BASE + SKIFF_HYPERCALL_BLOCK_RING))
                             : "memory");
        return arg.ret == HVT_R_OK ? arg.served : 0;
    }
#endif
    uint32_t served = 0;
    for (uint32_t i = tail; i != head; i++, served++) {
        struct skiff_block_ring_entry *e = &ring->entries[i & (size - 1)];
        void *buf = (void *)(uintptr_t)e->data;
        switch (e->op) {
        case SKIFF_BLOCK_OP_READ:  e->ret = skiff_block_read(e->handle, e->offset, buf, e->len); break;
        case SKIFF_BLOCK_OP_WRITE: e->ret = skiff_block_write(e->handle, e->offset, buf, e->len); break;
        case SKIFF_BLOCK_OP_FLUSH: e->ret = HVT_R_EUNSPEC; break;
        default:                   e->ret = HVT_R_EINVAL; break;
        }
    }
    ring->tail = head;
    return served;
}

/* Heap (malloc, free, posix_memalign... are in rt/heap.c). */
struct skiff_heap_stats {
    size_t capacity;     /* bytes managed: [heap start, heap end) */
    size_t in_use;       /* bytes in allocated chunks (headers included) */
    size_t free;         /* bytes in free chunks, the top chunk and caches */
    size_t allocations;  /* live allocations */
};
void skiff_heap_get_stats(struct skiff_heap_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* SKIFF_RT_H */
