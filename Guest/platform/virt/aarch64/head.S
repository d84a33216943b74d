/*
 * head.S: the start of a QEMU-virt image: the arm64 Linux Image header that
 * QEMU's loader reads, and the Skiff info block that `skiff run` reads
 * (docs/boot-aarch64.md). It branches to the CPU entry, arch/aarch64/entry.S.
 */
#include "layout.h"

/* ---------------------------------------------------------------------- */
/* Image header (64 bytes, Linux Documentation/arch/arm64/booting.rst) and */
/* the Skiff info block (64 bytes) that `skiff run` reads.                 */
/* ---------------------------------------------------------------------- */
        .section .text.skiff.head, "ax", %progbits
        .globl _start
        .type _start, %function
_start:
        b       skiff_entry                /* code0 */
        .long   0                          /* code1 */
        .quad   SKIFF_TEXT_OFFSET          /* text_offset */
        .quad   __skiff_image_size         /* image_size: includes BSS, stacks, tables */
        .quad   0x2                        /* flags: LE, 4 KiB pages, base near DRAM start */
        .quad   0, 0, 0                    /* res2-res4 */
        .ascii  "ARM\x64"                  /* magic */
        .long   0                          /* res5 (no PE/COFF header) */

        .globl skiff_image_info
skiff_image_info:                          /* SKIFF_INFO_OFFSET */
        .ascii  "SKIFFIMG"
        .long   SKIFF_INFO_VERSION, SKIFF_INFO_SIZE
        .quad   __skiff_mft_note_off, __skiff_mft_note_size
        .quad   __skiff_plt_note_off, __skiff_plt_note_size
        .quad   SKIFF_LINK_BASE, 0
        .size _start, . - _start


        .section .note.GNU-stack, "", %progbits
