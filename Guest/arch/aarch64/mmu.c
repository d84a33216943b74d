/*
 * mmu.c: the identity map (VA == PA) that boot.S switches on.
 *
 * Runs with the MMU off: every store goes straight to memory (boot.S
 * invalidates the image's cache lines afterwards). 4 KiB granule, 39-bit
 * VA (T0SZ = 25, walks start at level 1). The tables live in the image's
 * .skiff.pt pages (skiff.ld sizes them; boot.S zeroed them).
 *
 *   image text (header, boot, vectors, .text)   Normal WB, read-only, executable
 *   image rodata (and the notes)                Normal WB, read-only, XN
 *   image data, bss, stacks, tables             Normal WB, read-write, XN
 *   guard page below the stack                  unmapped (stack overflow faults)
 *   the rest of RAM (heap)                      Normal WB, read-write, XN
 *   the platform's device ranges (virt: DTB)     Device-nGnRnE, read-write, XN
 *   everything else, including page 0           unmapped (faults)
 *
 * SCTLR_EL1.WXN (boot.S) additionally makes every writable page XN.
 *
 * hvt (platform/hvt/aarch64/start.c) builds the same map with the tender's
 * MMU still on (ordinary cacheable stores; table walks are coherent with
 * them) and MAIR indexes of the tender's MAIR_EL1, puts one level-0 table
 * above it (the tender's TCR_EL1: 40-bit VA, walks from level 0) and
 * switches TTBR0_EL1 only. The MMIO window is its device range.
 */
#include "rt.h"
#include "layout.h"   /* SKIFF_GUARD_SIZE */
#include "mmu.h"

#define PAGE          0x1000ull
#define L2_BLOCK      0x200000ull
#define L1_BLOCK      0x40000000ull
#define VA_BITS       39

#define DESC_BLOCK    1ull
#define DESC_TABLE    3ull
#define DESC_PAGE     3ull
/* MAIR indexes: entry.S's MAIR (attr0 Device-nGnRnE, attr1 Normal WB) unless
 * the platform's layout.h names others (hvt keeps the tender's MAIR_EL1). */
#ifndef SKIFF_MAIR_IDX_DEVICE
#define SKIFF_MAIR_IDX_DEVICE 0
#endif
#ifndef SKIFF_MAIR_IDX_NORMAL
#define SKIFF_MAIR_IDX_NORMAL 1
#endif
#define ATTR_DEVICE   ((uint64_t)SKIFF_MAIR_IDX_DEVICE << 2)
#define ATTR_NORMAL   ((uint64_t)SKIFF_MAIR_IDX_NORMAL << 2)
#define AP_RO         (1ull << 7)         /* AP[2]: read-only (EL1) */
#define SH_INNER      (3ull << 8)
#define AF            (1ull << 10)
#define PXN           (1ull << 53)
#define UXN           (1ull << 54)
#define ADDR_MASK     0x0000fffffffff000ull

#define MEM_RW   (ATTR_NORMAL | SH_INNER | AF | PXN | UXN)
#define MEM_RX   (ATTR_NORMAL | SH_INNER | AF | AP_RO | UXN)
#define MEM_RO   (ATTR_NORMAL | SH_INNER | AF | AP_RO | PXN | UXN)
#define DEV_RW   (ATTR_DEVICE | AF | PXN | UXN)

uint64_t skiff_a64_ttbr0, skiff_a64_tcr;

static uint64_t *l1;
static uint64_t pt_next;
static const char *pt_error;

static uint64_t *pt_alloc(void)
{
    if (pt_next + PAGE > (uint64_t)(uintptr_t)__skiff_pt_end) {
        pt_error = "page-table pool exhausted (too many MMIO or RAM ranges)";
        return 0;
    }
    uint64_t *t = (uint64_t *)(uintptr_t)pt_next;
    pt_next += PAGE;
    return t;                 /* boot.S zeroed the pool */
}

/* Next-level table behind *e, created if absent; NULL if *e is a block. */
static uint64_t *next_table(uint64_t *e)
{
    if (*e == 0) {
        uint64_t *t = pt_alloc();
        if (!t)
            return 0;
        *e = (uint64_t)(uintptr_t)t | DESC_TABLE;
    } else if ((*e & 3) != DESC_TABLE) {
        pt_error = "overlapping mappings";
        return 0;
    }
    return (uint64_t *)(uintptr_t)(*e & ADDR_MASK);
}

