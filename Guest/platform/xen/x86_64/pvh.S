/*
 * pvh.S: the x86_64 PVH entry: the XEN_ELFNOTE_PHYS32_ENTRY note, the
 * 32-bit entry that switches to long mode on its own page tables, the
 * system tables (GDT, TSS with I/O bitmap, IDT), the choice of privilege
 * level, the hypercall page, the exception and interrupt stubs and the CPL3
 * runtime's privileged operations.
 *
 * Entry state (the PVH boot ABI, Xen docs/misc/pvh.pandoc; QEMU's and
 * skiff-hvt's PVH loaders give the same): 32-bit protected mode, paging
 * off, flat CS/DS/ES/SS, interrupts off, %ebx = the physical address of
 * struct hvm_start_info; no stack. We zero .bss, identity-map 0-4 GiB with
 * 2 MiB user pages (PAE tables in the supervisor area), enable PAE, SSE
 * (CR4.OSFXSR | OSXMMEXCPT), long mode with NX (EFER.LME | NXE), paging
 * with CR0.WP, and far-jump to 64-bit code, which loads the GDT's TSS
 * descriptor, the IDT and TR, and looks for Xen by CPUID:
 *
 *   - under Xen, the runtime stays at CPL0 (its hypercalls need it) and
 *     skiff_pvh_start (start.c) is called here;
 *   - without Xen (QEMU -kernel, skiff-hvt), it iretqs to CPL3 and calls
 *     skiff_pvh_start there, as hvt's runtime runs (arch/x86_64/cpl3):
 *     on a PVM host every CPL0 instruction is emulated and SSE fails at
 *     CPL0 (platform-notes 1, 8). The ports it uses are open in the TSS's
 *     I/O bitmap; what needs CPL0 (hlt, CR3, the vCPU's CPUID, an MSR, the
 *     final reset) is an `int3` with an operation in %eax (skiff_isr_op).
 *
 * All of this CPL0 code is assembly without SSE. start.c then replaces the
 * mapping with the final one (paging.c: page 0 and the guard page unmapped,
 * W^X in the image, the system area supervisor-only, nothing beyond the RAM
 * the heap uses).
 *
 * Faults run at CPL0 on IST1, the trap stack, whatever the stack pointer
 * was (a stack overflow still reaches the handler), and are reflected to
 * the runtime's own privilege level (arch/x86_64/reflect.h), where
 * arch/x86_64/trap.c prints the abort line hvt guests print.
 */
#include "layout.h"
#include "reflect.h"

/* ---------------------------------------------------------------------- */
/* The PVH note. Its PT_NOTE must be 4-byte aligned: QEMU's loader pads    */
/* the name to p_align, so an 8-aligned note puts the entry elsewhere and  */
/* QEMU silently boots nothing (platform-notes 9.3). The descriptor is 8   */
/* bytes: QEMU reads a 64-bit value, Xen accepts 4 or 8.                   */
/* ---------------------------------------------------------------------- */
        .section .note.Xen, "a", @note
        .balign 4
        .long   4                          /* n_namesz: "Xen\0" */
        .long   8                          /* n_descsz */
        .long   18                         /* XEN_ELFNOTE_PHYS32_ENTRY */
        .asciz  "Xen"
        .balign 4
        .quad   skiff_pvh_entry32

/* ---------------------------------------------------------------------- */
/* 32-bit entry.                                                           */
/* ---------------------------------------------------------------------- */
        .section .text.skiff.entry, "ax", @progbits
        .code32
        .globl skiff_pvh_entry32
        .type skiff_pvh_entry32, @function
