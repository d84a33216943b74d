/*
 * paging.c: the x86_64 PVH image's final identity map, built once at start
 * over the 2 MiB-page map pvh.S entered long mode with.
 *
 *   [0, 4 KiB)                      not present (null pointers fault)
 *   rest of the image's 2 MiB regions, 4 KiB pages (pool: skiff.ld .skiff.pt):
 *     below the image (low memory)  RW, NX
 *     text (+ hypercall page)       R, X
 *     rodata, notes                 R, NX
 *     data, bss, trap stack         RW, NX
 *     guard page                    not present (stack overflow faults)
 *     stack, page-table pool        RW, NX
 *     after the image, < ram_end    RW, NX (heap)
 *   [image regions' end, ram_end)   2 MiB pages, RW, NX (heap)
 *   local APIC (bare QEMU only)     one 2 MiB page, RW, NX, uncached
 *   everything else up to 4 GiB and beyond: not present
 *
 * CR0.WP is set (pvh.S), so CPL0 writes to read-only pages fault too.
 */
#include "x86.h"

#define PTE_P   0x1ull
#define PTE_RW  0x2ull
#define PTE_PWT 0x8ull
#define PTE_PCD 0x10ull
#define PTE_PS  0x80ull
#define PTE_NX  (1ull << 63)
#define REGION  0x200000ull

extern uint64_t skiff_pd[];
extern char __skiff_image_start[], __skiff_rodata_start[], __skiff_data_start[];
extern char __skiff_pt_start[], __skiff_pt_end[];

static uint64_t page_flags(uint64_t a, uint64_t ram_end)
{
    if (a < 0x1000 || a >= ram_end)
        return 0;
    if (a >= (uintptr_t)__skiff_image_start && a < (uintptr_t)__skiff_rodata_start)
        return PTE_P;
    if (a >= (uintptr_t)__skiff_rodata_start && a < (uintptr_t)__skiff_data_start)
        return PTE_P | PTE_NX;
    if (a >= (uintptr_t)__skiff_guard && a < (uintptr_t)__skiff_stack_bottom)
        return 0;
    return PTE_P | PTE_RW | PTE_NX;
}

void skiff_x86_paging_init(uint64_t ram_end, int map_lapic)
{
    uint64_t *pool = (uint64_t *)__skiff_pt_start;
    uint64_t pool_tables = (uint64_t)(__skiff_pt_end - __skiff_pt_start) / 4096;
    uint64_t last = ((uint64_t)(uintptr_t)__skiff_image_end - 1) / REGION;
    if (last >= pool_tables)
        skiff_panic("boot: the page-table pool is too small for the image (skiff.ld)");
    for (uint64_t r = 0; r <= last; r++) {
        uint64_t *pt = pool + r * 512;
        for (uint64_t i = 0; i < 512; i++) {
            uint64_t a = r * REGION + i * 4096;
            uint64_t f = page_flags(a, ram_end);
            pt[i] = f ? a | f : 0;
        }
        skiff_pd[r] = (uint64_t)(uintptr_t)pt | PTE_P | PTE_RW;
    }
    for (uint64_t r = last + 1; r < 2048; r++) {
        uint64_t a = r * REGION;
        skiff_pd[r] = a + REGION <= ram_end ? a | PTE_P | PTE_RW | PTE_PS | PTE_NX : 0;
    }
    if (map_lapic) {
        uint64_t a = SKIFF_LAPIC_BASE & ~(REGION - 1);
        skiff_pd[a / REGION] = a | PTE_P | PTE_RW | PTE_PS | PTE_PCD | PTE_PWT | PTE_NX;
    }
    uint64_t cr3;
    __asm__ __volatile__("mov %%cr3, %0\n\tmov %0, %%cr3" : "=r"(cr3) : : "memory");
}