/*
 * Maps [va, end) (page-aligned) to itself with `attr`, using 1 GiB and
 * 2 MiB blocks where the range allows and no table exists yet. Already
 * mapped pages are left alone: callers map the special ranges first.
 */
static void map(uint64_t va, uint64_t end, uint64_t attr)
{
    while (va < end && !pt_error) {
        if (va >> VA_BITS) {
            pt_error = "address beyond the 39-bit identity map";
            return;
        }
        uint64_t *table = l1;
        for (unsigned shift = 30;; shift -= 9) {     /* levels 1, 2, 3 */
            uint64_t size = 1ull << shift;
            uint64_t *e = &table[(va >> shift) & 511];
            if (shift == 12) {
                if (*e == 0)
                    *e = va | attr | DESC_PAGE;
                va += PAGE;
                break;
            }
            if (*e == 0 && (va & (size - 1)) == 0 && end - va >= size) {
                *e = va | attr | DESC_BLOCK;
                va += size;
                break;
            }
            if ((*e & 3) == DESC_BLOCK) {        /* covered by a block */
                va = (va | (size - 1)) + 1;
                break;
            }
            table = next_table(e);
            if (!table)
                return;
        }
    }
}

static uint64_t down(uint64_t v) { return v & ~(PAGE - 1); }
static uint64_t up(uint64_t v) { return (v + PAGE - 1) & ~(PAGE - 1); }

const char *skiff_mmu_build(uint64_t ram_base, uint64_t ram_size,
                            const struct skiff_mmio_range *dev, unsigned ndev)
{
    uint64_t mmfr0 = READ_SYSREG(id_aa64mmfr0_el1);
    if (((mmfr0 >> 28) & 0xf) == 0xf)
        return "the CPU has no 4 KiB translation granule";

    pt_next = (uint64_t)(uintptr_t)__skiff_pt_start;
    pt_error = 0;
    l1 = pt_alloc();

    uint64_t img = (uint64_t)(uintptr_t)__skiff_image_start;
    uint64_t guard = (uint64_t)(uintptr_t)__skiff_guard;
    uint64_t img_end = up((uint64_t)(uintptr_t)__skiff_image_end);
    /* The image, page by page, with per-section permissions. */
    map(img, up((uint64_t)(uintptr_t)__skiff_text_end), MEM_RX);
    map(down((uint64_t)(uintptr_t)__skiff_rodata_start),
        down((uint64_t)(uintptr_t)__skiff_data_start), MEM_RO);
    map(down((uint64_t)(uintptr_t)__skiff_data_start), guard, MEM_RW);
    map(guard + SKIFF_GUARD_SIZE, img_end, MEM_RW);
    /* The rest of RAM, around the image (so the guard page stays a hole). */
    uint64_t ram_end = ram_base + ram_size;
    if (ram_end >> VA_BITS)
        ram_end = 1ull << VA_BITS;
    map(up(ram_base), img, MEM_RW);
    map(img_end, down(ram_end), MEM_RW);
    /* Devices the runtime drives. */
    for (unsigned i = 0; i < ndev; i++)
        if (dev[i].base && dev[i].size)
            map(down(dev[i].base), up(dev[i].base + dev[i].size), DEV_RW);
    if (pt_error)
        return pt_error;

    uint64_t parange = mmfr0 & 0xf;
    if (parange > 5)
        parange = 5;                        /* 48-bit output: enough for virt */
    skiff_a64_tcr = (64 - VA_BITS)          /* T0SZ */
        | (1ull << 8) | (1ull << 10)        /* IRGN0, ORGN0: WB RA/WA */
        | (3ull << 12)                      /* SH0: inner shareable */
        | (0ull << 14)                      /* TG0: 4 KiB */
        | (1ull << 23)                      /* EPD1: no TTBR1 walks */
        | (parange << 32);                  /* IPS */
    skiff_a64_ttbr0 = (uint64_t)(uintptr_t)l1;
    return 0;
}

const char *skiff_mmu_map_readonly(uint64_t base, uint64_t end)
{
    map(down(base), up(end), MEM_RO);
    return pt_error;
}
