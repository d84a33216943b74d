/*
 * xen_arch.h: Xen hypercalls on arm64: `hvc #0xEA1` with the hypercall
 * number in x16 and the arguments in x0-x4; the result comes back in x0.
 * Xen may clobber x0-x4 and x16 (Xen docs: arch-arm.h "Hypercall calling
 * convention"). Works with the MMU on or off: Xen reads guest memory by
 * guest physical address, and the runtime's map is the identity.
 */
#ifndef SKIFF_XEN_ARCH_H
#define SKIFF_XEN_ARCH_H

#include <stdint.h>

static inline long xen_hypercall3(unsigned op, uint64_t a1, uint64_t a2, uint64_t a3)
{
    register uint64_t x0 __asm__("x0") = a1;
    register uint64_t x1 __asm__("x1") = a2;
    register uint64_t x2 __asm__("x2") = a3;
    register uint64_t x16 __asm__("x16") = op;
    __asm__ __volatile__("hvc #0xea1"
                         : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x16)
                         : : "x3", "x4", "memory");
    return (long)x0;
}

#endif
