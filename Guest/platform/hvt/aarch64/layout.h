/*
 * layout.h: constants of the Skiff hvt aarch64 platform layer (entry.S,
 * early.c, common/stacks.S, arch/aarch64/mmu.c). The image is linked at
 * 0x100000 (HVT_GUEST_MIN_BASE, skiff.ld); the tender's boot info, manifest
 * copy and command line are at 0x10000-0xfffff; the MMIO window (hypercalls
 * and the net ring kick) is at 0x100000000 (spec sections 5.3, 7, 8).
 * See docs/boot-aarch64-hvt.md, "The Skiff guest runtime on hvt aarch64".
 */
#ifndef SKIFF_HVT_A64_LAYOUT_H
#define SKIFF_HVT_A64_LAYOUT_H

/* Stacks (NOBITS, inside the image; common/stacks.S, skiff.ld). */
#define SKIFF_TRAP_STACK_SIZE  0x4000     /* SP_EL1: exception handlers */
#define SKIFF_GUARD_SIZE       0x1000     /* unmapped: stack overflow faults */
#ifndef SKIFF_STACK_SIZE                  /* skiff build --stack-size passes -D */
#define SKIFF_STACK_SIZE       0x100000   /* SP_EL0: everything else */
#endif

/*
 * The runtime keeps the tender's MAIR_EL1 (spec 7.3: attr1 0x04
 * Device-nGnRE, attr4 0xff Normal WB) and TCR_EL1 (T0SZ 24: 40-bit VA,
 * walks from level 0, 4 KiB granule); arch/aarch64/mmu.c encodes its
 * entries with these indexes. early.c checks both before switching.
 */
#define SKIFF_MAIR_IDX_DEVICE  1
#define SKIFF_MAIR_IDX_NORMAL  4
#define SKIFF_MAIR_DEVICE      0x04       /* the attribute bytes expected there */
#define SKIFF_MAIR_NORMAL      0xff
#define SKIFF_TCR_T0SZ         24

/* The MMIO window (spec 7.1): mapped Device, read-write, execute-never. */
#define SKIFF_HVT_MMIO_BASE    0x100000000ull
#define SKIFF_HVT_MMIO_SIZE    0x40000000ull
/* The net ring occupies 2 MiB at net_ring (== mem_size) when offered (5.2). */
#define SKIFF_HVT_RING_AREA    0x200000ull
/* The guest's map ends at 4 GiB (the tender's RAM maximum). */
#define SKIFF_HVT_RAM_MAX      0x100000000ull

#endif
