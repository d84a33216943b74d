/*
 * start.c: CPL3 start-up, exit/abort, fault reports, stack protector and
 * arc4random for Skiff guests.
 *
 * start.S's _start iretq's to skiff_user_start at CPL3 with the boot info
 * pointer. From here on everything runs natively (platform-notes section 1).
 */
#include "rt.h"

const struct hvt_boot_info *skiff_boot_info;
uint64_t skiff_tsc_mult;

/* Global-guard stack protector (swiftc and clang both use this symbol). */
uintptr_t __stack_chk_guard = 0x595e9fbd94fda766ull;

static uint64_t random_state[2];

int main(int argc, char **argv);   /* Embedded Swift's @main entry */

/* Heap end: leave a page below mem_size so no buffer ends at mem_size (the
 * tender rejects a hypercall buffer ending exactly there, spec 15.1). */
#define HEAP_END_GAP 4096

/*
 * skiff_user_start: first CPL3 code. No stack protector here: this frame is
 * live while the guard changes, and it never returns.
 */
__attribute__((noreturn, no_stack_protector, used))
void skiff_user_start(const struct hvt_boot_info *bi)
{
    skiff_boot_info = bi;
    uint64_t t1 = skiff_rdtsc();
    uint64_t t2 = skiff_rdtsc();
    /* Solo5's canary recipe: bits 8-15 zero stop string overflows. */
    __stack_chk_guard = (t1 + (t2 << 32)) & ~(uintptr_t)0xff00;
    random_state[0] = t1 ^ 0x9e3779b97f4a7c15ull;
    random_state[1] = (t2 << 17) ^ bi->cpu_cycle_freq ^ 0xd1b54a32d192ed03ull;

    uint64_t freq = bi->cpu_cycle_freq ? bi->cpu_cycle_freq : 1000000000ull;
    /* ns = ticks * (1e9 << 32) / freq >> 32; 1e9 << 32 < 2^62 fits. */
    skiff_tsc_mult = (1000000000ull << 32) / freq;

    uintptr_t heap_end = bi->mem_size > HEAP_END_GAP ? bi->mem_size - HEAP_END_GAP : 0;
    skiff_heap_init(__skiff_image_end, (void *)heap_end);
    skiff_devices_init();

    int status = main(0, 0);
    skiff_exit(status);
}

_Noreturn void skiff_halt(int status, const void *cookie)
{
    volatile struct hvt_hc_halt arg = {
        .cookie = (hvt_gpa_t)(uintptr_t)cookie, .exit_status = status };
    for (;;)
        skiff_hvt_halt(&arg);   /* the tender never resumes us */
}

_Noreturn void skiff_exit(int status)
{
    skiff_console_flush();
    skiff_net_ring_drain();
    skiff_halt(status, 0);
}

/* Abort line: "Skiff: ABORT: <msg>\n" as a single PUTS. */
_Noreturn void skiff_abort(const char *msg, size_t len)
{
    static char line[512];
    static const char prefix[] = "Skiff: ABORT: ";
    size_t n = sizeof prefix - 1;
    skiff_console_flush();
    memcpy(line, prefix, n);
    if (len > sizeof line - n - 1)
        len = sizeof line - n - 1;
    memcpy(line + n, msg, len);
    n += len;
    line[n++] = '\n';
    skiff_puts_raw(line, n);
    skiff_halt(255, 0);
}

static const char *const trap_names[32] = {
    "#DE", "#DB", "#NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
    "#DF", "#CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "#15",
    "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "#22", "#23",
    "#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31",
};

/* Solo5's trap-frame cookie layout (spec 9.7), built by skiff_trap_entry. */
struct trap_frame {
    uint64_t cr2, ec, rip, cs, rflags, rsp, ss;
};

/*
 * skiff_trap: every CPU exception (vectors 0-31) ends here at CPL3, on the
 * trap stack, reflected by start.S's isr_common. Prints one abort line and
 * HALTs with 255, passing the frame as the HALT cookie like Solo5.
 */
__attribute__((noreturn, no_stack_protector, used))
void skiff_trap(uint64_t vector, struct trap_frame *tf)
{
    static int in_trap;
    if (in_trap++)
        skiff_halt(255, 0);   /* fault while reporting a fault */
    struct skiff_fmt f = { .len = 0 };
    skiff_fmt_str(&f, "Skiff: ABORT: trap: type=");
    skiff_fmt_str(&f, trap_names[vector & 31]);
    skiff_fmt_str(&f, " ec=");
    skiff_fmt_hex(&f, tf->ec);
    skiff_fmt_str(&f, " rip=");
    skiff_fmt_hex(&f, tf->rip);
    skiff_fmt_str(&f, " rsp=");
    skiff_fmt_hex(&f, tf->rsp);
    skiff_fmt_str(&f, " rflags=");
    skiff_fmt_hex(&f, tf->rflags);
    if (vector == 14) {
        skiff_fmt_str(&f, " cr2=");
        skiff_fmt_hex(&f, tf->cr2);
        uintptr_t guard = (uintptr_t)__skiff_guard;
        if (tf->cr2 >= guard && tf->cr2 < (uintptr_t)__skiff_stack_bottom)
            skiff_fmt_str(&f, " (stack overflow)");
        else if (tf->cr2 < 4096)
            skiff_fmt_str(&f, " (null pointer)");
    }
    if ((tf->cs & 3) != 3)
        skiff_fmt_str(&f, " (in CPL0 code)");
    if (f.len < sizeof f.buf)
        f.buf[f.len++] = '\n';
    skiff_console_flush();
    skiff_puts_raw(f.buf, f.len);
    skiff_halt(255, tf);
}

__attribute__((noreturn, used))
void __stack_chk_fail(void)
{
    static const char msg[] = "Stack corruption detected";
    skiff_abort(msg, sizeof msg - 1);
}

_Noreturn void skiff_heap_corrupt(const char *what)
{
    struct skiff_fmt f = { .len = 0 };
    skiff_fmt_str(&f, "heap corruption: ");
    skiff_fmt_str(&f, what);
    skiff_abort(f.buf, f.len);
}

/*
 * arc4random_buf: Embedded Swift seeds Hasher with it. xoroshiro128++ seeded
 * from the TSC at start: unpredictable enough for hash seeds, NOT a
 * cryptographic generator (the hvt ABI offers no entropy source).
 */
static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void arc4random_buf(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        uint64_t s0 = random_state[0], s1 = random_state[1];
        uint64_t r = rotl(s0 + s1, 17) + s0;
        s1 ^= s0;
        random_state[0] = rotl(s0, 49) ^ s1 ^ (s1 << 21);
        random_state[1] = rotl(s1, 28);
        size_t k = n < 8 ? n : 8;
        memcpy(p, &r, k);
        p += k;
        n -= k;
    }
}

uint32_t arc4random(void)
{
    uint32_t r;
    arc4random_buf(&r, sizeof r);
    return r;
}

const char *skiff_cmdline(void)
{
    return (const char *)(uintptr_t)skiff_boot_info->cmdline;
}

uint64_t skiff_mem_size(void)
{
    return skiff_boot_info->mem_size;
}
