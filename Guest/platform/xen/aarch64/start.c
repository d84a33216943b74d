/*
 * start.c: arm64 Xen start-up (before and after the MMU), the console when
 * it is a UART, waiting, and what the CPU layer asks of the platform.
 *
 * head.S relocates the image and enters arch/aarch64/mmu-off/entry.S, which
 * calls skiff_platform_early() with the MMU off (the DTB Xen built for this
 * domain: memory, /chosen/bootargs, /hypervisor, GIC, timer, UART; then the
 * identity map, arch/aarch64/mmu.c), then skiff_platform_start() with the
 * MMU and caches on, which fills `skiff_xen` for the common start-up
 * (../start.c).
 *
 * Console: a UART in the DTB (a dom0less domU's vpl011, "arm,sbsa-uart",
 * which Xen prints as `(XEN) DOM<n>: ...` lines) if there is one, else
 * HYPERVISOR_console_io (dom0: Xen hides its own UART from dom0 and passes
 * dom0's writes to its console unchanged). A domU without a vpl011 may not
 * use console_io (a non-debug Xen refuses it): it is silent.
 *
 * Clock and waits: the generic timer, shared with QEMU virt
 * (arch/aarch64/mmu-off/timer.c): CNTVCT_EL0 at CNTFRQ_EL0 for the
 * monotonic clock; a wait arms the virtual timer, whose PPI (from the DTB,
 * Xen's 27) is enabled in Xen's virtual GIC, and executes WFI with
 * interrupts masked. Xen traps the WFI and blocks the vCPU until an
 * interrupt is pending for it, so sleeping is blocking in Xen, not spinning.
 * Wall clock: the PL031 if the DTB names one (dom0 on QEMU gets the
 * machine's), read once and extended with the monotonic clock; Xen on arm
 * keeps no wall clock of its own for guests.
 */
#include "xen.h"
#include "fdt.h"
#include "gic.h"
#include "pl011.h"
#include "mmu.h"

struct skiff_board skiff_board;

/* ---- Console, waits, exit ------------------------------------------------- */

void skiff_xen_arch_console(const void *data, size_t len)
{
    skiff_pl011_write(skiff_board.uart, data, len);
}

/* The wait itself is the generic timer's (arch/aarch64/mmu-off/timer.c). */
void skiff_xen_arch_wait_until(uint64_t deadline_ns)
{
    uint64_t now = skiff_clock_monotonic();
    if (now >= deadline_ns)
        return;
    skiff_gic_drain();                       /* forget old edges first */
    uint64_t ticks = skiff_ns_to_ticks(deadline_ns - now);
    uint64_t cval = skiff_rdtsc() + ticks;
    skiff_wait_until(cval < ticks ? UINT64_MAX : cval);
}

/* Under Xen the run always ends with SCHEDOP_shutdown (../start.c). */
_Noreturn void skiff_xen_arch_off(int status)
{
    (void)status;
    for (;;)
        wfi();
}

/* Nothing to resume: every exception is reported (arch/aarch64/trap.c). */
int skiff_platform_trap_resume(struct skiff_a64_frame *fr, uint32_t ec, unsigned type)
{
    (void)fr; (void)ec; (void)type;
    return 0;
}

/* ---- Start-up ------------------------------------------------------------ */

/*
 * skiff_platform_early: MMU off, image relocated. Reads the DTB Xen passed
 * in x0 and builds the identity map: the RAM range holding the image and
 * the devices the runtime touches (UART, RTC, GIC).
 */
__attribute__((used, no_stack_protector))
void skiff_platform_early(uint64_t dtb, uint64_t el)
{
    (void)el;
    skiff_xen.xen = 1;
    skiff_xen.console_io = 1;              /* until the DTB names a UART */
    const void *fdt = (const void *)(uintptr_t)dtb;
    if (!skiff_fdt_valid(fdt))
        skiff_early_fail("no device tree in x0");
    if (skiff_fdt_parse(fdt, &skiff_board) != 0)
        skiff_early_fail(skiff_board.error);
    struct skiff_board *b = &skiff_board;
    skiff_xen.console_io = b->uart == 0;
    struct skiff_mmio_range dev[5] = {
        { b->uart, 0x1000 }, { b->rtc, 0x1000 }, { b->gicd, b->gicd_size }, { b->gicc, b->gicc_size },
        { b->gicr, b->gicr_size } };
    const char *e = skiff_mmu_build(b->ram_base, b->ram_size, dev, 5);
    if (e)
        skiff_early_fail(e);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* skiff_platform_start: MMU and caches on, on SP_EL0; never returns. */
__attribute__((noreturn, used, no_stack_protector))
void skiff_platform_start(void)
{
    struct skiff_board *b = &skiff_board;
    skiff_clock_init();                    /* the counter, and the PL031 if there is one */
    skiff_xen.counter_freq = skiff_counter_freq;
    skiff_xen.wall_clock = b->rtc != 0;
    if (skiff_gic_init() && b->timer_intid)
        skiff_gic_enable(b->timer_intid, 0);

    uint64_t s0 = 0x9e3779b97f4a7c15ull, s1 = 0xd1b54a32d192ed03ull;
    for (size_t i = 0; i < b->seed_len; i++) {
        if ((i / 8) & 1)
            s1 ^= (uint64_t)b->seed[i] << (8 * (i % 8));
        else
            s0 ^= (uint64_t)b->seed[i] << (8 * (i % 8));
    }
    skiff_xen.seed[0] = s0;
    skiff_xen.seed[1] = rotl(s1, 17) ^ skiff_rdtsc();
    skiff_xen.cmdline = b->have_bootargs ? b->bootargs : "";
    skiff_xen.heap_start = (uintptr_t)__skiff_image_end;
    skiff_xen.heap_end = (uintptr_t)(b->ram_base + b->ram_size);
    skiff_xen.mem_size = b->ram_size;
    skiff_xen_main();
}
