/*
 * head.S: the start of an arm64 Xen image: the arm64 Linux Image header
 * Xen's loader reads, and the self-relocation that lets the image run
 * wherever Xen puts it (layout.h), then the CPU entry (arch/aarch64/
 * mmu-off/entry.S, as on QEMU virt).
 *
 * Entry (the Linux arm64 boot protocol, which Xen follows for dom0 and
 * dom0less domUs): EL1, MMU and D-cache off, x0 = the DTB's physical
 * address, the image at a 2 MiB-aligned base + text_offset. The image is
 * linked as a static PIE (Platforms.swift: -pie -z notext): every absolute
 * address in it (literal pools, pointers in data) has an R_AARCH64_RELATIVE
 * entry in .rela.dyn. Until they are applied only PC-relative code may run:
 * this file. The load offset is a multiple of 2 MiB (the protocol), so the
 * ADRP/:lo12: pairs of the compiled code stay right.
 */
#include "layout.h"

#define R_AARCH64_RELATIVE 1027

        .section .text.skiff.head, "ax", %progbits
        .globl _start
        .type _start, %function
_start:
        /* flags 0xa: LE, 4 KiB pages, anywhere in RAM */
        SKIFF_A64_IMAGE_HEADER skiff_xen_relocate, SKIFF_TEXT_OFFSET, 0xa
        .size _start, . - _start

        .section .text.skiff.reloc, "ax", %progbits
/*
 * Applies .rela.dyn for the offset between where the image runs and where
 * it was linked, even when that is 0 (the link writes the values too,
 * --apply-dynamic-relocs, but applying costs little and keeps one path);
 * x0, the DTB, is preserved. Relocations other than
 * R_AARCH64_RELATIVE are never emitted into a static PIE; one would stop
 * the CPU here, before anything can be printed.
 */
skiff_xen_relocate:
        adr     x9, _start
        ldr     x10, =SKIFF_LINK_BASE
        sub     x11, x9, x10               /* load offset */
        adrp    x12, __skiff_rela_start
        add     x12, x12, :lo12:__skiff_rela_start
        adrp    x13, __skiff_rela_end
        add     x13, x13, :lo12:__skiff_rela_end
1:      cmp     x12, x13
        b.hs    2f
        ldp     x14, x15, [x12]            /* r_offset, r_info */
        ldr     x16, [x12, #16]            /* r_addend */
        add     x12, x12, #24
        cmp     w15, #R_AARCH64_RELATIVE
        b.ne    3f
        add     x16, x16, x11
        str     x16, [x14, x11]
        b       1b
2:      b       skiff_entry
3:      wfe
        b       3b

        .ltorg

        .section .note.GNU-stack, "", %progbits
