/*
 * notes.S: the Skiff platform note of an aarch64 QEMU-virt image.
 *
 * Name "Skiff", type "VIRT": marks the image as a Skiff unikernel for the
 * arm64 `virt` machine (booted as a Linux Image, devices from the DTB),
 * which is not the Solo5 hvt ABI: the image carries no ABI1 note, so a
 * Solo5 hvt tender refuses it instead of running it into the first MMIO
 * access. `skiff run` launches qemu-system-aarch64 for images with this note
 * (ELF) or with the Image magic plus the SKIFFIMG block (raw Image).
 *
 * Descriptor (16 bytes): u32 version (1), u32 ELF machine (183, AArch64),
 * u32 text_offset, u32 reserved (0).
 */
#include "layout.h"

        .section .note.skiff.platform, "a", %note
        .balign 4
        .long   6                       /* n_namesz: "Skiff\0" */
        .long   16                      /* n_descsz */
        .long   0x54524956              /* n_type: "VIRT" */
        .asciz  "Skiff"
        .balign 4
        .long   1
        .long   183
        .long   SKIFF_TEXT_OFFSET
        .long   0

        .section .note.GNU-stack, "", %progbits
