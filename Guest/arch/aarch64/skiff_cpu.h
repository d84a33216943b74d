/*
 * skiff_cpu.h: aarch64 CPU primitives of the guest runtime: the virtual
 * counter, MMIO accessors, system registers, barriers and the exception
 * frame that vectors.S saves.
 *
 * Included by skiff_rt.h (so Swift sees skiff_rdtsc through it); the build
 * puts Guest/arch/<arch> on the include path, which selects this file.
 */
#ifndef SKIFF_CPU_H
#define SKIFF_CPU_H

#include <stdint.h>

/* The virtual counter CNTVCT_EL0, the TSC's counterpart (frequency
 * CNTFRQ_EL0, reported as the boot info's cpu_cycle_freq). */
static inline uint64_t skiff_rdtsc(void)
{
    uint64_t v;
    __asm__ __volatile__("isb\n\tmrs %0, cntvct_el0" : "=r"(v) : : "memory");
    return v;
}

/*
 * MMIO: a single ldr/str with a plain base register, so that KVM can
 * emulate it (ISV=1). One definition per access size: mmio_read8/16/32/64
 * and mmio_write8/16/32/64.
 */
#define SKIFF_MMIO_ACCESSORS(bits, reg)                                          \
    static inline uint##bits##_t mmio_read##bits(uint64_t addr)                  \
    {                                                                            \
        uint##bits##_t v;                                                        \
        __asm__ __volatile__("ldr" SKIFF_MMIO_SUFFIX_##bits " %" reg "0, [%1]"   \
                             : "=r"(v) : "r"(addr) : "memory");                  \
        return v;                                                                \
    }                                                                            \
    static inline void mmio_write##bits(uint64_t addr, uint##bits##_t v)         \
    {                                                                            \
        __asm__ __volatile__("str" SKIFF_MMIO_SUFFIX_##bits " %" reg "0, [%1]"   \
                             : : "rZ"(v), "r"(addr) : "memory");                 \
    }
#define SKIFF_MMIO_SUFFIX_8  "b"
#define SKIFF_MMIO_SUFFIX_16 "h"
#define SKIFF_MMIO_SUFFIX_32 ""
#define SKIFF_MMIO_SUFFIX_64 ""
SKIFF_MMIO_ACCESSORS(8, "w")
SKIFF_MMIO_ACCESSORS(16, "w")
SKIFF_MMIO_ACCESSORS(32, "w")
SKIFF_MMIO_ACCESSORS(64, "")

#define READ_SYSREG(r) ({ uint64_t _v; __asm__ __volatile__("mrs %0, " #r : "=r"(_v)); _v; })
#define WRITE_SYSREG(r, v) __asm__ __volatile__("msr " #r ", %0" : : "r"((uint64_t)(v)) : "memory")

static inline void dsb_sy(void) { __asm__ __volatile__("dsb sy" ::: "memory"); }
static inline void dmb_sy(void) { __asm__ __volatile__("dmb sy" ::: "memory"); }
static inline void isb(void) { __asm__ __volatile__("isb" ::: "memory"); }
static inline void wfi(void) { __asm__ __volatile__("dsb sy\n\twfi" ::: "memory"); }

#define compiler_barrier() __asm__ __volatile__("" ::: "memory")
/* Shared-memory rings (hvt spec 11.3): earlier stores before later stores;
 * earlier loads before later loads and stores; everything before everything. */
#define write_barrier() __asm__ __volatile__("dmb ishst" ::: "memory")
#define read_barrier() __asm__ __volatile__("dmb ishld" ::: "memory")
#define full_barrier() dsb_sy()
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")

/* What vectors.S saves on SP_EL1 for every exception (FRAME_SIZE bytes). */
struct skiff_a64_frame {
    uint64_t x[31];
    uint64_t sp;            /* SP_EL0 at the exception */
    uint64_t elr, spsr, esr, far;
};

/* The platform's say before trap.c reports an exception: nonzero to resume
 * at fr->elr (with the frame as changed) instead. */
int skiff_platform_trap_resume(struct skiff_a64_frame *fr, uint32_t ec, unsigned type);

#endif
