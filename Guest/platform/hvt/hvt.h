/*
 * hvt.h: internal declarations of the hvt platform (Solo5 hvt ABI v2):
 * the hypercall numbers are in hvt_abi.h, the architecture's transport in
 * Guest/platform/hvt/<arch>/hvt_transport.h (x86_64: port I/O). Every
 * hypercall is `skiff_hvt_hypercall(HVT_HYPERCALL_<NAME>, &arg)` with an
 * argument block built on the stack (GPA == pointer, below mem_size).
 */
#ifndef SKIFF_HVT_H
#define SKIFF_HVT_H

#include "rt.h"
#include "hvt_transport.h"

/* devices.c: the net ring is drained by skiff_devices_quiesce(). */
void skiff_net_ring_drain(void);

#endif
