/*
 * start.S: a minimal EL2 "tender" for hvt aarch64 guests under QEMU TCG
 * (`-M virt,virtualization=on`), for tests only: stage 2 maps guest
 * IPA 0-1 GiB to PA 0x40000000; the MMIO window (IPA 0x100000000) is not
 * mapped, so the guest's hypercall stores fault to EL2 exactly as they
 * exit to KVM. tender.c sets up the hvt entry state (spec 7) and serves
 * PUTS, WALLTIME, POLL, BLOCK_WRITE/READ (one RAM disk) and HALT.
 */
        .section .text.start, "ax", %progbits
        .globl _start
_start:
        ldr     x0, =stack_top
        mov     sp, x0
        ldr     x0, =el2_vectors
        msr     vbar_el2, x0
        isb
        bl      tender_main
1:      wfe
        b       1b

/* enter_guest(entry, x0, spsr): eret to EL1 */
        .globl enter_guest
enter_guest:
        msr     elr_el2, x0
        msr     spsr_el2, x2
        mov     x0, x1
        isb
        eret

        .macro  SAVE
        sub     sp, sp, #(34 * 8)
        stp     x0, x1, [sp, #0]
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
        str     x30, [sp, #240]
        .endm

        .balign 0x800
el2_vectors:
        .rept   8
        .balign 0x80
        b       unexpected
        .endr
        .balign 0x80                       /* 0x400: lower EL, AArch64, sync */
        SAVE
        mov     x0, sp
        bl      tender_trap
        ldp     x0, x1, [sp, #0]
        ldp     x2, x3, [sp, #16]
        ldp     x4, x5, [sp, #32]
        ldp     x6, x7, [sp, #48]
        ldp     x8, x9, [sp, #64]
        ldp     x10, x11, [sp, #80]
        ldp     x12, x13, [sp, #96]
        ldp     x14, x15, [sp, #112]
        ldp     x16, x17, [sp, #128]
        ldp     x18, x19, [sp, #144]
        ldp     x20, x21, [sp, #160]
        ldp     x22, x23, [sp, #176]
        ldp     x24, x25, [sp, #192]
        ldp     x26, x27, [sp, #208]
        ldp     x28, x29, [sp, #224]
        ldr     x30, [sp, #240]
        add     sp, sp, #(34 * 8)
        eret
        .rept   7
        .balign 0x80
        b       unexpected
        .endr
unexpected:
        bl      tender_unexpected
2:      wfe
        b       2b
        .ltorg

        .section .bss
        .balign 16
        .space  0x10000
stack_top:
