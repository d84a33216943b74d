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
 * Clock and waits: the generic timer, as on QEMU virt: CNTVCT_EL0 at
 * CNTFRQ_EL0 for the monotonic clock; a wait arms the virtual timer, whose
 * PPI (from the DTB, Xen's 27) is enabled in Xen's virtual GIC, and executes
 * WFI with interrupts masked. Xen traps the WFI and blocks the vCPU until an
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

#define RTC_DR 0x000

struct skiff_board skiff_board;
uint64_t skiff_tsc_mult;
static uint64_t wall_base_ns, wall_base_mono;

/* ---- Console, waits, exit ------------------------------------------------- */

void skiff_xen_arch_console(const void *data, size_t len)
{
    skiff_pl011_write(skiff_board.uart, data, len);
}

uint64_t skiff_clock_wall(void)
{
    return wall_base_ns + (skiff_clock_monotonic() - wall_base_mono);
}

/* ns -> counter ticks without 128-bit division (no compiler-rt here). */
static uint64_t ns_to_ticks(uint64_t ns)
{
    uint64_t freq = skiff_xen.counter_freq;
    uint64_t s = ns / 1000000000u, rest = ns % 1000000000u;
    if (s > UINT64_MAX / freq)
        return UINT64_MAX;
    uint64_t t = s * freq, r = rest * freq / 1000000000u;
    return t + r < t ? UINT64_MAX : t + r;
}

void skiff_xen_arch_wait_until(uint64_t deadline_ns)
{
    uint64_t now = skiff_clock_monotonic();
    if (now >= deadline_ns)
        return;
    skiff_gic_drain();                       /* forget old edges first */
    if (!skiff_gic_ready || !skiff_board.timer_intid) {
        __asm__ __volatile__("yield");
        return;
    }
    uint64_t ticks = ns_to_ticks(deadline_ns - now);
    uint64_t cval = skiff_rdtsc() + ticks;
    WRITE_SYSREG(cntv_cval_el0, cval < ticks ? UINT64_MAX : cval);
    WRITE_SYSREG(cntv_ctl_el0, 1);          /* enabled, not masked */
    isb();
    wfi();
    WRITE_SYSREG(cntv_ctl_el0, 2);          /* off again: its level drops */
    isb();
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

static _Noreturn void early_fail(const char *why)
{
    struct skiff_fmt f = { .len = 0 };
    skiff_fmt_str(&f, "Skiff: ABORT: boot: ");
    skiff_fmt_str(&f, why);
    if (f.len < sizeof f.buf)
        f.buf[f.len++] = '\n';
    skiff_puts_raw(f.buf, f.len);          /* the UART if known, else console_io */
    skiff_halt(255, 0);
}

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
        early_fail("no device tree in x0");
    if (skiff_fdt_parse(fdt, &skiff_board) != 0)
        early_fail(skiff_board.error);
    struct skiff_board *b = &skiff_board;
    skiff_xen.console_io = b->uart == 0;
    struct skiff_mmio_range dev[5] = {
        { b->uart, 0x1000 }, { b->rtc, 0x1000 }, { b->gicd, b->gicd_size }, { b->gicc, b->gicc_size },
        { b->gicr, b->gicr_size } };
    const char *e = skiff_mmu_build(b->ram_base, b->ram_size, dev, 5);
    if (e)
        early_fail(e);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* skiff_platform_start: MMU and caches on, on SP_EL0; never returns. */
__attribute__((noreturn, used, no_stack_protector))
void skiff_platform_start(void)
{
    struct skiff_board *b = &skiff_board;
    uint64_t freq = READ_SYSREG(cntfrq_el0) & 0xffffffffu;
    if (freq == 0)
        skiff_panic("CNTFRQ_EL0 is 0: the generic timer frequency is unknown");
    skiff_xen.counter_freq = freq;
    skiff_tsc_mult = (1000000000ull << 32) / freq;
    WRITE_SYSREG(cntv_ctl_el0, 2);          /* timer off, output masked */
    isb();
    if (skiff_gic_init() && b->timer_intid)
        skiff_gic_enable(b->timer_intid, 0);
    if (b->rtc) {
        wall_base_ns = (uint64_t)mmio_read32(b->rtc + RTC_DR) * 1000000000ull;
        wall_base_mono = skiff_clock_monotonic();
        skiff_xen.wall_clock = 1;
    }

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
