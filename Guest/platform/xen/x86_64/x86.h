/*
 * x86.h: declarations shared by the x86_64 files of the Xen platform
 * (start.c, paging.c, clock.c, pc.c): port I/O, CPUID and MSR helpers and
 * the functions each file provides. Not for Swift.
 */
#ifndef SKIFF_XEN_X86_H
#define SKIFF_XEN_X86_H

#include "xen.h"

static inline void outb(uint16_t port, uint8_t v) { __asm__ __volatile__("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ __volatile__("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
    __asm__ __volatile__("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ __volatile__("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

/*
 * The CPL3 runtime's privileged operations (no Xen; pvh.S skiff_isr_op):
 * an int3 with the operation in %eax, done at CPL0 (an int3 round trip is
 * ~6 us on PVM, platform-notes 8).
 */
static inline void pvh_op_wait(void)
{
    __asm__ __volatile__("int3" : : "a"(SKIFF_OP_WAIT) : "memory");
}

static inline void pvh_op_cr3(uint64_t cr3)
{
    __asm__ __volatile__("int3" : : "a"(SKIFF_OP_CR3), "D"(cr3) : "memory");
}

/* The vCPU's CPUID (on PVM, CPL3's own `cpuid` answers with the host's). */
static inline void pvh_op_cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
    __asm__ __volatile__("int3" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d)
                         : "a"(SKIFF_OP_CPUID), "D"(leaf), "S"(sub) : "memory");
}

static inline uint64_t pvh_op_rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ __volatile__("int3" : "=a"(lo), "=d"(hi) : "a"(SKIFF_OP_RDMSR), "D"(msr) : "memory");
    return ((uint64_t)hi << 32) | lo;
}

static inline _Noreturn void pvh_op_off(void)
{
    __asm__ __volatile__("int3" : : "a"(SKIFF_OP_OFF) : "memory");
    __builtin_unreachable();
}

/* pvh.S: Xen's CPUID base leaf (0: no Xen, the runtime runs at CPL3). */
extern uint32_t skiff_pvh_xen_base;

/* paging.c: the final identity map (docs/platform-xen.md): 4 KiB pages with
 * W^X over the image's 2 MiB regions (page 0 and the guard page unmapped),
 * 2 MiB pages from there to ram_end (2 MiB aligned), nothing else but,
 * without Xen, the local APIC's 2 MiB page, uncached. The system area is
 * supervisor-only, everything else a user page. */
void skiff_x86_paging_init(uint64_t ram_end);

/* clock.c: Xen time from the shared info page (mapped by this call). */
void skiff_x86_xen_clock_init(void);

/* pc.c: no Xen (QEMU, skiff-hvt; CPL3): TSC and APIC timer rates, interrupt
 * masks, the CMOS wall clock; waits on the APIC timer. */
void skiff_x86_pc_clock_init(void);
void skiff_x86_pc_wait_until(uint64_t deadline_ns);
uint64_t skiff_x86_pc_wall(void);

/* clock.c: under Xen. */
void skiff_x86_xen_wait_until(uint64_t deadline_ns);
uint64_t skiff_x86_xen_wall(void);

#endif
