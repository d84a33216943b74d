/*
 * pc.c: the PVH image on a plain PVH loader without Xen (QEMU -kernel,
 * -machine microvm/q35/pc; skiff-hvt): the TSC and local APIC timer rates,
 * the wait, and the CMOS wall clock. All of it runs at CPL3 (pvh.S): the
 * ports through the TSS's I/O bitmap, the APIC's page is a user page, and
 * CPUID, the APIC base MSR and `hlt` are pvh.S's int3 operations.
 *
 * TSC rate: CPUID leaf 0x15 when it names one (crystal Hz x ratio: real
 * CPUs and KVM with a known TSC frequency), else measured against the 8254
 * PIT (channel 0 as a free-running 1193182 Hz counter, read by latching;
 * no speaker gate, port 0x61, needed) over 20 ms. Without a PIT (reads are
 * all ones, the count never moves) the rate is assumed to be 1 GHz and a
 * warning says so: clocks are then only roughly right.
 *
 * Waiting: the local APIC timer, one-shot, vector SKIFF_VEC_TIMER, its rate
 * measured against the TSC; a wait programs it and asks CPL0 for
 * `sti; hlt; cli` (SKIFF_OP_WAIT; the STI shadow makes the pair atomic: a
 * timer that fired before the HLT ends it at once). Interrupts are enabled nowhere else; the
 * 8259 PICs are masked so that nothing but the APIC timer can arrive. If
 * the APIC is not at SKIFF_LAPIC_BASE, waits spin with PAUSE (documented
 * fallback).
 *
 * Wall clock: the CMOS RTC (BCD or binary, 12/24 h, century register 0x32)
 * read once at start, then extended with the monotonic clock, as the QEMU
 * virt platform does with its PL031.
 */
#include "x86.h"

static uint64_t tsc_hz;
static uint64_t lapic_hz;
static int lapic_ok;
static uint64_t wall_base_ns, wall_base_mono;

static inline volatile uint32_t *lapic(uint32_t reg)
{
    return (volatile uint32_t *)(uintptr_t)(SKIFF_LAPIC_BASE + reg);
}

static uint16_t pit_read(void)
{
    outb(SKIFF_PIT_CMD, 0x00);              /* latch channel 0 */
    uint8_t lo = inb(SKIFF_PIT_CH0);
    uint8_t hi = inb(SKIFF_PIT_CH0);
    return (uint16_t)(lo | (hi << 8));
}

/* TSC ticks per second, or 0 if nothing measures it. */
static uint64_t tsc_rate(void)
{
    uint32_t a, b, c, d;
    pvh_op_cpuid(0, 0, &a, &b, &c, &d);
    if (a >= 0x15) {
        pvh_op_cpuid(0x15, 0, &a, &b, &c, &d);
        if (a && b && c)
            return (uint64_t)c * b / a;
    }
    /* PIT channel 0, mode 2 (rate generator), count 65536, binary. */
    outb(SKIFF_PIT_CMD, 0x34);
    outb(SKIFF_PIT_CH0, 0);
    outb(SKIFF_PIT_CH0, 0);
    uint16_t prev = pit_read();
    uint64_t t0 = skiff_rdtsc(), elapsed = 0;
    for (uint64_t reads = 0; elapsed < SKIFF_PIT_HZ / 50; reads++) {
        if (reads > 2000000 && elapsed == 0)
            return 0;                         /* no PIT */
        uint16_t cur = pit_read();
        elapsed += (uint16_t)(prev - cur);
        prev = cur;
    }
    uint64_t t1 = skiff_rdtsc();
    /* Channel 0 back to mode 0 (one output edge, then quiet). */
    outb(SKIFF_PIT_CMD, 0x30);
    outb(SKIFF_PIT_CH0, 0xff);
    outb(SKIFF_PIT_CH0, 0xff);
    return (t1 - t0) * SKIFF_PIT_HZ / elapsed;   /* < 2^64: 20 ms of TSC x 2^21 */
}

