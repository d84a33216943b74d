/*
 * hvt.h: internal declarations of the hvt platform (Solo5 hvt ABI v2):
 * the hypercall numbers are in hvt_abi.h, the architecture's transport in
 * Guest/platform/hvt/<arch>/hvt_transport.h (x86_64: port I/O; aarch64:
 * MMIO stores). Every
 * hypercall is `skiff_hvt_hypercall(HVT_HYPERCALL_<NAME>, &arg)` with an
 * argument block built on the stack (GPA == pointer, below mem_size).
 */
#ifndef SKIFF_HVT_H
#define SKIFF_HVT_H

#include "rt.h"
#include "hvt_transport.h"

/* start.c: the architecture-independent start-up (boot info, clock,
 * seeds, heap, devices, main()); entered by the architecture's entry
 * (x86_64: start.S's iretq to CPL3; aarch64: aarch64/early.c). */
_Noreturn void skiff_user_start(const struct hvt_boot_info *bi);

/* devices.c: the net ring is drained by skiff_devices_quiesce(). */
void skiff_net_ring_drain(void);

#endif
