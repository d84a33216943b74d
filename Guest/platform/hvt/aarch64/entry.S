/*
 * entry.S: the first instructions of a Skiff hvt aarch64 unikernel, at
 * 0x100000 (e_entry). The tender enters at EL1h with its page tables and
 * the MMU and caches on, DAIF masked, FP/SIMD enabled, SP_EL1 = mem_size -
 * 16 and x0 = the boot info GPA (0x10000) (spec 7.3). Nothing here needs
 * the MMU off: set the vectors (arch/aarch64/vectors.S), TLS base 0, the
 * trap stack on SP_EL1 and the main stack on SP_EL0 (common/stacks.S, both
 * inside the image), then C: early.c switches to the runtime's own page
 * tables and continues in platform/hvt/start.c. BSS, the stacks and the
 * page-table pool need no zeroing: the tender zero-fills guest memory and
 * the tail of every loaded segment (spec 2.3).
 */
        .section .text.skiff.entry, "ax", %progbits
        .globl _start
        .type _start, %function
_start:
        mov     x19, x0                    /* boot info */
        mov     x1, #(3 << 20)             /* CPACR_EL1.FPEN = 0b11 (the tender's value too) */
        msr     cpacr_el1, x1
        msr     daifset, #0xf              /* no interrupts, ever: POLL waits */
        ldr     x1, =skiff_vectors
        msr     vbar_el1, x1
        msr     tpidr_el0, xzr             /* TLS base 0, as Solo5 (spec 12.2) */
        ldr     x1, =__skiff_trap_stack_top
        mov     sp, x1                     /* SPSel = 1: this is SP_EL1 */
        ldr     x1, =__skiff_stack_top
        msr     sp_el0, x1
        msr     spsel, #0
        isb
        mov     x29, xzr
        mov     x30, xzr
        mov     x0, x19
        bl      skiff_hvt_a64_start        /* never returns */
1:      wfe
        b       1b
        .size _start, . - _start

        .ltorg

        .section .note.GNU-stack, "", %progbits
