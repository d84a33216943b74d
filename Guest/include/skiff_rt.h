/*
 * skiff_rt.h: the Skiff guest runtime's C interface, the same on every
 * architecture and platform.
 *
 * Imported into Swift as the clang module `SkiffRuntime` (module.modulemap)
 * and used by the Swift module `Skiff`; C code may use it directly. Each
 * platform (Guest/platform/NAME) implements it; what differs between platforms
 * is reported by skiff_platform_capabilities(), never by `#if arch` in Swift.
 * Functions returning `int` results return enum hvt_result (HVT_R_OK,
 * HVT_R_AGAIN, HVT_R_EINVAL, HVT_R_EUNSPEC).
 */
#ifndef SKIFF_RT_H
#define SKIFF_RT_H

#include <stddef.h>
#include <stdint.h>
#include "hvt_abi.h"
#include "skiff_block_ring.h"
#if __has_include("skiff_cpu.h")
#include "skiff_cpu.h"   /* Guest/arch/<arch>: skiff_rdtsc() */
#else
/* No architecture directory on the include path: a host build of Guest/Package.swift (editors). */
#include "skiff_host_cpu.h"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Boot info: as passed by the hvt tender, or filled in by the platform. */
extern const struct hvt_boot_info *skiff_boot_info;

/* Counter ticks to ns: ns = (ticks * skiff_tsc_mult) >> 32. Set at start. */
extern uint64_t skiff_tsc_mult;

/* Monotonic ns from the CPU counter and cpu_cycle_freq; no hypercall. */
static inline uint64_t skiff_clock_monotonic(void)
{
    unsigned __int128 p = (unsigned __int128)skiff_rdtsc() * skiff_tsc_mult;
    return (uint64_t)(p >> 32);
}

/* Wall-clock ns since the Unix epoch (hvt: the WALLTIME hypercall). */
uint64_t skiff_clock_wall(void);

/*
 * What this platform offers beyond the common interface, as SKIFF_CAP_*
 * bits; fixed once main() runs (hvt: depends on what the tender offers).
 */
#define SKIFF_CAP_BLOCK_RING  0x1u       /* skiff_block_ring_submit: one exit per batch */
#define SKIFF_CAP_NET_RING    0x2u       /* skiff_net_ring_enable can move frames through a shared ring */
#define SKIFF_CAP_WALL_CLOCK  0x4u       /* skiff_clock_wall reads a host or RTC clock (else it starts at 0) */
uint32_t skiff_platform_capabilities(void);

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
 * On hvt they use the tender's shared ring when it is offered
 * (SKIFF_CAP_NET_RING) and enabled, else the NET_READ/NET_WRITE hypercalls.
 * skiff_net_ring_active() is 0 on platforms without the ring. */
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
uint32_t skiff_block_ring_submit(struct skiff_block_ring *ring);
/* The one-request-at-a-time path of skiff_block_ring_submit (common code). */
uint32_t skiff_block_ring_serve_each(struct skiff_block_ring *ring);

/* Heap (malloc, free, posix_memalign... are in common/heap.c). */
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
