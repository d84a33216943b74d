/*
 * clock.c: time under Xen on x86_64: the shared info page's vcpu_time_info
 * and wall clock, and blocking waits on a single-shot timer event.
 *
 * The shared info page is mapped over a page of our BSS with
 * XENMEM_add_to_physmap (XENMAPSPACE_shared_info). vCPU 0's vcpu_time_info
 * gives Xen's TSC scaling: system time (ns) = system_time +
 * ((tsc - tsc_timestamp) << shift) * mul >> 32. The runtime's monotonic
 * clock (skiff_rt.h: TSC * skiff_tsc_mult >> 32, inline, no hypercall) uses
 * the same scale, so it runs at Xen's rate; Xen's own system time is read
 * only to turn a deadline into a timer or poll timeout. Wall time is read
 * once at start, the shared info's wc_sec/wc_nsec (the wall time at system
 * time 0) plus the system time, and then extended with the monotonic clock,
 * as on the other platforms: under TCG Xen corrects its system time by
 * steps of up to ~15 % in its first seconds (its TSC calibration), and a
 * wall clock following them would disagree with the monotonic one.
 *
 * Waiting: blocking in Xen on a single-shot timer event. At start VIRQ_TIMER
 * is bound to an event channel (unmasked) and the domain's event upcall is
 * set to an interrupt vector (HVM_PARAM_CALLBACK_IRQ, vector type: Xen
 * asserts it while vcpu_info.evtchn_upcall_pending is set, no APIC EOI). A
 * wait acknowledges old events, arms VCPUOP_set_singleshot_timer for the
 * deadline (Xen system time) and executes `sti; hlt`. For an HVM-container
 * (PVH) vCPU Xen turns HLT with interrupts enabled into SCHEDOP_block (the
 * vCPU is descheduled until an event is pending), and the STI shadow makes
 * `sti; hlt` atomic: an event that arrived before it ends it at once, so no
 * wake-up is lost (an explicit SCHEDOP_block hypercall after `sti` would
 * lose one that came between the two). The upcall handler (pvh.S) returns
 * with interrupts off; the events are acknowledged here. If any of the set-up
 * fails, a wait is SCHEDOP_poll with no ports and an absolute timeout,
 * which blocks the vCPU in Xen just the same without an upcall.
 */
#include "x86.h"

/* x86_64 shared_info offsets (Xen public xen.h, XEN_LEGACY_MAX_VCPUS = 32). */
#define SHINFO_VCPU0_UPCALL_PENDING 0
#define SHINFO_VCPU0_PENDING_SEL    8
#define SHINFO_EVTCHN_PENDING       2048
#define SHINFO_VCPU0_TIME  32
#define SHINFO_WC_VERSION  3072
#define SHINFO_WC_SEC      3076
#define SHINFO_WC_NSEC     3080
#define SHINFO_WC_SEC_HI   3084

/* The rest of the Xen interface used here (event_channel.h, hvm/params.h,
 * hvm/hvm_op.h, vcpu.h). */
#define XEN_EVTCHNOP_BIND_VIRQ          1
#define XEN_EVTCHNOP_UNMASK             9
#define XEN_VIRQ_TIMER                  0
#define XEN_HVMOP_SET_PARAM             0
#define XEN_HVM_PARAM_CALLBACK_IRQ      0
#define XEN_HVM_CALLBACK_VECTOR         (2ull << 56)
#define XEN_VCPUOP_SET_SINGLESHOT_TIMER 8

struct xen_evtchn_bind_virq { uint32_t virq, vcpu, port; };
struct xen_evtchn_unmask { uint32_t port; };
struct xen_hvm_param { uint16_t domid; uint16_t pad; uint32_t index; uint64_t value; };
struct xen_vcpu_set_singleshot_timer { uint64_t timeout_abs_ns; uint32_t flags; uint32_t pad; };

static uint8_t shared_info[4096] __attribute__((aligned(4096)));
static volatile struct xen_vcpu_time_info *vti;
static int timer_event_ok;
static uint32_t timer_port;
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

/* VIRQ_TIMER on an unmasked event channel, delivered as SKIFF_VEC_XEN_UPCALL. */
static void timer_event_init(void)
{
    struct xen_evtchn_bind_virq bind = { XEN_VIRQ_TIMER, 0, 0 };
    if (xen_hypercall3(XEN_HC_EVENT_CHANNEL_OP, XEN_EVTCHNOP_BIND_VIRQ, (uint64_t)(uintptr_t)&bind, 0) < 0)
        return;
    if (bind.port >= 64 * 64)
        return;
    struct xen_hvm_param param = { XEN_DOMID_SELF, 0, XEN_HVM_PARAM_CALLBACK_IRQ,
                                   XEN_HVM_CALLBACK_VECTOR | SKIFF_VEC_XEN_UPCALL };
    if (xen_hypercall3(XEN_HC_HVM_OP, XEN_HVMOP_SET_PARAM, (uint64_t)(uintptr_t)&param, 0) < 0)
        return;
    struct xen_evtchn_unmask unmask = { bind.port };
    if (xen_hypercall3(XEN_HC_EVENT_CHANNEL_OP, XEN_EVTCHNOP_UNMASK, (uint64_t)(uintptr_t)&unmask, 0) < 0)
        return;
    timer_port = bind.port;
    timer_event_ok = 1;
}

/* Clear what an event left: the upcall, the selector, the timer port's bit. */
static void ack_events(void)
{
    *(volatile uint8_t *)(shared_info + SHINFO_VCPU0_UPCALL_PENDING) = 0;
    __atomic_store_n((uint64_t *)(shared_info + SHINFO_VCPU0_PENDING_SEL), 0, __ATOMIC_SEQ_CST);
    uint64_t *word = (uint64_t *)(shared_info + SHINFO_EVTCHN_PENDING) + timer_port / 64;
    __atomic_fetch_and(word, ~(1ull << (timer_port % 64)), __ATOMIC_SEQ_CST);
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
    timer_event_init();
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
    uint64_t when = xen_system_time() + left;
    if (!timer_event_ok) {
        struct xen_sched_poll poll = { .ports = 0, .nr_ports = 0, .timeout = when };
        xen_sched_op(XEN_SCHEDOP_POLL, &poll);
        return;
    }
    ack_events();
    struct xen_vcpu_set_singleshot_timer t = { when, 0, 0 };
    xen_hypercall3(XEN_HC_VCPU_OP, XEN_VCPUOP_SET_SINGLESHOT_TIMER, 0, (uint64_t)(uintptr_t)&t);
    __asm__ __volatile__("sti; hlt; cli" ::: "memory");
    ack_events();
}