skiff_pvh_entry32:
        cld
        mov     %ebx, %esi                 /* start_info, kept in %esi */
        /* Zero .bss (it holds the page tables built next). */
        mov     $__skiff_bss_start, %edi
        mov     $__skiff_bss_end, %ecx
        sub     %edi, %ecx
        shr     $2, %ecx
        xor     %eax, %eax
        rep stosl
        mov     %esi, skiff_pvh_start_info
        /* PML4[0] -> PDPT; PDPT[0..3] -> PD0..PD3; PD: 2048 x 2 MiB,
         * P|RW|US|PS (user: CPL3 runs on this map until paging.c's). */
        movl    $(skiff_pdpt + 7), skiff_pml4
        movl    $(skiff_pd + 0x0007), skiff_pdpt
        movl    $(skiff_pd + 0x1007), skiff_pdpt + 8
        movl    $(skiff_pd + 0x2007), skiff_pdpt + 16
        movl    $(skiff_pd + 0x3007), skiff_pdpt + 24
        xor     %ecx, %ecx
1:      mov     %ecx, %eax
        shl     $21, %eax
        or      $0x87, %eax
        mov     %eax, skiff_pd(,%ecx,8)
        mov     %ecx, %edx
        shr     $11, %edx                  /* bits 32+ of ecx << 21 */
        mov     %edx, skiff_pd + 4(,%ecx,8)
        inc     %ecx
        cmp     $2048, %ecx
        jb      1b
        /* CR4: PAE | OSFXSR | OSXMMEXCPT. */
        mov     %cr4, %eax
        or      $0x620, %eax
        mov     %eax, %cr4
        mov     $skiff_pml4, %eax
        mov     %eax, %cr3
        /* EFER: LME | NXE. */
        mov     $0xc0000080, %ecx
        rdmsr
        or      $0x900, %eax
        wrmsr
        /* CR0: PG | WP | MP | PE; EM and TS clear (x87/SSE usable). */
        mov     %cr0, %eax
        and     $~0xc, %eax
        or      $0x80010003, %eax
        mov     %eax, %cr0
        lgdt    skiff_gdtr
        ljmp    $SKIFF_SEL_KCODE, $skiff_pvh_entry64
        .size skiff_pvh_entry32, . - skiff_pvh_entry32

        .code64
skiff_pvh_entry64:
        mov     $SKIFF_SEL_KDATA, %eax
        mov     %eax, %ds
        mov     %eax, %es
        mov     %eax, %ss
        xor     %eax, %eax
        mov     %eax, %fs
        mov     %eax, %gs
        mov     $__skiff_stack_top, %rsp
        xor     %ebp, %ebp
        call    cpu_init
        call    find_xen
        mov     %eax, skiff_pvh_xen_base
        test    %eax, %eax
        jz      1f
        /* Xen: the runtime stays at CPL0. */
        fninit
        mov     skiff_pvh_start_info, %edi
        call    skiff_pvh_start
        ud2
        /* No Xen: CPL3 from here on (IF clear), on the main stack. */
1:      movb    $1, skiff_pvh_cpl3
        push    $SKIFF_SEL_UDATA
        push    $__skiff_stack_top
        push    $2
        push    $SKIFF_SEL_UCODE
        push    $skiff_pvh_user_start
        iretq

/*
 * cpu_init: the TSS descriptor (its base does not fit an assembler
 * constant), the IDT's gates, then GDTR (again: the 32-bit lgdt loaded only
 * the low 4 bytes of the base), IDTR and TR. Exceptions 0-31 on IST1 but
 * #BP, which is DPL3 (CPL3's int3 operations, skiff_isr_op) on RSP0; the
 * interrupt vectors on the current stack (they arrive only inside
 * `sti; hlt`, at CPL0). ~700 instructions.
 */
cpu_init:
        mov     $skiff_tss, %eax           /* below 4 GiB: the high quad stays 0 */
        mov     %eax, %edx
        and     $0xffffff, %edx
        shl     $16, %rdx
        or      $SKIFF_TSS_LIMIT, %rdx
        shr     $24, %eax
        shl     $56, %rax
        or      %rax, %rdx
        movabs  $(0x89 << 40), %rax        /* present, DPL0, 64-bit TSS (available) */
        or      %rax, %rdx
        mov     %rdx, skiff_gdt + SKIFF_SEL_TSS
        xor     %ecx, %ecx
