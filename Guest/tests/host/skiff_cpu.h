/*
 * skiff_cpu.h (host stand-in): lets arch/aarch64/mmu.c build for the host
 * in Guest/tests/mmu_hvt_test.c. System registers are test variables.
 */
#ifndef SKIFF_CPU_H
#define SKIFF_CPU_H

#include <stdint.h>

extern uint64_t test_sysreg_id_aa64mmfr0_el1;
#define READ_SYSREG(r) test_sysreg_##r

static inline uint64_t skiff_rdtsc(void) { return 0; }

#define compiler_barrier() __asm__ __volatile__("" ::: "memory")

#endif
