/*
 * vectors.S: the aarch64 exception vectors (VBAR_EL1), the same on every
 * platform: each entry saves a struct skiff_a64_frame (skiff_cpu.h) on
 * SP_EL1 and calls skiff_a64_trap (trap.c). The platform's entry code sets
 * VBAR_EL1 to skiff_vectors and gives SP_EL1 its own trap stack (virt:
 * mmu-off/entry.S; hvt: platform/hvt/aarch64/start.S).
 */

#define FRAME_SIZE     288          /* struct skiff_a64_frame (skiff_cpu.h) */

/* ---------------------------------------------------------------------- */
/* Exception vectors (VBAR_EL1). Every entry saves a struct skiff_a64_frame */
/* on SP_EL1 and calls skiff_a64_trap(frame, kind); kind = group * 4 +     */
/* {0 sync, 1 IRQ, 2 FIQ, 3 SError}, group 0 = from EL1 on SP_EL0 (normal  */
/* code), 1 = from EL1 on SP_EL1 (inside a handler), 2/3 = from EL0.       */
/* skiff_a64_trap returns only to resume (the platform's probe); then the  */
/* frame, possibly changed, is restored and we eret.                       */
/* ---------------------------------------------------------------------- */
        .macro  VENTRY kind
        .balign 0x80
        sub     sp, sp, #FRAME_SIZE
        stp     x0, x1, [sp, #0]
        mov     x1, #\kind
        b       trap_common
        .endm

        .section .text.skiff.vectors, "ax", %progbits
        .balign 0x800
        .globl skiff_vectors
skiff_vectors:
        VENTRY  0
        VENTRY  1
        VENTRY  2
        VENTRY  3
        VENTRY  4
        VENTRY  5
        VENTRY  6
        VENTRY  7
        VENTRY  8
        VENTRY  9
        VENTRY  10
        VENTRY  11
        VENTRY  12
        VENTRY  13
        VENTRY  14
        VENTRY  15

trap_common:
        stp     x2, x3, [sp, #16]
        stp     x4, x5, [sp, #32]
        stp     x6, x7, [sp, #48]
        stp     x8, x9, [sp, #64]
        stp     x10, x11, [sp, #80]
        stp     x12, x13, [sp, #96]
        stp     x14, x15, [sp, #112]
        stp     x16, x17, [sp, #128]
        stp     x18, x19, [sp, #144]
        stp     x20, x21, [sp, #160]
        stp     x22, x23, [sp, #176]
        stp     x24, x25, [sp, #192]
        stp     x26, x27, [sp, #208]
        stp     x28, x29, [sp, #224]
        mrs     x2, sp_el0
        stp     x30, x2, [sp, #240]
        mrs     x2, elr_el1
        mrs     x3, spsr_el1
        stp     x2, x3, [sp, #256]
        mrs     x2, esr_el1
        mrs     x3, far_el1
        stp     x2, x3, [sp, #272]
        mov     x0, sp
        bl      skiff_a64_trap
        ldp     x2, x3, [sp, #256]
        msr     elr_el1, x2
        msr     spsr_el1, x3
        ldp     x30, x2, [sp, #240]
        msr     sp_el0, x2
        ldp     x28, x29, [sp, #224]
        ldp     x26, x27, [sp, #208]
        ldp     x24, x25, [sp, #192]
        ldp     x22, x23, [sp, #176]
        ldp     x20, x21, [sp, #160]
        ldp     x18, x19, [sp, #144]
        ldp     x16, x17, [sp, #128]
        ldp     x14, x15, [sp, #112]
        ldp     x12, x13, [sp, #96]
        ldp     x10, x11, [sp, #80]
        ldp     x8, x9, [sp, #64]
        ldp     x6, x7, [sp, #48]
        ldp     x4, x5, [sp, #32]
        ldp     x2, x3, [sp, #16]
        ldp     x0, x1, [sp, #0]
        add     sp, sp, #FRAME_SIZE
        eret

        .section .note.GNU-stack, "", %progbits
