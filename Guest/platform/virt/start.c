/*
 * start.c: QEMU virt platform start-up (before and after the MMU), power
 * off and exit status, the semihosting probe, seeds and the command line.
 *
 * arch/aarch64/entry.S calls skiff_platform_early() with the MMU off (DTB
 * walk, page tables), then skiff_platform_start() with the MMU and caches on. Exit: status 0 powers
 * off through PSCI SYSTEM_OFF (QEMU exits 0); any other status goes through
 * semihosting SYS_EXIT, which QEMU turns into its own exit status when
 * started with `-semihosting-config enable=on` (skiff run does). Without
 * semihosting, the HLT traps as an undefined instruction; the handler
 * recognises that probe, the status is printed, and PSCI powers off (QEMU
 * then exits 0). Under skiff-hvt (the arm64 Linux-Image machine) the device
 * tree names Skiff's exit register, which takes every status first.
 */
#include "virt.h"
#include "mmu.h"

#define PSCI_SYSTEM_OFF  0x84000008u
#define SEMIHOST_SYS_EXIT 0x18u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

struct skiff_board skiff_board;
static struct hvt_boot_info boot_info;
const struct hvt_boot_info *skiff_boot_info = &boot_info;

static const char *cmdline = "";
static const char *device_args = "";
static volatile int semihost_probing;
extern char skiff_semihost_hlt[];

int main(int argc, char **argv);   /* Embedded Swift's @main entry */

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

_Noreturn void skiff_halt(int status, const void *cookie)
{
    (void)cookie;                        /* no monitor to hand a trap frame to */
    if (skiff_board.exit_reg) {
        /* skiff-hvt's machine: its exit register takes the status (the run ends at the store). */
        *(volatile uint32_t *)(uintptr_t)skiff_board.exit_reg = (uint32_t)status;
    }
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

/* The console: the PL011 the DTB names (works with the MMU off too). */
void skiff_puts_raw(const void *data, size_t len)
{
    skiff_pl011_write(skiff_board.uart, data, len);
}

/* ---- Exceptions: the semihosting probe --------------------------------- */

/*
 * Called by arch/aarch64/trap.c before it reports an exception: without
 * semihosting, the probe's HLT is an undefined instruction; skip it and
 * make the call return -1.
 */
int skiff_platform_trap_resume(struct skiff_a64_frame *fr, uint32_t ec, unsigned type)
{
    if (type == 0 && ec == 0 && semihost_probing
        && fr->elr == (uint64_t)(uintptr_t)skiff_semihost_hlt) {
        fr->elr += 4;                    /* no semihosting: skip the HLT */
        fr->x[0] = (uint64_t)-1;
        return 1;
    }
    return 0;
}

/* ---- Start-up ------------------------------------------------------------ */

/*
 * skiff_platform_early: MMU off. Find the DTB (x0 for an Image; an ELF loaded by
 * QEMU gets x0 = 0 and its DTB at RAM base), read the board, build the page
 * tables. The DTB is not needed after this: what is used later is copied.
 */
__attribute__((used, no_stack_protector))
void skiff_platform_early(uint64_t dtb, uint64_t el)
{
    const void *fdt = (const void *)(uintptr_t)dtb;
    (void)el;
    if (!skiff_fdt_valid(fdt))
        fdt = (const void *)(uintptr_t)SKIFF_RAM_BASE;
    if (skiff_fdt_parse(fdt, &skiff_board) != 0)
        skiff_early_fail(skiff_board.error);
    /* Devices the runtime drives: UART, RTC, GIC, virtio-mmio slots. */
    static struct skiff_mmio_range dev[6 + SKIFF_MAX_VIRTIO];
    struct skiff_board *b = &skiff_board;
    unsigned n = 0;
    dev[n++] = (struct skiff_mmio_range){ b->uart, 0x1000 };
    dev[n++] = (struct skiff_mmio_range){ b->rtc, 0x1000 };
    dev[n++] = (struct skiff_mmio_range){ b->exit_reg, 0x1000 };
    dev[n++] = (struct skiff_mmio_range){ b->gicd, b->gicd_size };
    dev[n++] = (struct skiff_mmio_range){ b->gicc, b->gicc_size };
    dev[n++] = (struct skiff_mmio_range){ b->gicr, b->gicr_size };
    for (unsigned i = 0; i < b->nvirtio; i++)
        dev[n++] = (struct skiff_mmio_range){ b->virtio[i].base, b->virtio[i].size };
    const char *e = skiff_mmu_build(b->ram_base, b->ram_size, dev, n);
    if (e)
        skiff_early_fail(e);
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
    skiff_random_init(s[0] ? s[0] : 1, s[1]);
}

/*
 * skiff_platform_start: MMU and caches on, on SP_EL0. No stack protector here:
 * this frame is live while the guard changes, and it never returns.
 */
__attribute__((noreturn, used, no_stack_protector))
void skiff_platform_start(void)
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
    boot_info.mft = (hvt_gpa_t)(uintptr_t)skiff_virt_manifest();

    int status = main(0, 0);
    skiff_exit(status);
}
