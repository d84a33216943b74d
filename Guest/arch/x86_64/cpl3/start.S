/*
 * start.S: Skiff x86_64 CPU layer for a runtime that runs at CPL3 (the hvt
 * platform): the CPL0 entry, the fault stubs and the supervisor-only system
 * tables (GDT, TSS with I/O bitmap, IDT). The stacks are common/stacks.S;
 * faults continue at CPL3 in ../trap_entry.S and ../trap.c. _start reads
 * the hvt boot info and the I/O bitmap opens the hvt ports
 * (platform/hvt/x86_64/hvt_transport.h). The PVH platform has its own
 * entry (platform/xen/x86_64/pvh.S), which shares ../reflect.h and
 * ../trap_entry.S with this one.
 *
 * Why it looks like this (platform-notes sections 1, 3, 8): on PVM hosts
 * every CPL0 instruction is emulated (~1-3 us each) and SSE fails at CPL0,
 * so CPL0 does the least possible: set the demand-map limit, EFER.NXE, load
 * CR3/GDT/IDT/TR, iretq to CPL3, where all other code runs natively.
 * Everything the CPU needs is assembled as constants at fixed addresses
 * (layout.h); `skiff build` writes the page tables after linking. Memory
 * above the image starts unmapped and is mapped in 2 MiB pages on first
 * touch by the #PF handler, so nothing depends on mem_size at start and
 * nothing at or above mem_size is ever mapped.
 *
 * Costs (docs/guest-x86_64.md): _start is 21 instructions; a first touch of
 * a 2 MiB region is one #PF round trip + 17 instructions; a fault that ends
 * the unikernel is 16 more instructions before CPL3 takes over.
 */
#include "layout.h"
#include "reflect.h"

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
        /* RDI (boot info) stays untouched: it is skiff_user_start's argument. */
        /* Demand-map limit: mem_size, plus the 2 MiB net ring above it when
         * offered (net_ring == mem_size), at most 4 GiB (PD size). */
        mov     0(%rdi), %rax
        cmpq    $0, 48(%rdi)
        je      1f
        add     $0x200000, %rax
1:      mov     $0x100000000, %rdx
        cmp     %rdx, %rax
        cmova   %rdx, %rax
        mov     %rax, SKIFF_MAP_LIMIT
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
        /* iretq to CPL3 through the frame assembled at the top of the kernel
         * stack (the tender's stack is not mapped any more). */
        mov     $SKIFF_KSTACK_TOP - 40, %esp
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
        .if \n == 14
        jmp     isr_page_fault
        .elseif (\n == 8) || (\n >= 10 && \n <= 13) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
        push    $\n
        .else
        push    $0
        push    $\n
        .endif
        jmp     isr_common
        .endr
        .balign SKIFF_ISR_STRIDE, 0xcc

/*
 * isr_page_fault: #PF. Memory above the image is mapped on first touch with
 * 2 MiB pages (user, RW, NX): if CR2 is below the map limit and its PDE is
 * still empty, install it and retry; anything else is a real fault. No TLB
 * flush is needed for a not-present -> present change. 17 instructions.
 */
isr_page_fault:
        push    %rax
        push    %rdx
        mov     %cr2, %rax
        cmp     SKIFF_MAP_LIMIT, %rax
        jae     1f
        mov     %rax, %rdx
        shr     $21, %rdx                  /* PD index, < 2048 */
        cmpq    $0, SKIFF_PD(,%rdx,8)
        jne     1f                         /* mapped: protection or 4 KiB fault */
        and     $-0x200000, %rax
        bts     $63, %rax                  /* NX */
        or      $0x87, %rax                /* P | RW | US | PS */
        mov     %rax, SKIFF_PD(,%rdx,8)
        pop     %rdx
        pop     %rax
        add     $8, %rsp                   /* drop the error code */
        iretq
1:      pop     %rdx
        pop     %rax
        push    $14
        jmp     isr_common

/*
 * isr_common: reflect the fault to CPL3 (../reflect.h): iretq "returns" to
 * skiff_trap_entry (../trap_entry.S) at CPL3 on the trap stack. Nothing is
 * preserved: every fault ends the unikernel. 16 instructions.
 */
isr_common:
        skiff_reflect_frame
        movq    $SKIFF_SEL_UCODE, 8(%rsp)
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

        .org    SKIFF_MAP_LIMIT - SKIFF_PML4
        .quad   0                         /* demand-map limit, set by _start */

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
         * so `outl` to 0x500-0x509 (hvt hypercalls 0-8 and Skiff's block
         * ring, 9) needs 0x500-0x50c clear, the benchmark port 0x510
         * (`skiff run --bench-port`) needs 0x510-0x513 and the ring kick
         * `outl` to 0x600 needs 0x600-0x603 clear. Everything else is denied
         * (#GP at CPL3). The monitor refuses 0x509 (unless it offers the block
         * ring) and 0x510 (unless benchmarking) itself. The 0xff byte
         * terminates the map inside the limit.
         */
        .fill   0xa0, 1, 0xff             /* ports 0x000-0x4ff */
        .byte   0x00                      /* 0x500-0x507 */
        .byte   0xe0                      /* 0x508-0x50c open, 0x50d-0x50f */
        .byte   0xf0                      /* 0x510-0x513 open, 0x514-0x517 */
        .fill   0xc0 - 0xa3, 1, 0xff      /* 0x518-0x5ff */
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
        .zero   SKIFF_KSTACK_TOP - SKIFF_KSTACK - 40  /* kernel stack: fault frames */
        /* The first iretq's frame: RIP, CS, RFLAGS (IF=0), RSP, SS. RSP is as if
         * `call` had pushed a return address. */
        .quad   skiff_user_start
        .quad   SKIFF_SEL_UCODE
        .quad   2
        .quad   __skiff_stack_top - 8
        .quad   SKIFF_SEL_UDATA

        .section .note.GNU-stack, "", @progbits
