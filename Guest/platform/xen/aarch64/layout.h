/*
 * layout.h: every fixed address and size of the Skiff arm64 Xen image
 * (`skiff build --arch aarch64 --platform xen`).
 *
 * Shared by head.S, common/stacks.S, arch/aarch64 (entry, MMU) and the C
 * runtime; skiff.ld cannot include it and repeats SKIFF_LINK_BASE and
 * SKIFF_PT_FIXED_PAGES; Sources/SkiffBuild/XenArm64Image.swift checks the
 * header against SKIFF_TEXT_OFFSET. docs/platform-xen.md has the memory map.
 *
 * The image is linked at SKIFF_LINK_BASE but runs wherever Xen loads it: at
 * the start of the domain's first RAM bank + text_offset. A dom0less domU's
 * first bank is at 0x40000000 (Xen's GUEST_RAM0_BASE), so it runs where it
 * is linked; dom0 is mapped 1:1 and its bank is wherever Xen found RAM.
 * head.S applies the image's R_AARCH64_RELATIVE relocations before anything
 * else, so all other code runs as if linked at its load address.
 */
#ifndef SKIFF_XEN_A64_LAYOUT_H
#define SKIFF_XEN_A64_LAYOUT_H

/* Stack and page-table sizes, the Image header: shared with QEMU virt. */
#include "a64_image.h"

#define SKIFF_RAM_BASE       0x40000000   /* a dom0less domU's first RAM bank */
#define SKIFF_TEXT_OFFSET    0x200000     /* Image header text_offset */
#define SKIFF_LINK_BASE      (SKIFF_RAM_BASE + SKIFF_TEXT_OFFSET)

#ifndef __ASSEMBLER__
#include <stdint.h>
extern char __skiff_image_start[];
/* drivers/fdt: the RAM range is the memory node holding the image where it
 * runs, not where it was linked. */
#define SKIFF_IMAGE_ADDRESS  ((uint64_t)(uintptr_t)__skiff_image_start)
#endif

/* Xen on arm: the hypercall is `hvc #0xEA1` with the number in x16. */
#define SKIFF_XEN_HVC_IMM    0xea1

#endif