1:      mov     %ecx, %eax
        shl     $4, %eax
        add     $skiff_isr_table, %eax
        mov     $0x8e01, %edx              /* interrupt gate, DPL0, IST1 */
        call    set_gate
        inc     %ecx
        cmp     $32, %ecx
        jb      1b
        mov     $3, %ecx
        mov     $skiff_isr_op, %eax
        mov     $0xee00, %edx              /* interrupt gate, DPL3, no IST */
        call    set_gate
        mov     $SKIFF_VEC_TIMER, %ecx
        mov     $skiff_isr_timer, %eax
        mov     $0x8e00, %edx
        call    set_gate
        mov     $SKIFF_VEC_XEN_UPCALL, %ecx
        mov     $skiff_isr_xen_upcall, %eax
        mov     $0x8e00, %edx
        call    set_gate
        mov     $SKIFF_VEC_SPURIOUS, %ecx
        mov     $skiff_isr_spurious, %eax
        mov     $0x8e00, %edx
        call    set_gate
        lgdt    skiff_gdtr
        lidt    skiff_idtr
        mov     $SKIFF_SEL_TSS, %eax
        ltr     %ax
        ret

/* set_gate: IDT entry %ecx -> handler %eax (below 4 GiB), %edx = type/DPL
 * byte << 8 | IST. The high quads stay 0 (.bss). */
set_gate:
        mov     %eax, %r8d
        and     $0xffff, %r8d
        shr     $16, %eax
        shl     $48, %rax
        or      %rax, %r8
        shl     $32, %rdx
        or      %rdx, %r8
        or      $(SKIFF_SEL_KCODE << 16), %r8
        mov     %ecx, %eax
        shl     $4, %eax
        mov     %r8, skiff_idt(%rax)
        ret

/*
 * find_xen: %eax = Xen's CPUID base leaf, or 0. Needs the hypervisor bit
 * (CPUID.1:ECX[31]), then "XenVMMXenVMM" in ebx, ecx, edx of a leaf
 * 0x40000000 + 0x100 * i, i < 256, that has at least leaves base..base+2.
 * Asked at CPL0: on PVM, CPL3's CPUID is the host's, not the vCPU's.
 */
find_xen:
        push    %rbx
        mov     $1, %eax
        xor     %ecx, %ecx
        cpuid
        bt      $31, %ecx
        jnc     3f
        mov     $SKIFF_XEN_CPUID_FIRST, %r8d
1:      mov     %r8d, %eax
        xor     %ecx, %ecx
        cpuid
        cmp     $0x566e6558, %ebx
        jne     2f
        cmp     $0x65584d4d, %ecx
        jne     2f
        cmp     $0x4d4d566e, %edx
        jne     2f
        sub     %r8d, %eax
        cmp     $2, %eax
        jb      2f
        mov     %r8d, %eax
        pop     %rbx
        ret
2:      add     $0x100, %r8d
        cmp     $SKIFF_XEN_CPUID_LAST, %r8d
        jbe     1b
3:      xor     %eax, %eax
        pop     %rbx
        ret

/* ---------------------------------------------------------------------- */
/* Exception and interrupt stubs. 16 bytes per vector 0-31; vectors with a */
/* CPU error code: 8, 10-14, 17, 21, 29, 30.                               */
/* ---------------------------------------------------------------------- */
        .balign 16
        .globl skiff_isr_table
skiff_isr_table:
        .irp    n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .balign 16, 0xcc
        .if (\n == 8) || (\n >= 10 && \n <= 14) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
        push    $\n
        .else
        push    $0
        push    $\n
        .endif
        jmp     isr_common
        .endr

/*
 * isr_common: reflect the fault (../../arch/x86_64/reflect.h) to
 * skiff_trap_entry on the trap stack, at the runtime's privilege level:
 * CPL3 without Xen, CPL0 under Xen. Every fault ends the run.
 */
