/*
 * start.c: the Xen platform's architecture-independent start-up and end:
 * seeds, stack guard, heap, boot info, main(); the console; the exit line
 * and SCHEDOP_shutdown.
 *
 * The architecture's start-up (x86_64/start.c: PVH; aarch64/start.c) sets up
 * the CPU, reads the command line and memory map, starts the clock and fills
 * `skiff_xen`, then calls skiff_xen_main().
 *
 * Exit. A Xen domain has no exit status, so the status is printed first, in
 * a fixed line a harness can read: `Skiff: exit status N` (N = status & 0xff).
 * Then: under Xen, SCHEDOP_shutdown with reason poweroff for status 0 and
 * crash for any other status (an abort is 255), so that an xl config's
 * on_crash= applies to failed runs; without Xen (x86 PVH on bare QEMU), the
 * architecture's way out (isa-debug-exit, docs/platform-xen.md).
 */
#include "xen.h"

struct skiff_xen_boot skiff_xen;
static struct hvt_boot_info boot_info;
const struct hvt_boot_info *skiff_boot_info = &boot_info;

int main(int argc, char **argv);   /* Embedded Swift's @main entry */

/* ---- Console ------------------------------------------------------------ */

void skiff_puts_raw(const void *data, size_t len)
{
    if (len == 0)
        return;
    if (!skiff_xen.console_io) {
        skiff_xen_arch_console(data, len);
        return;
    }
    /* One call writes it all (Xen continues long writes itself) and returns
     * 0, or an error (a domU is not permitted: nothing to fall back to). The
     * hardware domain's output goes to Xen's console unchanged. */
    const char *p = data;
    while (len > 0) {
        uint32_t n = len > 0x40000000u ? 0x40000000u : (uint32_t)len;
        if (xen_hypercall3(XEN_HC_CONSOLE_IO, XEN_CONSOLEIO_WRITE, n, (uint64_t)(uintptr_t)p) < 0)
            return;
        p += n;
        len -= n;
    }
}

/* ---- Exit ---------------------------------------------------------------- */

_Noreturn void skiff_halt(int status, const void *cookie)
{
    (void)cookie;                    /* no monitor to hand a trap frame to */
    struct skiff_fmt f = { .len = 0 };
    skiff_fmt_str(&f, "Skiff: exit status ");
    skiff_fmt_dec(&f, (uint64_t)(status & 0xff));
    f.buf[f.len++] = '\n';
    skiff_puts_raw(f.buf, f.len);
    if (skiff_xen.xen) {
        struct xen_sched_shutdown s = {
            .reason = (status & 0xff) == 0 ? XEN_SHUTDOWN_POWEROFF : XEN_SHUTDOWN_CRASH };
        for (;;)
            xen_sched_op(XEN_SCHEDOP_SHUTDOWN, &s);
    }
    skiff_xen_arch_off(status & 0xff);
}

/* ---- Start-up ------------------------------------------------------------ */

/*
 * No stack protector: this frame is live while the guard changes, and it
 * never returns.
 */
__attribute__((noreturn, used, no_stack_protector))
void skiff_xen_main(void)
{
    uint64_t t = skiff_rdtsc();
    skiff_random_init(skiff_xen.seed[0] ^ t ^ 0x9e3779b97f4a7c15ull,
                      skiff_xen.seed[1] ^ (t << 29) ^ 0xd1b54a32d192ed03ull);
    uint64_t guard;
    arc4random_buf(&guard, sizeof guard);
    /* Solo5's canary recipe: bits 8-15 zero stop string overflows. */
    __stack_chk_guard = guard & ~(uintptr_t)0xff00;

    skiff_heap_init((void *)skiff_xen.heap_start, (void *)skiff_xen.heap_end);
    skiff_devices_init();

    boot_info.mem_size = skiff_xen.mem_size;
    boot_info.kernel_end = (uint64_t)(uintptr_t)__skiff_image_end;
    boot_info.cpu_cycle_freq = skiff_xen.counter_freq;
    boot_info.cmdline = (hvt_gpa_t)(uintptr_t)skiff_xen.cmdline;
    boot_info.mft = 0;               /* no devices: every lookup is "not found" */

    int status = main(0, 0);
    skiff_exit(status);
}
