/*
 * start.S: Skiff x86_64 platform layer: the CPL0 entry, the fault stubs and
 * the supervisor-only system tables (GDT, TSS with I/O bitmap, IDT).
 *
 * Why it looks like this (platform-notes sections 1, 3, 8): on PVM hosts
 * every CPL0 instruction is emulated (~1 us each) and SSE fails at CPL0, so
 * CPL0 does the least possible: trim the prebuilt page tables to mem_size,
 * set EFER.NXE, load CR3/GDT/IDT/TR, then iretq to CPL3 where all other code
 * runs natively. Everything the CPU needs is assembled as constants at fixed
 * addresses (layout.h); `skiff build` writes the page tables after linking.
 *
 * Run-time CPL0 cost: 30 instructions + one `rep stosq` whose count is
 * (-k) & 511 PD entries plus (4 - ceil(k/512)) PDPT entries, k = first
 * 2 MiB region above guest memory. See docs/guest-x86_64.md for numbers.
 */
#include "layout.h"

/* ---------------------------------------------------------------------- */
/* CPL0 text: supervisor-only page at 0x100000.                            */
/* ---------------------------------------------------------------------- */
        .section .skiff.ktext, "ax", @progbits
        .code64
        .globl _start
        .type _start, @function
/*
 * _start(boot_info): entered like a Solo5 hvt guest: CPL0, long mode, the
 * tender's page tables, RDI = boot info GPA, RSP = mem_size - 8.
 */
_start:
        mov     %rdi, %rbx                 /* keep boot info for CPL3 */
        mov     0(%rdi), %rax              /* mem_size */
        mov     48(%rdi), %rdx             /* net_ring GPA or 0 */
        shr     $21, %rax                  /* k: first 2 MiB region at/above mem_size */
        cmp     $1, %rdx                   /* CF = (net_ring == 0) */
        sbb     $-1, %rax                  /* k += (net_ring != 0): map the ring too */
        mov     %rax, %rdx
        /* Clear PDEs [k, roundup(k, 512)): the rest of k's 1 GiB PD. */
        mov     %eax, %ecx
        neg     %ecx
        and     $511, %ecx
        lea     SKIFF_PD(,%rax,8), %rdi
        xor     %eax, %eax
        rep stosq
        /* Clear PDPTEs [ceil(k/512), 4): whole GiBs above memory. */
        lea     511(%rdx), %rcx
        shr     $9, %rcx
        lea     SKIFF_PDPT(,%rcx,8), %rdi
        neg     %rcx
        add     $4, %rcx
        rep stosq
        /* EFER.NXE before CR3: our tables use the XD bit. */
        mov     $0xc0000080, %ecx
        rdmsr
        bts     $11, %eax
        wrmsr
        mov     $SKIFF_PML4, %eax
        mov     %rax, %cr3
        lgdt    SKIFF_GDTR
        lidt    SKIFF_IDTR
        mov     $SKIFF_SEL_TSS, %eax
        ltr     %ax
        /* iretq to CPL3: SS, RSP, RFLAGS (IF=0), CS, RIP. */
        push    $SKIFF_SEL_UDATA
        push    $__skiff_stack_top - 8     /* as if `call` had pushed a return address */
        push    $2
        push    $SKIFF_SEL_UCODE
        push    $skiff_user_start
        mov     %rbx, %rdi
        iretq
        .size _start, . - _start

/*
 * ISR stubs, vectors 0-31, at SKIFF_ISR_TABLE (the IDT below hard-codes the
 * addresses; skiff.ld asserts them). Vectors with a CPU error code: 8, 10-14,
 * 17, 21, 29, 30; the others push a 0 in its place.
 */
        .org    SKIFF_ISR_TABLE - SKIFF_KTEXT, 0xcc
        .globl skiff_isr_table
skiff_isr_table:
        .irp    n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .balign SKIFF_ISR_STRIDE, 0xcc
        .if (\n == 8) || (\n >= 10 && \n <= 14) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
        push    $\n
        .else
        push    $0
        push    $\n
        .endif
        jmp     isr_common
        .endr
        .balign SKIFF_ISR_STRIDE, 0xcc

/*
 * isr_common: reflect the fault to CPL3. Stack: vector, error code, then the
 * CPU's frame RIP, CS, RFLAGS, RSP, SS. Load the facts into registers and
 * rewrite the frame so that iretq "returns" to skiff_trap_entry at CPL3 on
 * the trap stack with RFLAGS = 2 (TF cleared). Nothing is preserved: every
 * fault ends the unikernel. 16 instructions.
 */
isr_common:
        pop     %rdi                       /* vector */
        pop     %rsi                       /* error code */
        mov     %cr2, %rcx                 /* fault address */
        mov     0(%rsp), %rdx              /* RIP */
        mov     8(%rsp), %r9               /* CS */
        mov     16(%rsp), %r10             /* RFLAGS */
        mov     24(%rsp), %r8              /* RSP */
        mov     32(%rsp), %r11             /* SS */
        movq    $skiff_trap_entry, 0(%rsp)
        movq    $SKIFF_SEL_UCODE, 8(%rsp)
        movq    $2, 16(%rsp)
        movq    $__skiff_trap_stack_top, 24(%rsp)
        movq    $SKIFF_SEL_UDATA, 32(%rsp)
        iretq

/* ---------------------------------------------------------------------- */
/* Supervisor R+W area, 0x101000-0x108fff.                                 */
/* ---------------------------------------------------------------------- */
        .section .skiff.kdata, "aw", @progbits
        .globl skiff_pml4
