/* exitfloor.S: CPL0 benchmark guest: N (from the command line, decimal) OUTs to the bench port 0x510,
 * then N WALLTIME hypercalls, then N PUTS of zero bytes; each phase timed with rdtsc; results are
 * written as three little-endian u64 TSC deltas and cpu_cycle_freq through one PUTS, then HALT 0. */
#define MFT_COUNT 1
#define MFT_DEVICES
#include "../Tests/AsmGuests/notes.inc"
/* timed_outs PORT, ARG, SLOT: N (%r12) 4-byte OUTs of ARG's address to PORT; the TSC delta to results+SLOT. */
.macro timed_outs port, arg, slot
    mov %r12, %rcx
    rdtsc
    shl $32, %rdx
    or %rax, %rdx
    mov %rdx, %r13
    lea \arg(%rip), %eax
    mov $\port, %dx
3:  outl %eax, (%dx)
    dec %rcx
    jnz 3b
    rdtsc
    shl $32, %rdx
    or %rax, %rdx
    sub %r13, %rdx
    mov %rdx, results+\slot(%rip)
.endm
    .text
    .globl _start
_start:
    mov 16(%rdi), %r14          /* cpu_cycle_freq */
    mov %r14, results+24(%rip)
    mov 24(%rdi), %rsi          /* cmdline */
    xor %r12, %r12              /* N */
1:  movzbl (%rsi), %eax
    sub $'0', %eax
    cmp $9, %eax
    ja 2f
    imul $10, %r12, %r12
    add %rax, %r12
    inc %rsi
    jmp 1b
2:  timed_outs 0x510, zero, 0       /* phase 1: bare exits */
    timed_outs 0x501, wall_arg, 8    /* phase 2: WALLTIME */
    /* phase 3: PUTS of 0 bytes (the monitor checks and writes nothing) */
    lea zero(%rip), %rax
    mov %rax, puts_arg(%rip)
    movq $0, puts_arg+8(%rip)
    timed_outs 0x502, puts_arg, 16
    /* report */
    lea results(%rip), %rax
    mov %rax, puts_arg(%rip)
    movq $32, puts_arg+8(%rip)
    lea puts_arg(%rip), %eax
    mov $0x502, %dx
    outl %eax, (%dx)
    movl $0, halt_arg+8(%rip)
    lea halt_arg(%rip), %eax
    mov $0x508, %dx
    outl %eax, (%dx)
6:  jmp 6b
    .section .rodata
zero: .byte 0
    .data
    .p2align 4
puts_arg: .quad 0, 0
wall_arg: .quad 0
halt_arg: .quad 0, 0
results: .quad 0, 0, 0, 0
