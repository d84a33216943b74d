/*
 * runtime.c: what every platform's runtime does the same way: exit and
 * abort, warnings, the stack protector, arc4random and the boot-info
 * accessors. The platform supplies skiff_halt, skiff_puts_raw and the seed.
 */
#include "rt.h"

/* Global-guard stack protector (swiftc and clang both use this symbol);
 * each platform's start code replaces the value before main(). */
uintptr_t __stack_chk_guard = 0x595e9fbd94fda766ull;

static uint64_t random_state[2];

_Noreturn void skiff_exit(int status)
{
    skiff_console_flush();
    skiff_devices_quiesce();
    skiff_halt(status, 0);
}

/* Abort line: "Skiff: ABORT: <msg>\n" as one write. */
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

_Noreturn void skiff_panic(const char *what)
{
    skiff_abort(what, strlen(what));
}

void skiff_warn(const char *what)
{
    struct skiff_fmt f = { .len = 0 };
    skiff_fmt_str(&f, "Skiff: WARNING: ");
    skiff_fmt_str(&f, what);
    skiff_fmt_emit(&f);
}

void skiff_fmt_fault_address(struct skiff_fmt *f, uint64_t addr)
{
    if (addr >= (uintptr_t)__skiff_guard && addr < (uintptr_t)__skiff_stack_bottom)
        skiff_fmt_str(f, " (stack overflow)");
    else if (addr < 4096)
        skiff_fmt_str(f, " (null pointer)");
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
 * by the platform (hvt: the TSC; virt: the DTB's rng-seed and the counter):
 * fine for hash seeds and canaries, NOT a cryptographic generator.
 */
static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void skiff_random_init(uint64_t s0, uint64_t s1)
{
    random_state[0] = s0;
    random_state[1] = s1;
}

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

/* The net-ring switch (NetDevice.sharedRing): bit 0 writes, bit 1 reads; off
 * by default. Only a platform with SKIFF_CAP_NET_RING ever reports it on. */
static int net_ring_enabled;

int skiff_net_ring_active(void)
{
    return (skiff_platform_capabilities() & SKIFF_CAP_NET_RING) ? net_ring_enabled : 0;
}

void skiff_net_ring_enable(int on)
{
    net_ring_enabled = on;
}
