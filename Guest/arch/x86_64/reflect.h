/*
 * reflect.h: the assembler macro that turns a CPU exception frame into an
 * iretq to skiff_trap_entry (trap_entry.S), shared by the x86_64 entries
 * (cpl3/start.S for hvt, platform/xen/x86_64/pvh.S for PVH).
 *
 * skiff_reflect_frame: at an ISR whose stack holds the vector, the error
 * code, then the CPU's frame RIP, CS, RFLAGS, RSP, SS. Pops the vector into
 * rdi and the error code into rsi, loads CR2 into rcx and the frame into
 * rdx (RIP), r9 (CS), r10 (RFLAGS), r8 (RSP), r11 (SS), and rewrites RIP,
 * RFLAGS (2: IF and TF clear) and RSP (the trap stack's top) so that iretq
 * enters skiff_trap_entry. The caller writes the CS (8(%rsp)) and SS
 * (32(%rsp)) of the privilege level the runtime runs at, then iretq. rax,
 * rbx, rbp and r12-r15 are left as they were at the fault (trap_entry.S
 * saves them for core dumps). 13 instructions.
 */
#ifndef SKIFF_X86_64_REFLECT_H
#define SKIFF_X86_64_REFLECT_H

        .macro skiff_reflect_frame
        pop     %rdi                       /* vector */
        pop     %rsi                       /* error code */
        mov     %cr2, %rcx                 /* fault address */
        mov     0(%rsp), %rdx              /* RIP */
        mov     8(%rsp), %r9               /* CS */
        mov     16(%rsp), %r10             /* RFLAGS */
        mov     24(%rsp), %r8              /* RSP */
        mov     32(%rsp), %r11             /* SS */
        movq    $skiff_trap_entry, 0(%rsp)
        movq    $2, 16(%rsp)
        movq    $__skiff_trap_stack_top, 24(%rsp)
        .endm

#endif
