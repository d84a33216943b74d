/*
 * timer.c: the clocks and timed waits of the arm64 Image platforms (QEMU
 * virt, Xen): monotonic time from the generic timer, wall time from the
 * PL031 RTC, and waiting for a deadline with WFI.
 *
 * Monotonic: CNTVCT_EL0 (the virtual counter; CNTVOFF_EL2 is 0 when we came
 * from EL2) at CNTFRQ_EL0 Hz, converted with the same 32.32 multiplier the
 * x86_64 runtime uses for the TSC (skiff_rt.h). CNTFRQ_EL0 plays the role
 * of hvt's cpu_cycle_freq and is reported there in skiff_boot_info.
 *
 * Wall: the PL031 counts whole seconds since the epoch. It is read once at
 * start and extended with the monotonic clock, so wall time is as stable as
 * the counter and lags the host by less than a second (the RTC's unknown
 * sub-second phase). Without an RTC in the DTB the wall clock starts at 0.
 *
 * Waiting: interrupts stay masked (PSTATE.I = 1) for the whole run. A wait
 * arms the virtual timer (CNTV_CVAL_EL0 = deadline) whose PPI is enabled in
 * the GIC, and executes WFI: a pending interrupt wakes WFI even while masked
 * (under Xen, which traps the WFI, the vCPU blocks until one is pending).
 * Nothing is taken as an exception. Without a usable GIC, a wait yields once
 * and the caller's loop spins on the counter instead. The platform decides
 * what to acknowledge before a wait (virt: clock.c; Xen: start.c).
 */
#include "rt.h"
#include "layout.h"
#include "fdt.h"      /* skiff_board: the RTC and the timer's INTID */
#include "gic.h"

#define RTC_DR 0x000

uint64_t skiff_counter_freq;
uint64_t skiff_tsc_mult;
static uint64_t wall_base_ns, wall_base_mono;

void skiff_clock_init(void)
{
    uint64_t freq = READ_SYSREG(cntfrq_el0) & 0xffffffffu;
    if (freq == 0)
        skiff_panic("CNTFRQ_EL0 is 0: the generic timer frequency is unknown");
    skiff_counter_freq = freq;
    /* ns = ticks * (1e9 << 32) / freq >> 32 */
    skiff_tsc_mult = (1000000000ull << 32) / freq;
    WRITE_SYSREG(cntv_ctl_el0, 2);          /* timer off, output masked */
    isb();
    if (skiff_board.rtc) {
        wall_base_ns = (uint64_t)mmio_read32(skiff_board.rtc + RTC_DR) * 1000000000ull;
        wall_base_mono = skiff_clock_monotonic();
    }
}

uint64_t skiff_clock_wall(void)
{
    return wall_base_ns + (skiff_clock_monotonic() - wall_base_mono);
}

uint64_t skiff_ns_to_ticks(uint64_t ns)
{
    /* Whole seconds and the rest separately: no 128-bit division (no
     * compiler-rt here); freq < 2^32 keeps the second product below 2^62. */
    uint64_t s = ns / 1000000000u, rest = ns % 1000000000u;
    if (s > UINT64_MAX / skiff_counter_freq)
        return UINT64_MAX;
    uint64_t t = s * skiff_counter_freq, r = rest * skiff_counter_freq / 1000000000u;
    return t + r < t ? UINT64_MAX : t + r;
}

void skiff_wait_until(uint64_t deadline)
{
    if (skiff_rdtsc() >= deadline)
        return;
    if (!skiff_gic_ready || !skiff_board.timer_intid) {
        __asm__ __volatile__("yield");
        return;
    }
    WRITE_SYSREG(cntv_cval_el0, deadline);
    WRITE_SYSREG(cntv_ctl_el0, 1);          /* enabled, not masked */
    isb();
    wfi();
    WRITE_SYSREG(cntv_ctl_el0, 2);          /* off again: its level drops */
    isb();
}
