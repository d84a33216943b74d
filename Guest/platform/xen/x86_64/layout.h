/*
 * layout.h: every fixed address, selector, vector and port of the Skiff
 * x86_64 Xen PVH image (`skiff build --arch x86_64 --platform xen`).
 *
 * Shared by pvh.S, common/stacks.S and the C runtime; skiff.ld cannot
 * include it and repeats SKIFF_LINK_BASE. docs/platform-xen.md has the
 * memory map. Under Xen the runtime runs at CPL0 (hypercalls need it); on a
 * plain PVH loader (QEMU, skiff-hvt) it runs at CPL3, as hvt's runtime does,
 * so that it also runs where ring-0 code is emulated and SSE fails there
 * (PVM). docs/boot-x86_64-pvh.md, "Privilege".
 */
#ifndef SKIFF_XEN_X86_64_LAYOUT_H
#define SKIFF_XEN_X86_64_LAYOUT_H

/* The image is linked and loaded at 1 MiB (PVH loaders load PT_LOADs at
 * their physical addresses, Xen and QEMU alike). Page 0 is never mapped. */
#define SKIFF_LINK_BASE        0x100000

/* hvm_start_info (Xen public hvm/start_info.h), passed in %ebx at entry. */
#define SKIFF_PVH_MAGIC        0x336ec578
#define SKIFF_PVH_CMDLINE_MAX  16384      /* bytes kept of the command line (with the NUL) */
#define SKIFF_MEMMAP_MAX       128        /* memory-map entries read */

/* GDT selectors (pvh.S): Linux-compatible, as hvt's (arch/x86_64/cpl3/layout.h;
 * on PVM, CPL3 reads the host's selectors: platform-notes 8.5). */
#define SKIFF_SEL_KCODE        0x10       /* 64-bit code, DPL0 */
#define SKIFF_SEL_KDATA        0x18       /* data, DPL0 */
#define SKIFF_SEL_UDATA        0x2b       /* data, DPL3 */
#define SKIFF_SEL_UCODE        0x33       /* 64-bit code, DPL3 */
#define SKIFF_SEL_TSS          0x40       /* 64-bit TSS (16-byte descriptor) */
#define SKIFF_GDT_ENTRIES      10

/* TSS: 104 bytes, then the I/O permission bitmap for ports 0x000-0x3ff and
 * its 0xff terminator. Open to CPL3 (pvh.S): the PIT (0x40, 0x43), the 8259
 * masks (0x21, 0xa1), the CMOS (0x70-0x71), isa-debug-exit (0xf4-0xf7) and
 * COM1 (0x3f8-0x3ff). */
#define SKIFF_TSS_IOMAP_OFF    0x68
#define SKIFF_IOMAP_BYTES      0x81
#define SKIFF_TSS_LIMIT        (SKIFF_TSS_IOMAP_OFF + SKIFF_IOMAP_BYTES - 1)

/* Privileged operations of the CPL3 runtime (no Xen): `int3` with %eax =
 * the operation (the #BP gate is DPL3; on PVM int3 is the only software
 * interrupt CPL3 can raise, platform-notes 8). Anything else in %eax, or an
 * int3 at CPL0, is a breakpoint fault. */
#define SKIFF_OP_WAIT          0x534b4f01 /* sti; hlt; cli: until an interrupt */
#define SKIFF_OP_CR3           0x534b4f02 /* %cr3 = %rdi */
#define SKIFF_OP_CPUID         0x534b4f03 /* the vCPU's CPUID (%edi, %esi) in eax-edx */
#define SKIFF_OP_RDMSR         0x534b4f04 /* MSR %edi in edx:eax */
#define SKIFF_OP_OFF           0x534b4f05 /* triple fault: the machine resets */

/* Interrupt vectors: 0-31 CPU exceptions (on IST1 = the trap stack, but #BP),
 * Xen's event-channel upcall (HVM_PARAM_CALLBACK_IRQ, vector type), the
 * local APIC timer and spurious vectors (bare QEMU). Interrupts are
 * enabled only inside `sti; hlt`. Vectors with no gate fault (#NP). */
#define SKIFF_IDT_VECTORS      256
#define SKIFF_VEC_TIMER        0xf0
#define SKIFF_VEC_XEN_UPCALL   0xf3
#define SKIFF_VEC_SPURIOUS     0xff

/* Page tables (pvh.S builds the first ones, paging.c the final map):
 * one PML4, one PDPT, four PDs = identity 0-4 GiB in 2 MiB pages, and a
 * pool of 4 KiB tables for the 2 MiB regions the image touches (skiff.ld
 * sizes it, as hvt's does). */
#define SKIFF_MAP_LIMIT_MAX    0x100000000ull   /* nothing at or above 4 GiB is mapped */

/* Stacks (common/stacks.S). `skiff build --stack-size` sets SKIFF_STACK_SIZE. */
#define SKIFF_TRAP_STACK_SIZE  0x4000     /* IST1: every exception */
#define SKIFF_KSTACK_SIZE      0x1000     /* RSP0: CPL3's int3 operations and their interrupts */
#define SKIFF_GUARD_SIZE       0x1000     /* unmapped: a stack overflow faults */
#ifndef SKIFF_STACK_SIZE
#define SKIFF_STACK_SIZE       0x100000
#endif

/* Xen detection: CPUID leaves 0x40000000 + 0x100 * i, i < 256, signature
 * "XenVMMXenVMM"; leaf base + 2 gives the hypercall-page MSR. */
#define SKIFF_XEN_CPUID_FIRST  0x40000000u
#define SKIFF_XEN_CPUID_LAST   0x4000ff00u

/* Bare QEMU (no Xen): the PC devices used instead. */
#define SKIFF_COM1             0x3f8      /* console: 16550 THR / LSR at +5 */
#define SKIFF_DEBUG_EXIT       0xf4       /* isa-debug-exit,iobase=0xf4,iosize=4: QEMU exits (v << 1) | 1 */
#define SKIFF_PIT_CH0          0x40       /* 8254 channel 0 data, 1193182 Hz */
#define SKIFF_PIT_CMD          0x43
#define SKIFF_PIT_HZ           1193182
#define SKIFF_PIC1_DATA        0x21       /* 8259 masks: every line masked */
#define SKIFF_PIC2_DATA        0xa1
#define SKIFF_CMOS_INDEX       0x70       /* MC146818 RTC: wall clock at start */
#define SKIFF_CMOS_DATA        0x71
#define SKIFF_LAPIC_BASE       0xfee00000ull   /* xAPIC MMIO (MSR 0x1b must agree); mapped uncached */
#define SKIFF_LAPIC_EOI        0x0b0
#define SKIFF_LAPIC_SVR        0x0f0
#define SKIFF_LAPIC_LVT_TIMER  0x320
#define SKIFF_LAPIC_TIMER_INIT 0x380
#define SKIFF_LAPIC_TIMER_CUR  0x390
#define SKIFF_LAPIC_TIMER_DIV  0x3e0

#endif
