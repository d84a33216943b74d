/*
 * xen_arch.h: Xen hypercalls on x86_64: a call into the hypercall page
 * (pvh.S), whose 32-byte stub for hypercall N loads %eax and executes
 * VMCALL or VMMCALL as the CPU needs. Arguments in %rdi, %rsi, %rdx (then
 * %r10, %r8); result in %rax; %rcx and %r11 are clobbered. The runtime is
 * built with -mno-red-zone (Platforms.swift), so the call's push cannot
 * overwrite a leaf function's locals.
 */
#ifndef SKIFF_XEN_ARCH_H
#define SKIFF_XEN_ARCH_H

#include <stdint.h>

extern char skiff_xen_hypercall_page[];

static inline long xen_hypercall3(unsigned op, uint64_t a1, uint64_t a2, uint64_t a3)
{
    register uint64_t rdi __asm__("rdi") = a1;
    register uint64_t rsi __asm__("rsi") = a2;
    register uint64_t rdx __asm__("rdx") = a3;
    long ret;
    __asm__ __volatile__("call *%[stub]"
                         : "=a"(ret), "+r"(rdi), "+r"(rsi), "+r"(rdx)
                         : [stub] "r"(skiff_xen_hypercall_page + op * 32)
                         : "rcx", "r11", "r8", "r9", "r10", "memory");
    return ret;
}

#endif
