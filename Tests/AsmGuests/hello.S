/* hello.S: CPL0 guest in the Solo5 style: PUTS a line containing the command line, then HALT 0. */
#define MFT_COUNT 1
#define MFT_DEVICES
#include "notes.inc"
    .text
    .globl _start
_start:
    /* rdi = boot info; cmdline GPA at +24 */
    lea msg(%rip), %rax
    mov %rax, puts_arg(%rip)
    movq $(msg_end - msg), puts_arg+8(%rip)
    lea puts_arg(%rip), %eax
    mov $0x502, %dx
    outl %eax, (%dx)
    /* print the command line: strlen */
    mov 24(%rdi), %rsi
    mov %rsi, %rcx
1:  cmpb $0, (%rcx)
    je 2f
    inc %rcx
    jmp 1b
2:  sub %rsi, %rcx
    mov %rsi, puts_arg(%rip)
    mov %rcx, puts_arg+8(%rip)
    lea puts_arg(%rip), %eax
    outl %eax, (%dx)
    lea nl(%rip), %rax
    mov %rax, puts_arg(%rip)
    movq $1, puts_arg+8(%rip)
    lea puts_arg(%rip), %eax
    outl %eax, (%dx)
    movl $0, halt_arg+8(%rip)
    lea halt_arg(%rip), %eax
    mov $0x508, %dx
    outl %eax, (%dx)
    hlt
    .section .rodata
msg: .ascii "hello from asm: "
msg_end:
nl: .ascii "\n"
#include "hvt_args.inc"
