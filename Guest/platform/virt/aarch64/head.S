/*
 * head.S: the start of a QEMU-virt image: the arm64 Linux Image header that
 * QEMU's loader reads, and the Skiff info block that `skiff run` reads
 * (docs/boot-aarch64.md). It branches to the CPU entry, arch/aarch64/entry.S.
 */
#include "layout.h"

/* ---------------------------------------------------------------------- */
/* Image header (64 bytes, arch/aarch64/mmu-off/a64_image.h) and the      */
/* Skiff info block (64 bytes) that `skiff run` reads.                     */
/* ---------------------------------------------------------------------- */
        .section .text.skiff.head, "ax", %progbits
        .globl _start
        .type _start, %function
_start:
        /* flags 0x2: LE, 4 KiB pages, base near DRAM start */
        SKIFF_A64_IMAGE_HEADER skiff_entry, SKIFF_TEXT_OFFSET, 0x2

        .globl skiff_image_info
skiff_image_info:                          /* SKIFF_INFO_OFFSET */
        .ascii  "SKIFFIMG"
        .long   SKIFF_INFO_VERSION, SKIFF_INFO_SIZE
        .quad   __skiff_mft_note_off, __skiff_mft_note_size
        .quad   __skiff_plt_note_off, __skiff_plt_note_size
        .quad   SKIFF_LINK_BASE, 0
        .size _start, . - _start


        .section .note.GNU-stack, "", %progbits