skiff_pml4:                               /* 0x101000: PML4, PDPT, 4 PDs: */
        .zero   0x6000                    /* written by `skiff build` */

        .globl skiff_gdt
skiff_gdt:                                /* 0x107000 */
        .quad   0                         /* 0x00 null */
        .quad   0                         /* 0x08 unused */
        .quad   0x00af9b000000ffff        /* 0x10 kernel code64, DPL0 */
        .quad   0x00cf93000000ffff        /* 0x18 kernel data, DPL0 */
        .quad   0                         /* 0x20 unused (Linux: user code32) */
        .quad   0x00cff3000000ffff        /* 0x28 user data, DPL3 (SS = 0x2b) */
        .quad   0x00affb000000ffff        /* 0x30 user code64, DPL3 (CS = 0x33) */
        .quad   0                         /* 0x38 unused */
        /* 0x40: 64-bit TSS descriptor, available (type 9), base SKIFF_TSS. */
        .quad   (SKIFF_TSS_LIMIT & 0xffff) | ((SKIFF_TSS & 0xffffff) << 16) | (0x89 << 40) | (((SKIFF_TSS >> 24) & 0xff) << 56)
        .quad   0
        .org    SKIFF_GDTR - SKIFF_PML4
        .word   SKIFF_GDT_ENTRIES * 8 - 1
        .quad   SKIFF_GDT
        .org    SKIFF_IDTR - SKIFF_PML4
        .word   32 * 16 - 1
        .quad   SKIFF_IDT

        .org    SKIFF_TSS - SKIFF_PML4
skiff_tss:
        .long   0
        .quad   SKIFF_KSTACK_TOP          /* RSP0: every CPL3 fault lands here */
        .quad   0, 0                      /* RSP1, RSP2 */
        .quad   0                         /* reserved */
        .quad   0, 0, 0, 0, 0, 0, 0       /* IST1-7: unused */
        .quad   0                         /* reserved */
        .word   0                         /* reserved */
        .word   SKIFF_TSS_IOMAP_OFF       /* I/O map base */
        /*
         * I/O permission bitmap: a 32-bit OUT to port p checks bits p..p+3,
         * so `outl` to 0x500-0x508 needs 0x500-0x50b clear and the ring kick
         * `outl` to 0x600 needs 0x600-0x603 clear. Everything else is denied
         * (#GP at CPL3). The 0xff byte terminates the map inside the limit.
         */
        .fill   0xa0, 1, 0xff             /* ports 0x000-0x4ff */
        .byte   0x00                      /* 0x500-0x507 */
        .byte   0xf0                      /* 0x508-0x50b open, 0x50c-0x50f */
        .fill   0xc0 - 0xa2, 1, 0xff      /* 0x510-0x5ff */
        .byte   0xf0                      /* 0x600-0x603 open, 0x604-0x607 */
        .byte   0xff                      /* terminator */

        /* IDT: 32 interrupt gates to the stubs; #BP (3) is DPL3 for int3. */
        .org    SKIFF_IDT - SKIFF_PML4
        .irp    n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .if \n == 3
        gate_attr = 0xee                  /* present, DPL3, interrupt gate */
        .else
        gate_attr = 0x8e                  /* present, DPL0, interrupt gate */
        .endif
        .quad   ((SKIFF_ISR_TABLE + \n * SKIFF_ISR_STRIDE) & 0xffff) | (SKIFF_SEL_KCODE << 16) | (gate_attr << 40) | (((SKIFF_ISR_TABLE + \n * SKIFF_ISR_STRIDE) >> 16) << 48)
        .quad   0
        .endr

        .org    SKIFF_KSTACK - SKIFF_PML4
        .zero   SKIFF_KSTACK_TOP - SKIFF_KSTACK   /* kernel stack: fault frames */

/* ---------------------------------------------------------------------- */
/* CPL3 text.                                                               */
/* ---------------------------------------------------------------------- */
        .text
        .globl skiff_trap_entry
        .type skiff_trap_entry, @function
/*
 * skiff_trap_entry: first CPL3 instruction after a fault. RSP = trap stack
 * top; rdi = vector, rsi = error code, rcx = CR2, rdx = RIP, r9 = CS,
 * r10 = RFLAGS, r8 = RSP, r11 = SS. Builds Solo5's trap-frame cookie
 * {cr2, ec, rip, cs, rflags, rsp, ss} and calls skiff_trap(vector, frame).
 */
skiff_trap_entry:
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

/* Keep the host from running a .hvt file (Solo5 does the same). */
        .section .interp, "a", @progbits
        .asciz  "/nonexistent/skiff/"

/* ---------------------------------------------------------------------- */
/* Stacks: NOBITS, in their own PT_LOAD with p_filesz = 0 (zero-filled     */
/* guest memory, nothing for the tender to copy or clear).                 */
/* ---------------------------------------------------------------------- */
        .section .skiff.stack, "aw", @nobits
        .balign 4096
        .globl __skiff_trap_stack_top
        .skip   SKIFF_TRAP_STACK_SIZE
__skiff_trap_stack_top:
        .globl __skiff_guard
__skiff_guard:                            /* not present: stack overflow #PF */
        .skip   SKIFF_GUARD_SIZE
        .globl __skiff_stack_bottom
__skiff_stack_bottom:
        .skip   SKIFF_STACK_SIZE
        .globl __skiff_stack_top
__skiff_stack_top:

        .section .note.GNU-stack, "", @progbits