isr_common:
        skiff_reflect_frame
        testb   $1, skiff_pvh_cpl3
        jz      1f
        movq    $SKIFF_SEL_UCODE, 8(%rsp)
        movq    $SKIFF_SEL_UDATA, 32(%rsp)
        iretq
1:      movq    $SKIFF_SEL_KCODE, 8(%rsp)
        movq    $SKIFF_SEL_KDATA, 32(%rsp)
        iretq

/*
 * skiff_isr_op: #BP (int3). From CPL3 with an operation in %eax
 * (layout.h SKIFF_OP_*): do it at CPL0 and return; anything else is a
 * breakpoint fault. On RSP0, the kernel stack; a wait's timer interrupt
 * nests on the same stack.
 */
        .globl skiff_isr_op
skiff_isr_op:
        testb   $3, 8(%rsp)
        jz      9f
        cmp     $SKIFF_OP_WAIT, %eax
        je      1f
        cmp     $SKIFF_OP_CR3, %eax
        je      2f
        cmp     $SKIFF_OP_CPUID, %eax
        je      3f
        cmp     $SKIFF_OP_RDMSR, %eax
        je      4f
        cmp     $SKIFF_OP_OFF, %eax
        je      5f
9:      push    $0
        push    $3
        jmp     isr_common
1:      sti                                /* the STI shadow: no wake-up lost */
        hlt
        cli
        iretq
2:      mov     %rdi, %cr3
        iretq
3:      mov     %edi, %eax
        mov     %esi, %ecx
        cpuid
        iretq
4:      mov     %edi, %ecx
        rdmsr
        iretq
5:      lidt    skiff_idtr_none            /* the next fault is a triple fault */
        ud2

/* Local APIC timer (no Xen): it only ends a `sti; hlt`. EOI and return. */
        .globl skiff_isr_timer
skiff_isr_timer:
        push    %rax
        movabs  $(SKIFF_LAPIC_BASE + SKIFF_LAPIC_EOI), %rax
        movl    $0, (%rax)
        pop     %rax
        iretq

/*
 * Xen's event-channel upcall: it only ends a `sti; hlt`. It stays asserted
 * while vcpu_info.evtchn_upcall_pending is set, so return with IF cleared
 * in the saved RFLAGS; the waiter (clock.c) acknowledges the events.
 */
        .globl skiff_isr_xen_upcall
skiff_isr_xen_upcall:
        andq    $~0x200, 16(%rsp)
        iretq

/* Spurious APIC interrupt: no EOI. */
        .globl skiff_isr_spurious
skiff_isr_spurious:
        iretq

/* ---------------------------------------------------------------------- */
/* CPL3 text: the runtime's first instruction without Xen.                 */
/* ---------------------------------------------------------------------- */
        .text
skiff_pvh_user_start:
        fninit
        mov     skiff_pvh_start_info(%rip), %edi
        call    skiff_pvh_start
        ud2

/* ---------------------------------------------------------------------- */
/* The hypercall page: Xen writes its stubs here when start.c gives its    */
/* address to the MSR CPUID names (one 32-byte stub per hypercall).        */
/* ---------------------------------------------------------------------- */
        .section .text.skiff.hypercall, "ax", @progbits
        .balign 4096
        .globl skiff_xen_hypercall_page
skiff_xen_hypercall_page:
        .fill   4096, 1, 0xcc

/* ---------------------------------------------------------------------- */
/* The system area: supervisor-only pages in the final map (paging.c).     */
/* ---------------------------------------------------------------------- */
        .section .skiff.sys.data, "aw", @progbits
        .balign 4096
        .globl skiff_gdt
