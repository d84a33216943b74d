/* exitfloor-aarch64.S: the aarch64 twin of exitfloor.S (EL1 guest, hvt on arm64 KVM): N (the command line,
 * decimal, at least 1) 32-bit stores to the bench address 0x100000080 (`--bench-port=0x510`: an MMIO exit the
 * tender ignores), then N WALLTIME hypercalls, then N PUTS of zero bytes; each phase timed with CNTVCT_EL0.
 * Results: three little-endian u64 counter deltas and cpu_cycle_freq through one PUTS, then HALT 0. */
#define MFT_COUNT 1
#define MFT_DEVICES
#include "../Tests/AsmGuests/notes.inc"

#define HC(nr) (0x100000000 + (nr) * 8)
#define BENCH 0x100000080
.macro window reg, addr
    mov \reg, #(\addr) & 0xffffffff
    movk \reg, #1, lsl #32
.endm
/* timed_stores ADDR, ARG, SLOT: N (x22) 32-bit stores of ARG's address to ADDR; the counter delta to results+SLOT. */
.macro timed_stores addr, arg, slot
    mov x21, x22
    adrp x1, \arg
    add x1, x1, :lo12:\arg
    window x10, \addr
    isb
    mrs x23, cntvct_el0
3:  str w1, [x10]
    subs x21, x21, #1
    b.ne 3b
    isb
    mrs x24, cntvct_el0
    sub x24, x24, x23
    adrp x9, results
    add x9, x9, :lo12:results
    str x24, [x9, #\slot]
.endm

    .text
    .globl _start
_start:
    ldr x25, [x0, #16]              /* cpu_cycle_freq */
    ldr x20, [x0, #24]              /* command line */
    mov x22, #0                     /* N */
    mov x11, #10
1:  ldrb w2, [x20], #1
    sub w2, w2, #'0'
    cmp w2, #9
    b.hi 2f
    madd x22, x22, x11, x2
    b 1b
2:  cmp x22, #0
    csinc x22, x22, xzr, ne         /* N = max(N, 1) */
    timed_stores BENCH, zero, 0
    timed_stores HC(1), wall_arg, 8
    adrp x9, zero                   /* PUTS of 0 bytes: the monitor checks and writes nothing */
    add x9, x9, :lo12:zero
    adrp x10, puts_arg
    add x10, x10, :lo12:puts_arg
    stp x9, xzr, [x10]
    timed_stores HC(2), puts_arg, 16
    adrp x9, results
    add x9, x9, :lo12:results
    str x25, [x9, #24]
    adrp x10, puts_arg
    add x10, x10, :lo12:puts_arg
    mov x11, #32
    stp x9, x11, [x10]
    window x12, HC(2)
    str w10, [x12]
    adrp x10, halt_arg
    add x10, x10, :lo12:halt_arg
    stp xzr, xzr, [x10]
    window x12, HC(8)
    str w10, [x12]
6:  wfi
    b 6b

    .section .rodata
zero: .byte 0
    .data
    .p2align 4
puts_arg: .quad 0, 0
wall_arg: .quad 0
halt_arg: .quad 0, 0
results: .quad 0, 0, 0, 0
