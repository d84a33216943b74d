/*
 * paging.c: the x86_64 PVH image's final identity map, built once at start
 * beside the 2 MiB-page map pvh.S entered long mode with, then loaded (at
 * CPL3 through pvh.S's SKIFF_OP_CR3). Every page is a user page but the
 * system area and the page-table pool (supervisor-only: CPL3 cannot reach
 * the GDT, TSS, IDT, tables or kernel stack once this map is loaded).
 *
 *   [0, 4 KiB)                      not present (null pointers fault)
 *   rest of the image's 2 MiB regions, 4 KiB pages (pool: skiff.ld .skiff.pt):
 *     below the image (low memory)  RW, NX
 *     text (+ hypercall page)       R, X
 *     rodata, notes                 R, NX
 *     data, bss, trap stack         RW, NX
 *     system area, table pool       RW, NX, supervisor
 *     guard page                    not present (stack overflow faults)
 *     stack, page-table pool        RW, NX
 *     after the image, < ram_end    RW, NX (heap)
 *   [image regions' end, ram_end)   2 MiB pages, RW, NX (heap)
 *   local APIC (no Xen only)        one 2 MiB page, RW, NX, uncached
 *   everything else up to 4 GiB and beyond: not present
 *
 * CR0.WP is set (pvh.S), so CPL0 writes to read-only pages fault too
 * (under Xen, where the runtime runs at CPL0).
 */
#include "x86.h"

#define PTE_P   0x1ull
#define PTE_RW  0x2ull
#define PTE_US  0x4ull
#define PTE_PWT 0x8ull
#define PTE_PCD 0x10ull
#define PTE_PS  0x80ull
#define PTE_NX  (1ull << 63)
#define REGION  0x200000ull

extern char __skiff_image_start[], __skiff_rodata_start[], __skiff_data_start[];
extern char __skiff_sys_start[], __skiff_sys_end[];
extern char __skiff_pt_start[], __skiff_pt_end[];

/* The final tables, in the system area. */
#define SYS __attribute__((aligned(4096), section(".bss.skiff.sys")))
static uint64_t pml4[512] SYS, pdpt[512] SYS, pd[4 * 512] SYS;

static uint64_t page_flags(uint64_t a, uint64_t ram_end)
{
    if (a < 0x1000 || a >= ram_end)
        return 0;
    if (a >= (uintptr_t)__skiff_image_start && a < (uintptr_t)__skiff_rodata_start)
        return PTE_P | PTE_US;
    if (a >= (uintptr_t)__skiff_rodata_start && a < (uintptr_t)__skiff_data_start)
        return PTE_P | PTE_US | PTE_NX;
    if (a >= (uintptr_t)__skiff_guard && a < (uintptr_t)__skiff_stack_bottom)
        return 0;
    if ((a >= (uintptr_t)__skiff_sys_start && a < (uintptr_t)__skiff_sys_end)
        || (a >= (uintptr_t)__skiff_pt_start && a < (uintptr_t)__skiff_pt_end))
        return PTE_P | PTE_RW | PTE_NX;
    return PTE_P | PTE_RW | PTE_US | PTE_NX;
}

void skiff_x86_paging_init(uint64_t ram_end)
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
        pd[r] = (uint64_t)(uintptr_t)pt | PTE_P | PTE_RW | PTE_US;
    }
    for (uint64_t r = last + 1; r < 2048; r++) {
        uint64_t a = r * REGION;
        pd[r] = a + REGION <= ram_end ? a | PTE_P | PTE_RW | PTE_US | PTE_PS | PTE_NX : 0;
    }
    if (!skiff_xen.xen) {
        uint64_t a = SKIFF_LAPIC_BASE & ~(REGION - 1);
        pd[a / REGION] = a | PTE_P | PTE_RW | PTE_US | PTE_PS | PTE_PCD | PTE_PWT | PTE_NX;
    }
    for (uint64_t i = 0; i < 4; i++)
        pdpt[i] = (uint64_t)(uintptr_t)(pd + 512 * i) | PTE_P | PTE_RW | PTE_US;
    pml4[0] = (uint64_t)(uintptr_t)pdpt | PTE_P | PTE_RW | PTE_US;
    if (skiff_xen.xen)
        __asm__ __volatile__("mov %0, %%cr3" : : "r"((uint64_t)(uintptr_t)pml4) : "memory");
    else
        pvh_op_cr3((uint64_t)(uintptr_t)pml4);
}
