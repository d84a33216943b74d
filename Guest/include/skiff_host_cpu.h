/*
 * skiff_host_cpu.h: skiff_cpu.h for a hosted build of the Skiff module
 * (`swift build` with no Swift SDK, Guest/host/skiff_host.c): the "counter"
 * is CLOCK_MONOTONIC in nanoseconds, so skiff_tsc_mult is 1 << 32.
 */
#ifndef SKIFF_HOST_CPU_H
#define SKIFF_HOST_CPU_H

#include <stdint.h>
#include <time.h>

static inline uint64_t skiff_rdtsc(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define compiler_barrier() __asm__ __volatile__("" ::: "memory")
#define write_barrier() __atomic_thread_fence(__ATOMIC_RELEASE)
#define read_barrier() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define full_barrier() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define cpu_relax() compiler_barrier()

#endif
