/*
 * mmu.h: the aarch64 identity map (mmu.c) that entry.S switches on, and the
 * image symbols every aarch64 skiff.ld must define for it.
 */
#ifndef SKIFF_A64_MMU_H
#define SKIFF_A64_MMU_H

#include <stdint.h>

/* Linker symbols: the image's sections and its page-table pool. */
extern char __skiff_image_start[], __skiff_text_end[], __skiff_rodata_start[];
extern char __skiff_data_start[], __skiff_pt_start[], __skiff_pt_end[];

/* Loaded into TCR_EL1 and TTBR0_EL1 by entry.S. */
extern uint64_t skiff_a64_ttbr0, skiff_a64_tcr;

/* A device range to map Device-nGnRnE (base 0 or size 0: skipped). */
struct skiff_mmio_range { uint64_t base, size; };

/*
 * Builds the identity map: the image with per-section permissions, the rest
 * of [ram_base, ram_base + ram_size) read-write, and `ndev` device ranges.
 * Returns NULL, or an error message. Runs with the MMU off.
 */
const char *skiff_mmu_build(uint64_t ram_base, uint64_t ram_size,
                            const struct skiff_mmio_range *dev, unsigned ndev);

/* After skiff_mmu_build: also map [base, end) read-only, execute-never
 * (hvt: the tender's boot info, manifest copy and command line). Returns
 * NULL, or an error message. */
const char *skiff_mmu_map_readonly(uint64_t base, uint64_t end);

#endif
