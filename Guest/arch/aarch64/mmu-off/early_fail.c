/*
 * early_fail.c: the one way skiff_platform_early fails on the arm64 Image
 * platforms (QEMU virt, Xen): "Skiff: ABORT: boot: WHY" on the console
 * (skiff_puts_raw works with the MMU off once the UART is known, or on Xen
 * through console_io), then skiff_halt with status 255.
 */
#include "rt.h"
#include "layout.h"

__attribute__((no_stack_protector))
_Noreturn void skiff_early_fail(const char *why)
{
    struct skiff_fmt f = { .len = 0 };
    skiff_fmt_str(&f, "Skiff: ABORT: boot: ");
    skiff_fmt_str(&f, why);
    if (f.len < sizeof f.buf)
        f.buf[f.len++] = '\n';
    skiff_puts_raw(f.buf, f.len);
    skiff_halt(255, 0);
}
