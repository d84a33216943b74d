/*
 * hvt_transport.h: how an x86_64 hvt guest reaches the tender: port I/O.
 *
 * Hypercall N is a 32-bit OUT of the argument block's GPA to port 0x500 + N
 * (spec sections 8-9). Guest virtual == guest physical below 4 GiB, so a
 * pointer is its GPA; the block must lie below 4 GiB and below mem_size (the
 * tender bounds-checks it and kills the guest otherwise). The vCPU is stopped
 * while the tender works, so a "memory" clobber is the only ordering needed.
 * At CPL3 the TSS I/O bitmap (arch/x86_64/cpl3/start.S) is what allows these OUTs.
 * The aarch64 transport (MMIO stores) is its sibling, ../aarch64/hvt_transport.h.
 */
#ifndef SKIFF_HVT_TRANSPORT_H
#define SKIFF_HVT_TRANSPORT_H

#include <stdint.h>
#include "hvt_abi.h"

/* Issue hypercall `nr` with argument block `arg` (see struct hvt_hc_*). */
static inline void skiff_hvt_hypercall(unsigned nr, volatile void *arg)
{
    __asm__ __volatile__("outl %%eax, (%%dx)"
                         :
                         : "a"((uint32_t)(uintptr_t)arg),
                           "d"((uint16_t)(HVT_HYPERCALL_PIO_BASE + nr))
                         : "memory");
}

/* Ring kick: 32-bit OUT of the ring id (0) to port 0x600 (spec 11.3). */
static inline void skiff_hvt_ring_kick(void)
{
    __asm__ __volatile__("outl %%eax, (%%dx)"
                         :
                         : "a"(0u), "d"((uint16_t)HVT_RING_KICK_PIO)
                         : "memory");
}

#endif