skiff_gdt:
        .quad   0                          /* 0x00 null */
        .quad   0                          /* 0x08 unused */
        .quad   0x00af9b000000ffff         /* 0x10 kernel code64, DPL0 */
        .quad   0x00cf93000000ffff         /* 0x18 kernel data, DPL0 */
        .quad   0                          /* 0x20 unused */
        .quad   0x00cff3000000ffff         /* 0x28 user data, DPL3 */
        .quad   0x00affb000000ffff         /* 0x30 user code64, DPL3 */
        .quad   0                          /* 0x38 unused */
        .quad   0, 0                       /* 0x40 TSS: cpu_init */
        .balign 8
skiff_gdtr:
        .word   SKIFF_GDT_ENTRIES * 8 - 1
        .quad   skiff_gdt
        .balign 8
skiff_idtr:
        .word   SKIFF_IDT_VECTORS * 16 - 1
        .quad   skiff_idt
        .balign 8
skiff_idtr_none:
        .word   0
        .quad   0
skiff_pvh_cpl3:                            /* 1: the runtime runs at CPL3 */
        .byte   0

        .balign 16
skiff_tss:
        .long   0
        .quad   skiff_kstack_top           /* RSP0: CPL3's int3 operations */
        .quad   0, 0                       /* RSP1, RSP2 */
        .quad   0                          /* reserved */
        .quad   __skiff_trap_stack_top     /* IST1: the exceptions */
        .quad   0, 0, 0, 0, 0, 0           /* IST2-7 */
        .quad   0                          /* reserved */
        .word   0                          /* reserved */
        .word   SKIFF_TSS_IOMAP_OFF        /* I/O map base */
        /*
         * I/O permission bitmap, ports 0x000-0x3ff (CPL3, no Xen; PVM drops
         * IOPL, so this map is the only way: platform-notes 8). A 1-byte
         * access to port p checks bit p, a 4-byte one bits p..p+3.
         */
        .byte   0xff, 0xff, 0xff, 0xff     /* 0x000-0x01f */
        .byte   0xfd                       /* 0x020-0x027: 0x21 open (8259 master mask) */
        .fill   3, 1, 0xff                 /* 0x028-0x03f */
        .byte   0xf6                       /* 0x040-0x047: 0x40, 0x43 open (PIT) */
        .fill   5, 1, 0xff                 /* 0x048-0x06f */
        .byte   0xfc                       /* 0x070-0x077: 0x70, 0x71 open (CMOS) */
        .fill   0x14 - 0x0f, 1, 0xff       /* 0x078-0x09f */
        .byte   0xfd                       /* 0x0a0-0x0a7: 0xa1 open (8259 slave mask) */
        .fill   0x1e - 0x15, 1, 0xff       /* 0x0a8-0x0ef */
        .byte   0x0f                       /* 0x0f0-0x0f7: 0xf4-0xf7 open (isa-debug-exit) */
        .fill   0x7f - 0x1f, 1, 0xff       /* 0x0f8-0x3f7 */
        .byte   0x00                       /* 0x3f8-0x3ff open (COM1) */
        .byte   0xff                       /* terminator */
skiff_tss_end:
        .if     skiff_tss_end - skiff_tss != SKIFF_TSS_LIMIT + 1
        .error  "pvh.S: the TSS and its I/O bitmap do not match SKIFF_TSS_LIMIT"
        .endif

        .section .bss.skiff.sys, "aw", @nobits
        .balign 4096
        .globl skiff_pml4, skiff_pdpt, skiff_pd
skiff_pml4:                                /* the first page tables (entry32) */
        .skip   4096
skiff_pdpt:
        .skip   4096
skiff_pd:
        .skip   4 * 4096
skiff_idt:
        .skip   SKIFF_IDT_VECTORS * 16
skiff_kstack:
        .skip   SKIFF_KSTACK_SIZE
skiff_kstack_top:

        .bss
        .globl skiff_pvh_start_info, skiff_pvh_xen_base
skiff_pvh_start_info:
        .skip   4
skiff_pvh_xen_base:                        /* Xen's CPUID base leaf, or 0 */
        .skip   4

        .section .note.GNU-stack, "", @progbits
