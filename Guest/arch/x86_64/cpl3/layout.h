/*
 * layout.h: fixed guest addresses of the Skiff x86_64 platform layer.
 *
 * Shared by start.S (assembly), the C runtime and, as constants, by
 * Sources/SkiffBuild/X86_64Layout.swift (which must agree; SkiffBuildTests
 * checks the built ELF against both). The supervisor area sits at fixed
 * addresses so that the GDT, TSS and IDT are assembled as constants and the
 * CPL0 entry needs no relocation work at run time. See docs/guest-x86_64.md.
 */
#ifndef SKIFF_X86_64_LAYOUT_H
#define SKIFF_X86_64_LAYOUT_H

/* 0x100000: CPL0 text (supervisor R+X): _start, then the ISR stubs. */
#define SKIFF_KTEXT          0x100000
#define SKIFF_ISR_TABLE      0x100800   /* 32 stubs, 16 bytes each */
#define SKIFF_ISR_STRIDE     16
/* 0x101000-0x108fff: supervisor R+W, written by `skiff build` and the CPU. */
#define SKIFF_PML4           0x101000
#define SKIFF_PDPT           0x102000
#define SKIFF_PD             0x103000   /* 4 pages: 2048 PDEs, 2 MiB each, 4 GiB */
#define SKIFF_SYS            0x107000   /* GDT, GDTR/IDTR, TSS + I/O bitmap, IDT */
#define SKIFF_GDT            0x107000
#define SKIFF_GDTR           0x107050
#define SKIFF_IDTR           0x107060
#define SKIFF_MAP_LIMIT      0x107070   /* demand-map limit (8 bytes) */
#define SKIFF_TSS            0x107080
#define SKIFF_IDT            0x107200
#define SKIFF_KSTACK         0x108000
#define SKIFF_KSTACK_TOP     0x109000
#define SKIFF_USER_TEXT      0x109000   /* user .text starts here */

/* GDT selectors (Linux-compatible, platform-notes section 8.5). */
#define SKIFF_SEL_KCODE      0x10
#define SKIFF_SEL_KDATA      0x18
#define SKIFF_SEL_UDATA      0x2b
#define SKIFF_SEL_UCODE      0x33
#define SKIFF_SEL_TSS        0x40
#define SKIFF_GDT_ENTRIES    10

/* TSS: 104 bytes, then the I/O permission bitmap up to port 0x60f + 0xff. */
#define SKIFF_TSS_IOMAP_OFF  0x68
#define SKIFF_IOMAP_BYTES    0xc2       /* ports 0x000-0x60f, then terminator */
#define SKIFF_TSS_LIMIT      (SKIFF_TSS_IOMAP_OFF + SKIFF_IOMAP_BYTES - 1)

/* User stacks (in the image's NOBITS "stack" segment). The stack size can
 * be set with `skiff build --stack-size` (-DSKIFF_STACK_SIZE=bytes). */
#define SKIFF_TRAP_STACK_SIZE  0x4000
#define SKIFF_GUARD_SIZE       0x1000
#ifndef SKIFF_STACK_SIZE
#define SKIFF_STACK_SIZE       0x100000
#endif

#endif
