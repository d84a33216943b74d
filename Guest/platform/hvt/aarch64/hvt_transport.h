/*
 * hvt_transport.h: how an aarch64 hvt guest reaches the tender: MMIO.
 *
 * Hypercall N is a 32-bit store (`str w`) of the argument block's GPA to
 * 0x100000000 + N * 8 (spec section 8); the net ring kick is a 32-bit store
 * of the ring id (0) to 0x100000100 (spec 11.3). Both addresses lie in the
 * MMIO window that early.c maps Device memory; the access exits to the
 * tender (KVM decodes it: mmio_write32 is a single `str` with a plain base
 * register, so ESR_EL2.ISV is set). VA == PA below 4 GiB, so a pointer is
 * its GPA; the block must lie below mem_size. The vCPU is stopped while the
 * tender works, so the "memory" clobber is the only ordering needed.
 * Sibling of platform/hvt/x86_64/hvt_transport.h (port I/O).
 */
#ifndef SKIFF_HVT_TRANSPORT_H
#define SKIFF_HVT_TRANSPORT_H

#include <stdint.h>
#include "hvt_abi.h"
#include "skiff_cpu.h"   /* mmio_write32 */

/* Issue hypercall `nr` with argument block `arg` (see struct hvt_hc_*). */
static inline void skiff_hvt_hypercall(unsigned nr, volatile void *arg)
{
    mmio_write32(HVT_HYPERCALL_MMIO_BASE + (uint64_t)nr * 8, (uint32_t)(uintptr_t)arg);
}

/* Ring kick: 32-bit store of the ring id (0) to 0x100000100 (spec 11.3). */
static inline void skiff_hvt_ring_kick(void)
{
    mmio_write32(HVT_RING_KICK_MMIO, 0);
}

#endif
