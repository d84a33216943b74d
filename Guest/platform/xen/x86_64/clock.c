/*
 * clock.c: time under Xen on x86_64: the shared info page's vcpu_time_info
 * and wall clock, and blocking waits with SCHEDOP_poll.
 *
 * The shared info page is mapped over a page of our BSS with
 * XENMEM_add_to_physmap (XENMAPSPACE_shared_info). vCPU 0's vcpu_time_info
 * gives Xen's TSC scaling: system time (ns) = system_time +
 * ((tsc - tsc_timestamp) << shift) * mul >> 32. The runtime's monotonic
 * clock (skiff_rt.h: TSC * skiff_tsc_mult >> 32, inline, no hypercall) uses
 * the same scale, so it runs at Xen's rate; Xen's own system time is read
 * only to turn a deadline into a SCHEDOP_poll timeout. Wall time is read
 * once at start, the shared info's wc_sec/wc_nsec (the wall time at system
 * time 0) plus the system time, and then extended with the monotonic clock,
 * as on the other platforms: under TCG Xen corrects its system time by
 * steps of up to ~15 % in its first seconds (its TSC calibration), and a
 * wall clock following them would disagree with the monotonic one.
 *
 * Waiting. SCHEDOP_block wakes an HVM-container (PVH) vCPU only by an
 * interrupt: it would need the event-channel upcall (HVM_PARAM_CALLBACK_IRQ
 * vector, a handler clearing evtchn_upcall_pending and the port bits) plus
 * VCPUOP_set_singleshot_timer and a VIRQ_TIMER binding. SCHEDOP_poll with
 * no ports and an absolute timeout blocks the vCPU in Xen until the timeout
 * (or until any event is sent to the domain) with none of that plumbing,
 * so that is what a wait is here: the vCPU is descheduled, never spinning.
 */
#include "x86.h"

/* x86_64 shared_info offsets (Xen public xen.h, XEN_LEGACY_MAX_VCPUS = 32). */
#define SHINFO_VCPU0_TIME  32
#define SHINFO_WC_VERSION  3072
#define SHINFO_WC_SEC      3076
#define SHINFO_WC_NSEC     3080
#define SHINFO_WC_SEC_HI   3084

static uint8_t shared_info[4096] __attribute__((aligned(4096)));
static volatile struct xen_vcpu_time_info *vti;
static uint64_t wall_base_ns, wall_base_mono;

#define barrier() __asm__ __volatile__("" ::: "memory")

static uint64_t scale(uint64_t delta, int8_t shift, uint32_t mul)
{
    if (shift < 0)
        delta >>= -shift;
    else
        delta <<= shift;
    return (uint64_t)(((unsigned __int128)delta * mul) >> 32);
}

/* Xen system time now (ns since Xen started). */
static uint64_t xen_system_time(void)
{
    for (;;) {
        uint32_t v = vti->version;
        barrier();
        uint64_t tsc = skiff_rdtsc();
        uint64_t stamp = vti->tsc_timestamp, sys = vti->system_time;
        uint32_t mul = vti->tsc_to_system_mul;
        int8_t shift = vti->tsc_shift;
        barrier();
        if ((v & 1) == 0 && vti->version == v)
            return sys + (tsc > stamp ? scale(tsc - stamp, shift, mul) : 0);
    }
}

static uint64_t xen_wall_now(void)
{
    volatile uint32_t *wc_version = (volatile uint32_t *)(shared_info + SHINFO_WC_VERSION);
    for (;;) {
        uint32_t v = *wc_version;
        barrier();
        uint64_t sec = ((uint64_t)*(volatile uint32_t *)(shared_info + SHINFO_WC_SEC_HI) << 32)
            | *(volatile uint32_t *)(shared_info + SHINFO_WC_SEC);
        uint32_t nsec = *(volatile uint32_t *)(shared_info + SHINFO_WC_NSEC);
        barrier();
        if ((v & 1) == 0 && *wc_version == v)
            return sec * 1000000000ull + nsec + xen_system_time();
    }
}

void skiff_x86_xen_clock_init(void)
{
    struct xen_add_to_physmap map = {
        .domid = XEN_DOMID_SELF, .size = 0, .space = XEN_MAPSPACE_SHARED_INFO,
        .idx = 0, .gpfn = (uint64_t)(uintptr_t)shared_info >> 12 };
    if (xen_memory_op(XEN_XENMEM_ADD_TO_PHYSMAP, &map) < 0)
        skiff_panic("boot: XENMEM_add_to_physmap of the shared info page failed");
    vti = (volatile struct xen_vcpu_time_info *)(shared_info + SHINFO_VCPU0_TIME);
    uint32_t mul;
    int8_t shift;
    uint32_t v;
    do {
        v = vti->version;
        barrier();
        mul = vti->tsc_to_system_mul;
        shift = vti->tsc_shift;
        barrier();
    } while ((v & 1) || vti->version != v);
    if (mul == 0)
        skiff_panic("boot: Xen's vcpu_time_info has no TSC scale");
    /* ns = tsc * mult >> 32 with mult = mul scaled by 2^shift. */
    skiff_tsc_mult = shift < 0 ? (uint64_t)mul >> -shift : (uint64_t)mul << shift;
    /* Hz = 10^9 * 2^32 / mult. */
    skiff_xen.counter_freq = (1000000000ull << 32) / skiff_tsc_mult;
    wall_base_ns = xen_wall_now();
    wall_base_mono = skiff_clock_monotonic();
    skiff_xen.wall_clock = 1;
}

uint64_t skiff_x86_xen_wall(void)
{
    return wall_base_ns + (skiff_clock_monotonic() - wall_base_mono);
}

void skiff_x86_xen_wait_until(uint64_t deadline_ns)
{
    uint64_t now = skiff_clock_monotonic();
    if (now >= deadline_ns)
        return;
    uint64_t left = deadline_ns - now;
    if (left > 3600ull * 1000000000ull)
        left = 3600ull * 1000000000ull;   /* re-checked by the caller's loop */
    struct xen_sched_poll poll = { .ports = 0, .nr_ports = 0, .timeout = xen_system_time() + left };
    xen_sched_op(XEN_SCHEDOP_POLL, &poll);
}
