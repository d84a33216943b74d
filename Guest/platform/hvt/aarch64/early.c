/*
 * early.c: hvt aarch64 start-up before the common hvt code: replace the
 * tender's page tables with the runtime's own, then platform/hvt/start.c.
 *
 * Why our own tables: the tender's (spec 7.2) map all RAM read-write and
 * EL1-executable, with no hole for a stack guard. The runtime's map
 * (arch/aarch64/mmu.c, the same code as QEMU virt's) gives W^X per image
 * section (text R+X, rodata R, data/bss/stacks R+W execute-never), an
 * unmapped guard page below the stack (so an overflow faults with
 * "(stack overflow)" as on x86_64 hvt), page 0 unmapped (null pointers),
 * the boot info area read-only, the heap and the net ring read-write
 * execute-never, and the MMIO window Device, execute-never.
 *
 * How, with the MMU on: the tables are written with ordinary cacheable
 * stores (the tender's TCR_EL1 makes walks inner-shareable write-back, so
 * they are coherent with them), encoded with the tender's MAIR_EL1 indexes,
 * and hung below one level-0 table because the tender's TCR_EL1 has walks
 * start at level 0. TCR_EL1, MAIR_EL1 and SCTLR_EL1 stay as the tender set
 * them, so the switch is one TTBR0_EL1 write: both maps are identity maps
 * of the code doing it. If the tender's MAIR or TCR are not the spec's,
 * the run ends with one line instead.
 */
#include "hvt.h"
#include "layout.h"
#include "mmu.h"

/* Level 0: entry 0 covers VA 0-512 GiB, i.e. everything we map. */
static uint64_t l0[512] __attribute__((aligned(4096)));

static const char *check_tender_registers(void)
{
    uint64_t mair = READ_SYSREG(mair_el1), tcr = READ_SYSREG(tcr_el1);
    if (((mair >> (8 * SKIFF_MAIR_IDX_NORMAL)) & 0xff) != SKIFF_MAIR_NORMAL
        || ((mair >> (8 * SKIFF_MAIR_IDX_DEVICE)) & 0xff) != SKIFF_MAIR_DEVICE)
        return "the tender's MAIR_EL1 is not the hvt ABI's (spec 7.3)";
    if ((tcr & 0x3f) != SKIFF_TCR_T0SZ      /* T0SZ: 40-bit VA, walks from level 0 */
        || ((tcr >> 14) & 3) != 0           /* TG0: 4 KiB */
        || (tcr & (1u << 7)))               /* EPD0: TTBR0 walks enabled */
        return "the tender's TCR_EL1 is not the hvt ABI's (spec 7.3)";
    return 0;
}

/* The top of what the guest may touch: mem_size, plus the net ring above
 * it when offered, at most 4 GiB. */
static uint64_t map_limit(const struct hvt_boot_info *bi)
{
    uint64_t end = bi->mem_size;
    if ((bi->host_features & HVT_FEATURE_RING_IO) && bi->net_ring
        && bi->net_ring + SKIFF_HVT_RING_AREA > end)
        end = bi->net_ring + SKIFF_HVT_RING_AREA;
    return end > SKIFF_HVT_RAM_MAX ? SKIFF_HVT_RAM_MAX : end;
}

static const char *install_tables(const struct hvt_boot_info *bi)
{
    const char *e = check_tender_registers();
    if (e)
        return e;
    uint64_t end = map_limit(bi);
    if (end <= HVT_GUEST_MIN_BASE)
        return "mem_size is below the image";
    static const struct skiff_mmio_range window = { SKIFF_HVT_MMIO_BASE, SKIFF_HVT_MMIO_SIZE };
    e = skiff_mmu_build(HVT_GUEST_MIN_BASE, end - HVT_GUEST_MIN_BASE, &window, 1);
    if (!e)
        e = skiff_mmu_map_readonly(HVT_BOOT_INFO_BASE, HVT_GUEST_MIN_BASE);
    if (e)
        return e;
    l0[0] = skiff_a64_ttbr0 | 3;            /* table descriptor -> level 1 */
    __asm__ __volatile__("dsb ishst\n\t"    /* tables written before any walk */
                         "msr ttbr0_el1, %0\n\t"
                         "isb\n\t"
                         "tlbi vmalle1\n\t" /* drop the tender's translations */
                         "dsb ish\n\t"
                         "isb"
                         : : "r"((uint64_t)(uintptr_t)l0) : "memory");
    return 0;
}

/*
 * skiff_hvt_a64_start: from entry.S, on the main stack (SP_EL0), vectors
 * set. No stack protector: the guard changes further down this call chain,
 * which never returns.
 */
__attribute__((noreturn, no_stack_protector, used))
void skiff_hvt_a64_start(const struct hvt_boot_info *bi)
{
    skiff_boot_info = bi;
    const char *e = install_tables(bi);
    if (e) {
        struct skiff_fmt f = { .len = 0 };
        skiff_fmt_str(&f, "boot: ");
        skiff_fmt_str(&f, e);
        skiff_abort(f.buf, f.len);
    }
    skiff_user_start(bi);
}

/* arch/aarch64/trap.c asks before reporting an exception: hvt never resumes. */
int skiff_platform_trap_resume(struct skiff_a64_frame *fr, uint32_t ec, unsigned type)
{
    (void)fr; (void)ec; (void)type;
    return 0;
}
