/*
 * a64_image.h: what the arm64 Image platforms entered with the MMU off
 * (QEMU virt, Xen) share: the stack and page-table sizes, the Image header
 * (a macro for the platform's head.S), and the C helpers of this directory
 * (early_fail.c, timer.c).
 *
 * Included by each platform's layout.h, which adds its own addresses (RAM
 * base, text_offset, link address; virt's info block, Xen's hypercall
 * immediate). skiff.ld cannot include it and repeats SKIFF_PT_FIXED_PAGES.
 */
#ifndef SKIFF_A64_IMAGE_H
#define SKIFF_A64_IMAGE_H

/* Stacks (NOBITS, inside the image; common/stacks.S, skiff.ld). */
#define SKIFF_TRAP_STACK_SIZE  0x4000     /* SP_EL1: exception handlers */
#define SKIFF_GUARD_SIZE       0x1000     /* unmapped: stack overflow faults */
#ifndef SKIFF_STACK_SIZE                  /* skiff build --stack-size passes -D */
#define SKIFF_STACK_SIZE       0x100000   /* SP_EL0: everything else */
#endif

/* Page-table pool for levels 1 and 2 (level 3 tables are sized by skiff.ld). */
#define SKIFF_PT_FIXED_PAGES   16

/* Exception classes the runtime cares about (ESR_EL1.EC). */
#define ESR_EC_UNKNOWN       0x00
#define ESR_EC_BRK64         0x3c

#ifdef __ASSEMBLER__
/*
 * The arm64 Image header (64 bytes, Linux Documentation/arch/arm64/
 * booting.rst): a branch to `entry`, the platform's `text_offset`, the image
 * size from skiff.ld, `flags` (bit 0 big-endian, bits 1-2 page size, bit 3
 * "anywhere in RAM") and the magic. No PE/COFF header.
 */
.macro SKIFF_A64_IMAGE_HEADER entry, text_offset, flags
        b       \entry                     /* code0 */
        .long   0                          /* code1 */
        .quad   \text_offset               /* text_offset */
        .quad   __skiff_image_size         /* image_size: includes BSS, stacks, tables */
        .quad   \flags                     /* flags */
        .quad   0, 0, 0                    /* res2-res4 */
        .ascii  "ARM\x64"                  /* magic */
        .long   0                          /* res5 (no PE/COFF header) */
.endm
#else
#include <stdint.h>

/* early_fail.c: "Skiff: ABORT: boot: WHY" on the console, status 255; for
 * skiff_platform_early (MMU off: the console must work without the MMU). */
_Noreturn void skiff_early_fail(const char *why);

/*
 * timer.c: the generic timer and the PL031. Monotonic time is CNTVCT_EL0 at
 * CNTFRQ_EL0 Hz (skiff_rdtsc, skiff_tsc_mult); wall time is the PL031 of
 * skiff_board (if any) read once and extended with it.
 */
extern uint64_t skiff_counter_freq;         /* CNTFRQ_EL0: ticks per second */
void skiff_clock_init(void);                /* panics if CNTFRQ_EL0 is 0 */
uint64_t skiff_ns_to_ticks(uint64_t ns);    /* saturating */
/* Waits (WFI, interrupts masked) until the counter reaches `deadline` ticks or
 * an enabled interrupt is pending; returns at once if the deadline is past;
 * yields once if there is no usable GIC or timer interrupt. */
void skiff_wait_until(uint64_t deadline_ticks);
#endif

#endif
