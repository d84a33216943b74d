/*
 * start.c: aarch64 start-up (before and after the MMU), exit and abort,
 * exception reports, stack protector, arc4random and the command line.
 *
 * boot.S calls skiff_a64_early() with the MMU off (DTB walk, page tables),
 * then skiff_a64_start() with the MMU and caches on. Exit: status 0 powers
 * off through PSCI SYSTEM_OFF (QEMU exits 0); any other status goes through
 * semihosting SYS_EXIT, which QEMU turns into its own exit status when
 * started with `-semihosting-config enable=on` (skiff run does). Without
 * semihosting, the HLT traps as an undefined instruction; the handler
 * recognises that probe, the status is printed, and PSCI powers off (QEMU
 * then exits 0).
 */
#include "arch.h"

#define PSCI_SYSTEM_OFF  0x84000008u
#define SEMIHOST_SYS_EXIT 0x18u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

/* Global-guard stack protector (swiftc and clang both use this symbol). */
uintptr_t __stack_chk_guard = 0x595e9fbd94fda766ull;

static struct hvt_boot_info boot_info;
const struct hvt_boot_info *skiff_boot_info = &boot_info;

static uint64_t random_state[2];
static const char *cmdline = "";
static const char *device_args = "";
static volatile int semihost_probing;
extern char skiff_semihost_hlt[];

int main(int argc, char **argv);   /* Embedded Swift's @main entry */
const struct mft *skiff_a64_manifest(void);

/* ---- Power off and exit ------------------------------------------------- */

static void psci_system_off(void)
{
    register uint64_t x0 __asm__("x0") = PSCI_SYSTEM_OFF;
    if (!skiff_board.psci_v02)
        return;                          /* PSCI 0.1 has no SYSTEM_OFF */
    if (skiff_board.psci == PSCI_HVC)
        __asm__ __volatile__("hvc #0" : "+r"(x0) : : "x1", "x2", "x3", "memory");
    else if (skiff_board.psci == PSCI_SMC)
        __asm__ __volatile__("smc #0" : "+r"(x0) : : "x1", "x2", "x3", "memory");
}

/* Semihosting call; the HLT is at skiff_semihost_hlt so the trap handler
 * can recognise it when semihosting is off. Never inlined (one label). */
__attribute__((noinline))
static uint64_t semihost_call(uint64_t op, const void *arg)
{
    register uint64_t x0 __asm__("x0") = op;
    register uint64_t x1 __asm__("x1") = (uint64_t)(uintptr_t)arg;
    semihost_probing = 1;
    __asm__ __volatile__(".globl skiff_semihost_hlt\n"
                         "skiff_semihost_hlt:\n\t"
                         "hlt #0xf000"
                         : "+r"(x0) : "r"(x1) : "memory");
    semihost_probing = 0;
    return x0;
}

_Noreturn void skiff_halt(int status)
{
    if ((status & 0xff) != 0) {
        uint64_t block[2] = { ADP_STOPPED_APPLICATION_EXIT, (uint64_t)(status & 0xff) };
        semihost_call(SEMIHOST_SYS_EXIT, block);
        /* Still here: no semihosting. Say what the status was. */
        struct skiff_fmt f = { .len = 0 };
        skiff_fmt_str(&f, "Skiff: exit status ");
        skiff_fmt_dec(&f, (uint64_t)(status & 0xff));
        skiff_fmt_str(&f, " (no semihosting: the machine exits 0)\n");
        skiff_puts_raw(f.buf, f.len);
    }
    psci_system_off();
    for (;;)
        __asm__ __volatile__("wfi");
}

