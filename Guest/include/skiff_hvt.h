/*
 * skiff_hvt.h: hvt hypercalls for x86_64 guests (spec section 8-9).
 *
 * Hypercall N is a 32-bit OUT of the argument block's GPA to port 0x500 + N.
 * Guest virtual == guest physical below 4 GiB, so a pointer is its GPA; the
 * block must lie below 4 GiB and below mem_size (the tender bounds-checks it
 * and kills the guest otherwise). The vCPU is stopped while the tender works,
 * so a "memory" clobber is the only ordering needed. At CPL3 the TSS I/O
 * bitmap (start.S) is what allows these OUTs.
 */
#ifndef SKIFF_HVT_H
#define SKIFF_HVT_H

#include <stdint.h>
#include "hvt_abi.h"

#if defined(__x86_64__)   /* aarch64 QEMU-virt images make no hvt hypercalls */

/* Issue hypercall `nr` with argument block `arg` (see struct hvt_hc_*). */
static inline void skiff_hvt_hypercall(unsigned nr, volatile void *arg)
{
    __asm__ __volatile__("outl %%eax, (%%dx)"
                         :
                         : "a"((uint32_t)(uintptr_t)arg),
                           "d"((uint16_t)(HVT_HYPERCALL_PIO_BASE + nr))
                         : "memory");
}

/* WALLTIME (1): host CLOCK_REALTIME in ns into arg->nsecs. */
static inline void skiff_hvt_walltime(volatile struct hvt_hc_walltime *arg)
{
    skiff_hvt_hypercall(HVT_HYPERCALL_WALLTIME, arg);
}

/* PUTS (2): write [arg->data, +arg->len) to the tender's stdout. */
static inline void skiff_hvt_puts(volatile struct hvt_hc_puts *arg)
{
    skiff_hvt_hypercall(HVT_HYPERCALL_PUTS, arg);
}

/* POLL (3): wait up to arg->timeout_nsecs for net input; ready_set, ret out. */
static inline void skiff_hvt_poll(volatile struct hvt_hc_poll *arg)
{
    skiff_hvt_hypercall(HVT_HYPERCALL_POLL, arg);
}

/* BLOCK_WRITE (4): write arg->len bytes at arg->offset; arg->ret out. */
static inline void skiff_hvt_block_write(volatile struct hvt_hc_block *arg)
{
    skiff_hvt_hypercall(HVT_HYPERCALL_BLOCK_WRITE, arg);
}

/* BLOCK_READ (5): read arg->len bytes at arg->offset; arg->ret out. */
static inline void skiff_hvt_block_read(volatile struct hvt_hc_block *arg)
{
    skiff_hvt_hypercall(HVT_HYPERCALL_BLOCK_READ, arg);
}

/* NET_WRITE (6): send one Ethernet frame; arg->ret out. */
static inline void skiff_hvt_net_write(volatile struct hvt_hc_net *arg)
{
    skiff_hvt_hypercall(HVT_HYPERCALL_NET_WRITE, arg);
}

/* NET_READ (7): receive one frame; arg->len in/out (only valid on OK). */
static inline void skiff_hvt_net_read(volatile struct hvt_hc_net *arg)
{
    skiff_hvt_hypercall(HVT_HYPERCALL_NET_READ, arg);
}

/* HALT (8): end the guest with arg->exit_status; never returns. */
static inline void skiff_hvt_halt(volatile struct hvt_hc_halt *arg)
{
    skiff_hvt_hypercall(HVT_HYPERCALL_HALT, arg);
}

/* Ring kick: 32-bit OUT of the ring id (0) to port 0x600 (spec 11.3). */
static inline void skiff_hvt_ring_kick(void)
{
    __asm__ __volatile__("outl %%eax, (%%dx)"
                         :
                         : "a"(0u), "d"((uint16_t)HVT_RING_KICK_PIO)
                         : "memory");
}

#endif /* __x86_64__ */

#endif /* SKIFF_HVT_H */
