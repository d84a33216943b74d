/*
 * trap_entry.S: skiff_trap_entry, where every x86_64 CPU exception arrives
 * in the runtime's own privilege level (CPL3 on hvt and on a plain PVH
 * loader, CPL0 under Xen) after the entry's ISR reflected it (reflect.h).
 */
        .text
        .globl skiff_trap_entry
        .type skiff_trap_entry, @function
/*
 * skiff_trap_entry: first instruction after a fault. RSP = trap stack
 * top; rdi = vector, rsi = error code, rcx = CR2, rdx = RIP, r9 = CS,
 * r10 = RFLAGS, r8 = RSP, r11 = SS. Builds Solo5's trap-frame cookie
 * {cr2, ec, rip, cs, rflags, rsp, ss} and calls skiff_trap(vector, frame).
 * Above the seven words (at cookie + 56) it saves what the ISR left
 * intact: the magic "SKIFFTF1", then rax, rbx, rbp, r12-r15 at the fault,
 * so that a core dump (docs/debugging.md) has the faulting function's frame
 * pointer and callee-saved registers, not the trap handler's.
 */
skiff_trap_entry:
        push    %r15
        push    %r14
        push    %r13
        push    %r12
        push    %rbp
        push    %rbx
        push    %rax
        movabs  $0x3146544646494b53, %rax   /* "SKIFFTF1" little-endian */
        push    %rax
        push    %r11
        push    %r8
        push    %r10
        push    %r9
        push    %rdx
        push    %rsi
        push    %rcx
        mov     %rsp, %rsi
        sub     $8, %rsp
        call    skiff_trap
        ud2
        .size skiff_trap_entry, . - skiff_trap_entry

        .section .note.GNU-stack, "", @progbits
