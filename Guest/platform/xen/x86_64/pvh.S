/*
 * pvh.S: the x86_64 Xen PVH entry: the XEN_ELFNOTE_PHYS32_ENTRY note, the
 * 32-bit entry that switches to long mode on its own page tables, the GDT,
 * the hypercall page, and the exception and interrupt stubs.
 *
 * Entry state (the PVH boot ABI, Xen docs/misc/pvh.pandoc; QEMU's PVH
 * loader gives the same): 32-bit protected mode, paging off, flat CS/DS/ES/SS,
 * interrupts off, %ebx = the physical address of struct hvm_start_info; no
 * stack. We zero .bss, identity-map 0-4 GiB with 2 MiB pages (PAE tables
 * in .bss), enable PAE, SSE (CR4.OSFXSR | OSXMMEXCPT), long mode with NX
 * (EFER.LME | NXE), paging with CR0.WP, and far-jump to 64-bit code, which
 * loads the data segments and the stack and calls skiff_pvh_start (start.c)
 * with the start_info address. start.c then replaces the mapping with the
 * final one (paging.c: page 0 and the guard page unmapped, W^X in the image,
 * nothing beyond the RAM the heap uses).
 *
 * Faults and interrupts run at CPL0 on IST1, the trap stack, whatever the
 * stack pointer was (a stack overflow still reaches the handler; the
 * runtime's red zone is never overwritten). Every exception ends the run
 * through arch/x86_64/trap.c with the abort line hvt guests print.
 */
#include "layout.h"

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
        /* PML4[0] -> PDPT; PDPT[0..3] -> PD0..PD3; PD: 2048 x 2 MiB, P|RW|PS. */
        movl    $(skiff_pdpt + 3), skiff_pml4
        movl    $(skiff_pd + 0x0003), skiff_pdpt
        movl    $(skiff_pd + 0x1003), skiff_pdpt + 8
        movl    $(skiff_pd + 0x2003), skiff_pdpt + 16
        movl    $(skiff_pd + 0x3003), skiff_pdpt + 24
        xor     %ecx, %ecx
1:      mov     %ecx, %eax
        shl     $21, %eax
        or      $0x83, %eax
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
        ljmp    $SKIFF_SEL_CODE, $skiff_pvh_entry64
        .size skiff_pvh_entry32, . - skiff_pvh_entry32

        .code64
skiff_pvh_entry64:
        mov     $SKIFF_SEL_DATA, %eax
        mov     %eax, %ds
        mov     %eax, %es
        mov     %eax, %ss
        xor     %eax, %eax
        mov     %eax, %fs
        mov     %eax, %gs
        mov     $__skiff_stack_top, %rsp
        xor     %ebp, %ebp
        fninit
        mov     skiff_pvh_start_info(%rip), %edi
        call    skiff_pvh_start
        ud2

/* ---------------------------------------------------------------------- */
/* Exception and interrupt stubs (IDT gates: start.c). 16 bytes per vector */
/* 0-31; vectors with a CPU error code: 8, 10-14, 17, 21, 29, 30.          */
/* ---------------------------------------------------------------------- */
        .text
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
 * isr_common: stack = vector, error code, then the CPU's frame RIP, CS,
 * RFLAGS, RSP, SS (IST1: 16-byte aligned before the CPU's pushes). Builds
 * Solo5's trap frame {cr2, ec, rip, cs, rflags, rsp, ss} and calls
 * skiff_trap(vector, frame), which never returns.
 */
isr_common:
        pop     %rdi                       /* vector */
        pop     %rsi                       /* error code */
        mov     %cr2, %rcx
        pushq   32(%rsp)                   /* SS */
        pushq   32(%rsp)                   /* RSP */
        pushq   32(%rsp)                   /* RFLAGS */
        pushq   32(%rsp)                   /* CS */
        pushq   32(%rsp)                   /* RIP */
        push    %rsi
        push    %rcx
        mov     %rsp, %rsi
        and     $-16, %rsp
        call    skiff_trap
        ud2

/* Local APIC timer (bare QEMU): it only ends a `sti; hlt`. EOI and return. */
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
/* The hypercall page: Xen writes its stubs here when start.c gives its    */
/* address to the MSR CPUID names (one 32-byte stub per hypercall).        */
/* ---------------------------------------------------------------------- */
        .section .text.skiff.hypercall, "ax", @progbits
        .balign 4096
        .globl skiff_xen_hypercall_page
skiff_xen_hypercall_page:
        .fill   4096, 1, 0xcc

/* ---------------------------------------------------------------------- */
/* GDT and the first page tables.                                          */
/* ---------------------------------------------------------------------- */
        .data
        .balign 16
        .globl skiff_gdt
skiff_gdt:
        .quad   0                          /* null */
        .quad   0x00af9a000000ffff         /* 0x08: code64, DPL0 */
        .quad   0x00cf92000000ffff         /* 0x10: data, DPL0 */
        .quad   0, 0                       /* 0x18: TSS, filled by start.c */
        .balign 8
        .globl skiff_gdtr
skiff_gdtr:
        .word   SKIFF_GDT_ENTRIES * 8 - 1
        .quad   skiff_gdt

        .section .bss.skiff.tables, "aw", @nobits
        .balign 4096
        .globl skiff_pml4, skiff_pdpt, skiff_pd
skiff_pml4:
        .skip   4096
skiff_pdpt:
        .skip   4096
skiff_pd:
        .skip   4 * 4096
        .globl skiff_pvh_start_info
skiff_pvh_start_info:
        .skip   8

        .section .note.GNU-stack, "", @progbits