_Noreturn void skiff_exit(int status)
{
    skiff_console_flush();
    skiff_halt(status);
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
    skiff_halt(255);
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
    if (f.len < sizeof f.buf)
        f.buf[f.len++] = '\n';
    skiff_console_flush();
    skiff_puts_raw(f.buf, f.len);
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

/* ---- Exceptions --------------------------------------------------------- */

static const char *ec_name(uint32_t ec)
{
    switch (ec) {
    case 0x00: return "undefined instruction";
    case 0x01: return "WFI/WFE trapped";
    case 0x07: return "FP/SIMD access trapped";
    case 0x0e: return "illegal execution state";
    case 0x15: return "SVC";
    case 0x16: return "HVC";
    case 0x17: return "SMC";
    case 0x18: return "system register access trapped";
    case 0x20: case 0x21: return "instruction abort";
    case 0x22: return "PC alignment fault";
    case 0x24: case 0x25: return "data abort";
    case 0x26: return "SP alignment fault";
    case 0x2c: return "floating-point exception";
    case 0x2f: return "SError";
    case 0x30: case 0x31: return "breakpoint";
    case 0x32: case 0x33: return "software step";
    case 0x34: case 0x35: return "watchpoint";
    case 0x3c: return "BRK (Swift runtime failure or trap)";
    default: return "exception";
    }
}

static const char *fault_status(uint32_t fsc)
{
    switch (fsc & 0x3c) {
    case 0x04: return "translation fault";
    case 0x08: return "access flag fault";
    case 0x0c: return "permission fault";
    }
    if (fsc == 0x21) return "alignment fault";
    if (fsc == 0x10) return "synchronous external abort";
    if (fsc == 0x00 || fsc == 0x01 || fsc == 0x02 || fsc == 0x03) return "address size fault";
    return "fault";
}

/*
 * skiff_a64_trap: every exception (boot.S vectors). Returns only to resume
 * after the semihosting probe; everything else prints one abort line with
 * the decoded ESR, ELR and FAR and ends the run with status 255.
 */
__attribute__((no_stack_protector, used))
void skiff_a64_trap(struct skiff_a64_frame *fr, uint64_t kind)
{
    static int in_trap;
    uint32_t ec = (uint32_t)(fr->esr >> 26) & 0x3f;
    unsigned type = kind & 3, group = (unsigned)(kind >> 2);

    if (type == 0 && ec == 0 && semihost_probing
        && fr->elr == (uint64_t)(uintptr_t)skiff_semihost_hlt) {
        fr->elr += 4;                    /* no semihosting: skip the HLT */
        fr->x[0] = (uint64_t)-1;
        return;
    }
    if (in_trap++) {
        static const char again[] = "Skiff: ABORT: fault while reporting a fault\n";
        skiff_puts_raw(again, sizeof again - 1);
        skiff_halt(255);
    }
    struct skiff_fmt f = { .len = 0 };
    skiff_fmt_str(&f, "Skiff: ABORT: trap: type=");
    if (type == 0)
        skiff_fmt_str(&f, ec_name(ec));
    else
        skiff_fmt_str(&f, type == 1 ? "IRQ" : type == 2 ? "FIQ" : "SError");
    skiff_fmt_str(&f, " esr=");
    skiff_fmt_hex(&f, fr->esr);
    skiff_fmt_str(&f, " elr=");
    skiff_fmt_hex(&f, fr->elr);
    skiff_fmt_str(&f, " far=");
    skiff_fmt_hex(&f, fr->far);
    skiff_fmt_str(&f, " sp=");
    skiff_fmt_hex(&f, group == 0 ? fr->sp : (uint64_t)(uintptr_t)(fr + 1));
    if (type == 0 && (ec == 0x20 || ec == 0x21 || ec == 0x24 || ec == 0x25)) {
        uint32_t fsc = (uint32_t)fr->esr & 0x3f;
        skiff_fmt_str(&f, " (");
        skiff_fmt_str(&f, fault_status(fsc));
        if ((fsc & 0x30) == 0 && (fsc & 0x0c)) {
            skiff_fmt_str(&f, " level ");
            skiff_fmt_dec(&f, fsc & 3);
        }
        if (ec >= 0x24)
            skiff_fmt_str(&f, (fr->esr & (1u << 6)) ? ", write" : ", read");
        else
            skiff_fmt_str(&f, ", execute");
        skiff_fmt_str(&f, ")");
        uint64_t guard = (uint64_t)(uintptr_t)__skiff_guard;
        if (fr->far >= guard && fr->far < (uint64_t)(uintptr_t)__skiff_stack_bottom)
            skiff_fmt_str(&f, " (stack overflow)");
        else if (fr->far < 4096)
            skiff_fmt_str(&f, " (null pointer)");
    } else if (type == 0 && ec == 0x3c) {
        skiff_fmt_str(&f, " imm=");
        skiff_fmt_hex(&f, fr->esr & 0xffff);
    }
    if (group == 1)
        skiff_fmt_str(&f, " (in an exception handler)");
    else if (group >= 2)
        skiff_fmt_str(&f, " (from EL0)");
    if (f.len < sizeof f.buf)
        f.buf[f.len++] = '\n';
    skiff_console_flush();
    skiff_puts_raw(f.buf, f.len);
    skiff_halt(255);
}

/* ---- Start-up ------------------------------------------------------------ */

static _Noreturn void early_fail(const char *why)
{
    struct skiff_fmt f = { .len = 0 };
    skiff_fmt_str(&f, "Skiff: ABORT: boot: ");
    skiff_fmt_str(&f, why);
    if (f.len < sizeof f.buf)
        f.buf[f.len++] = '\n';
    skiff_puts_raw(f.buf, f.len);      /* works with the MMU off if the UART is known */
    skiff_halt(255);
}

/*
 * skiff_a64_early: MMU off. Find the DTB (x0 for an Image; an ELF loaded by
 * QEMU gets x0 = 0 and its DTB at RAM base), read the board, build the page
 * tables. The DTB is not needed after this: what is used later is copied.
 */
__attribute__((used, no_stack_protector))
void skiff_a64_early(uint64_t dtb, uint64_t el)
{
    const void *fdt = (const void *)(uintptr_t)dtb;
    (void)el;
    if (!skiff_fdt_valid(fdt))
        fdt = (const void *)(uintptr_t)SKIFF_RAM_BASE;
    if (skiff_fdt_parse(fdt, &skiff_board) != 0)
        early_fail(skiff_board.error);
    const char *e = skiff_mmu_build();
    if (e)
        early_fail(e);
}

/*
 * Splits /chosen/bootargs: "skiff.TOKEN... -- ARGS" gives the Skiff part
 * (device names, devices.c) and ARGS; anything else is all ARGS. After "--"
 * exactly one space is dropped, so ARGS keep leading spaces (empty args).
 */
static void split_bootargs(char *s)
{
    cmdline = s;
    size_t i = 0;
    for (;;) {
        if (s[i] == '-' && s[i + 1] == '-' && (s[i + 2] == ' ' || s[i + 2] == 0)) {
            device_args = s;
            cmdline = s + i + 2 + (s[i + 2] == ' ');
            if (i > 0)
                s[i - 1] = 0;        /* the space before "--" */
            else
                device_args = "";
            return;
        }
        if (memcmp(s + i, "skiff.", 6) != 0)
            return;                  /* not ours: the whole string is ARGS */
        while (s[i] && s[i] != ' ')
            i++;
        if (s[i] == 0)
            return;
        i++;
    }
}

const char *skiff_bootargs_devices(void)
{
    return device_args;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static void seed_random(void)
{
    uint64_t s[2] = { 0x9e3779b97f4a7c15ull, 0xd1b54a32d192ed03ull };
    for (size_t i = 0; i < skiff_board.seed_len; i++)
        s[(i / 8) & 1] ^= (uint64_t)skiff_board.seed[i] << (8 * (i % 8));
    s[0] ^= skiff_rdtsc();
    s[1] ^= rotl(skiff_rdtsc(), 29);
    random_state[0] = s[0] ? s[0] : 1;
    random_state[1] = s[1];
}

/*
 * skiff_a64_start: MMU and caches on, on SP_EL0. No stack protector here:
 * this frame is live while the guard changes, and it never returns.
 */
__attribute__((noreturn, used, no_stack_protector))
void skiff_a64_start(void)
{
    struct skiff_board *b = &skiff_board;
    skiff_clock_init();
    seed_random();
    uint64_t guard;
    arc4random_buf(&guard, sizeof guard);
    /* Solo5's canary recipe: bits 8-15 zero stop string overflows. */
    __stack_chk_guard = guard & ~(uintptr_t)0xff00;

    uint64_t ram_end = b->ram_base + b->ram_size;
    skiff_heap_init(__skiff_image_end, (void *)(uintptr_t)ram_end);
    if (b->have_bootargs)
        split_bootargs(b->bootargs);
    skiff_gic_init();
    skiff_devices_init();

    boot_info.mem_size = b->ram_size;
    boot_info.kernel_end = (uint64_t)(uintptr_t)__skiff_image_end;
    boot_info.cpu_cycle_freq = skiff_counter_freq;
    boot_info.cmdline = (hvt_gpa_t)(uintptr_t)cmdline;
    boot_info.mft = (hvt_gpa_t)(uintptr_t)skiff_a64_manifest();

    int status = main(0, 0);
    skiff_exit(status);
}

/* ---- Randomness, command line, memory ----------------------------------- */

/*
 * arc4random_buf: Embedded Swift seeds Hasher with it. xoroshiro128++ seeded
 * from the DTB's rng-seed (QEMU fills it from the host) and the counter:
 * fine for hash seeds and canaries, NOT a cryptographic generator.
 */
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
    return cmdline;
}

uint64_t skiff_mem_size(void)
{
    return skiff_board.ram_size;
}
