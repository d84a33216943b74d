/*
 * mmu_hvt_test.c: host test of arch/aarch64/mmu.c with the hvt aarch64
 * layout (platform/hvt/aarch64/layout.h): builds the map the way
 * platform/hvt/aarch64/early.c does, hangs it below a level-0 table, then
 * walks it like the MMU with the tender's TCR_EL1 (T0SZ 24, 4 KiB granule,
 * level-0 start) and checks every range of docs/boot-aarch64-hvt.md.
 * Built and run by Tests/e2e/test_aarch64_hvt.py; the image symbols are
 * --defsym'd (absolute guest addresses), the page-table pool is a host
 * array (descriptors hold host addresses, followed as such). Prints "ok".
 */
#include <stdio.h>
#include <stdlib.h>
#include "rt.h"
#include "layout.h"
#include "mmu.h"

uint64_t test_sysreg_id_aa64mmfr0_el1 = 0x5;   /* 4 KiB granule supported, PARange 48 bits */

#define POOL_PAGES 64
char __skiff_pt_start[POOL_PAGES * 4096] __attribute__((aligned(4096)));

/* Unused by mmu.c, referenced by rt.h users only. */
void skiff_puts_raw(const void *d, size_t n) { (void)d; (void)n; }

static uint64_t l0[512] __attribute__((aligned(4096)));
static int failures;

#define MEM_SIZE   (64ull << 20)
#define NET_RING   MEM_SIZE

/* Walk from level 0; returns the leaf descriptor or 0 (a translation fault). */
static uint64_t walk(uint64_t va)
{
    uint64_t *table = l0;
    for (int level = 0; level <= 3; level++) {
        unsigned shift = 39 - 9 * level;
        uint64_t d = table[(va >> shift) & 511];
        if ((d & 1) == 0)
            return 0;
        if (level == 3)
            return (d & 3) == 3 ? d : 0;
        if ((d & 3) == 1) {                       /* block: levels 1, 2 only */
            if (level == 0)
                return 0;
            uint64_t size = 1ull << shift;
            if ((d & 0x0000fffffffff000ull & ~(size - 1)) != (va & ~(size - 1)))
                return 0;                          /* not an identity block */
            return d;
        }
        table = (uint64_t *)(uintptr_t)(d & 0x0000fffffffff000ull);
    }
    return 0;
}

enum { NONE, RX, RO, RW, DEV };

static void expect(const char *what, uint64_t va, int kind)
{
    uint64_t d = walk(va);
    int got;
    unsigned attr = (unsigned)(d >> 2) & 7;
    int ro = (d >> 7) & 1, pxn = (d >> 53) & 1, uxn = (d >> 54) & 1, af = (d >> 10) & 1;
    if (!d)
        got = NONE;
    else if (attr == SKIFF_MAIR_IDX_DEVICE && !ro && pxn)
        got = DEV;
    else if (attr != SKIFF_MAIR_IDX_NORMAL || !af || !uxn || ((d >> 8) & 3) != 3)
        got = -1;
    else if (ro && !pxn)
        got = RX;
    else if (ro && pxn)
        got = RO;
    else if (!ro && pxn)
        got = RW;
    else
        got = -1;                                  /* writable and executable */
    static const char *names[] = { "unmapped", "R X", "R", "R W", "device" };
    if (got != kind) {
        printf("FAIL %s 0x%llx: want %s, descriptor 0x%llx\n", what, (unsigned long long)va,
               names[kind], (unsigned long long)d);
        failures++;
    }
}

int main(void)
{
    /* early.c's calls, with its limits: RAM from the image to mem_size plus the
     * net ring, the MMIO window, the boot info read-only. */
    static const struct skiff_mmio_range window = { SKIFF_HVT_MMIO_BASE, SKIFF_HVT_MMIO_SIZE };
    uint64_t end = NET_RING + SKIFF_HVT_RING_AREA;
    const char *e = skiff_mmu_build(HVT_GUEST_MIN_BASE, end - HVT_GUEST_MIN_BASE, &window, 1);
    if (!e)
        e = skiff_mmu_map_readonly(HVT_BOOT_INFO_BASE, HVT_GUEST_MIN_BASE);
    if (e) {
        printf("FAIL skiff_mmu_build: %s\n", e);
        return 1;
    }
    l0[0] = skiff_a64_ttbr0 | 3;

    uint64_t text = (uint64_t)(uintptr_t)__skiff_image_start;
    uint64_t rodata = (uint64_t)(uintptr_t)__skiff_rodata_start;
    uint64_t data = (uint64_t)(uintptr_t)__skiff_data_start;
    uint64_t guard = (uint64_t)(uintptr_t)__skiff_guard;
    uint64_t image_end = (uint64_t)(uintptr_t)__skiff_image_end;
    expect("page 0", 0, NONE);
    expect("null + 8", 8, NONE);
    expect("below the boot info", 0xf000, NONE);
    expect("boot info", HVT_BOOT_INFO_BASE, RO);
    expect("command line", 0x100a8, RO);
    expect("last boot page", 0xff000, RO);
    expect("_start", text, RX);
    expect("text end", (uint64_t)(uintptr_t)__skiff_text_end - 1, RX);
    expect("rodata", rodata, RO);
    expect("data", data, RW);
    expect("trap stack", guard - 8, RW);
    expect("guard page", guard, NONE);
    expect("guard page end", guard + SKIFF_GUARD_SIZE - 1, NONE);
    expect("stack", guard + SKIFF_GUARD_SIZE, RW);
    expect("image end", image_end - 1, RW);
    expect("heap", image_end, RW);
    expect("heap, next 2 MiB", 0x400000, RW);
    expect("last byte of mem_size", MEM_SIZE - 1, RW);
    expect("net ring", NET_RING, RW);
    expect("net ring end", NET_RING + SKIFF_HVT_RING_AREA - 1, RW);
    expect("above the ring", NET_RING + SKIFF_HVT_RING_AREA, NONE);
    expect("1 GiB", 1ull << 30, NONE);
    expect("hypercall PUTS", HVT_HYPERCALL_MMIO_BASE + 2 * 8, DEV);
    expect("ring kick", HVT_RING_KICK_MMIO, DEV);
    expect("MMIO window end", SKIFF_HVT_MMIO_BASE + SKIFF_HVT_MMIO_SIZE - 1, DEV);
    expect("above the window", SKIFF_HVT_MMIO_BASE + SKIFF_HVT_MMIO_SIZE, NONE);
    expect("512 GiB", 1ull << 39, NONE);
    if (failures)
        return 1;
    printf("ok\n");
    return 0;
}
