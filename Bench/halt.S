/* halt.S: the smallest hvt guest: WALLTIME (the time of its first instruction), PUTS those 8 bytes, HALT 0. */
#define MFT_COUNT 1
#define MFT_DEVICES
#include "../Tests/AsmGuests/notes.inc"
    .text
    .globl _start
_start:
    lea wall_arg(%rip), %eax
    mov $0x501, %dx
    outl %eax, (%dx)
    lea wall_arg(%rip), %eax
    mov %rax, puts_arg(%rip)
    lea puts_arg(%rip), %eax
    mov $0x502, %dx
    outl %eax, (%dx)
    lea halt_arg(%rip), %eax
    mov $0x508, %dx
    outl %eax, (%dx)
1:  jmp 1b
    .data
    .p2align 4
wall_arg: .quad 0
puts_arg: .quad 0, 8
halt_arg: .quad 0, 0
