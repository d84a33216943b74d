/*
 * skiff_cpu.h: x86_64 CPU primitives of the guest runtime: the time-stamp
 * counter, memory barriers and the spin-wait hint.
 *
 * Included by skiff_rt.h (so Swift sees skiff_rdtsc through it); the build
 * puts Guest/arch/<arch> on the include path, which selects this file. All
 * of it runs natively at CPL3.
 */
#ifndef SKIFF_CPU_H
#define SKIFF_CPU_H

#include <stdint.h>

/* Read the time-stamp counter (native at CPL3). */
static inline uint64_t skiff_rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* x86 is TSO: shared-memory rings need only compiler barriers, plus a full
 * fence between publishing an index and reading the peer's flag. */
#define compiler_barrier() __asm__ __volatile__("" ::: "memory")
#define write_barrier() compiler_barrier()   /* store/store: TSO keeps the order */
#define read_barrier() compiler_barrier()    /* load/load, load/store: likewise */
#define full_barrier() __asm__ __volatile__("mfence" ::: "memory")
#define cpu_relax() __asm__ __volatile__("pause" ::: "memory")

#endif
