/*
 * layout.h: fixed addresses and sizes of the Skiff aarch64 (QEMU virt) image.
 *
 * Shared by head.S, notes.S, common/stacks.S and the C runtime; what the
 * Xen arm64 image has alike is in arch/aarch64/mmu-off/a64_image.h. skiff.ld
 * cannot include it and repeats the link address (0x40200000) and
 * SKIFF_PT_FIXED_PAGES (16); `skiff build` checks the linked image against
 * its own copy of the link address and text_offset (the virt row of
 * Sources/SkiffBuild/Platforms.swift). The image is linked at RAM base +
 * text_offset and must be loaded there; arch/aarch64/entry.S checks its
 * run-time address and stops if it is elsewhere. See
 * docs/boot-aarch64.md for the memory map.
 */
#ifndef SKIFF_AARCH64_LAYOUT_H
#define SKIFF_AARCH64_LAYOUT_H

/* Stack and page-table sizes, the Image header: shared with Xen on arm64. */
#include "a64_image.h"

/*
 * QEMU virt puts RAM at 0x40000000. text_offset 0x200000 (not 0x80000): an
 * ELF loaded by QEMU gets a DTB at RAM base only if it stays out of the first
 * MiB of RAM (platform-notes section 4), so Image and ELF share one address.
 */
#define SKIFF_RAM_BASE       0x40000000
#define SKIFF_TEXT_OFFSET    0x200000
#define SKIFF_LINK_BASE      (SKIFF_RAM_BASE + SKIFF_TEXT_OFFSET)

/*
 * The Skiff image info block follows the 64-byte arm64 Image header, so that
 * `skiff run` can find the notes in a raw Image (docs/boot-aarch64.md):
 *   +0x00 "SKIFFIMG"   +0x08 u32 version (1)   +0x0c u32 block size (64)
 *   +0x10 u64 manifest note offset in the image  +0x18 u64 its size
 *   +0x20 u64 platform note offset                +0x28 u64 its size
 *   +0x30 u64 link address                        +0x38 u64 reserved (0)
 */
#define SKIFF_INFO_OFFSET    0x40
#define SKIFF_INFO_SIZE      0x40
#define SKIFF_INFO_VERSION   1

#endif