static void lapic_init(void)
{
    uint64_t base = pvh_op_rdmsr(0x1b);             /* IA32_APIC_BASE */
    if (!(base & (1u << 11)) || (base & ~0xfffull & 0xffffffffffull) != SKIFF_LAPIC_BASE)
        return;                              /* disabled or moved: spin instead */
    *lapic(SKIFF_LAPIC_SVR) = 0x100 | SKIFF_VEC_SPURIOUS;   /* software enable */
    *lapic(SKIFF_LAPIC_TIMER_DIV) = 0xb;                     /* divide by 1 */
    *lapic(SKIFF_LAPIC_LVT_TIMER) = 0x10000 | SKIFF_VEC_TIMER; /* one-shot, masked */
    /* Its rate against the TSC, over ~10 ms. */
    *lapic(SKIFF_LAPIC_TIMER_INIT) = 0xffffffffu;
    uint64_t t0 = skiff_rdtsc();
    while (skiff_rdtsc() - t0 < tsc_hz / 100)
        __asm__ __volatile__("pause");
    uint32_t left = *lapic(SKIFF_LAPIC_TIMER_CUR);
    uint64_t t1 = skiff_rdtsc();
    *lapic(SKIFF_LAPIC_TIMER_INIT) = 0;
    uint64_t counted = 0xffffffffu - left;
    if (counted == 0)
        return;
    lapic_hz = counted * tsc_hz / (t1 - t0);     /* < 2^64: 10 ms of counts x Hz */
    *lapic(SKIFF_LAPIC_LVT_TIMER) = SKIFF_VEC_TIMER;         /* one-shot, unmasked */
    lapic_ok = lapic_hz != 0;
}

static unsigned cmos(unsigned reg)
{
    outb(SKIFF_CMOS_INDEX, (uint8_t)reg);
    return inb(SKIFF_CMOS_DATA);
}

static unsigned from_bcd(unsigned v, int binary)
{
    return binary ? v : (v & 0xf) + 10 * (v >> 4);
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static uint64_t days_from_civil(uint64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    uint64_t era = y / 400, yoe = y - era * 400;
    uint64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    uint64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void rtc_init(void)
{
    for (int i = 0; i < 100000 && (cmos(0x0a) & 0x80); i++)   /* update in progress */
        ;
    unsigned b = cmos(0x0b);
    if (b == 0xff)
        return;                              /* no RTC */
    int binary = b & 0x04, h24 = b & 0x02;
    unsigned sec = from_bcd(cmos(0x00), binary), min = from_bcd(cmos(0x02), binary);
    unsigned hr_raw = cmos(0x04), day = from_bcd(cmos(0x07), binary);
    unsigned mon = from_bcd(cmos(0x08), binary), yr = from_bcd(cmos(0x09), binary);
    unsigned century = from_bcd(cmos(0x32), binary);
    unsigned hr = from_bcd(hr_raw & 0x7f, binary);
    if (!h24 && (hr_raw & 0x80))
        hr = (hr % 12) + 12;
    else if (!h24 && hr == 12)
        hr = 0;
    if (century < 19 || century > 30)
        century = 20;
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hr > 23 || min > 59 || sec > 60)
        return;
    uint64_t days = days_from_civil(century * 100u + yr, mon, day);
    wall_base_ns = ((days * 24 + hr) * 3600 + min * 60 + sec) * 1000000000ull;
    wall_base_mono = skiff_clock_monotonic();
    skiff_xen.wall_clock = 1;
}

void skiff_x86_pc_clock_init(void)
{
    outb(SKIFF_PIC1_DATA, 0xff);             /* mask every 8259 line */
    outb(SKIFF_PIC2_DATA, 0xff);
    tsc_hz = tsc_rate();
    if (tsc_hz == 0) {
        tsc_hz = 1000000000ull;
        skiff_warn("no PIT and no CPUID 0x15: assuming a 1 GHz TSC");
    }
    skiff_tsc_mult = (1000000000ull << 32) / tsc_hz;
    skiff_xen.counter_freq = tsc_hz;
    lapic_init();
    rtc_init();
}

void skiff_x86_pc_wait_until(uint64_t deadline_ns)
{
    uint64_t now = skiff_clock_monotonic();
    if (now >= deadline_ns)
        return;
    if (!lapic_ok) {
        __asm__ __volatile__("pause");
        return;
    }
    /* Whole seconds and the rest apart: no 128-bit division (no compiler-rt). */
    uint64_t left = deadline_ns - now;
    if (left > 4000000000ull)
        left = 4000000000ull;
    uint64_t ticks = left / 1000000000u * lapic_hz + left % 1000000000u * lapic_hz / 1000000000u;
    if (ticks > 0xffffffffu)
        ticks = 0xffffffffu;                 /* the caller loops */
    if (ticks == 0)
        ticks = 1;
    *lapic(SKIFF_LAPIC_TIMER_INIT) = (uint32_t)ticks;
    pvh_op_wait();
    *lapic(SKIFF_LAPIC_TIMER_INIT) = 0;
}

uint64_t skiff_x86_pc_wall(void)
{
    return wall_base_ns + (skiff_clock_monotonic() - wall_base_mono);
}
