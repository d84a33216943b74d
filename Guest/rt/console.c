/*
 * console.c: line-buffered console output over the PUTS hypercall.
 *
 * Embedded Swift's print() calls putchar() once per byte; each PUTS is a VM
 * exit (8-25 us on PVM), so bytes are buffered and sent one line (or one full
 * buffer) per exit. skiff_exit/abort flush before HALT.
 */
#include "rt.h"

#define CONSOLE_BUFFER 4096

static char console_buf[CONSOLE_BUFFER];
static size_t console_len;

void skiff_puts_raw(const void *data, size_t len)
{
    if (len == 0)
        return;
    volatile struct hvt_hc_puts arg = {
        .data = (hvt_gpa_t)(uintptr_t)data, .len = len };
    skiff_hvt_puts(&arg);
}

void skiff_console_flush(void)
{
    skiff_puts_raw(console_buf, console_len);
    console_len = 0;
}

int putchar(int c)
{
    console_buf[console_len++] = (char)c;
    if (c == '\n' || console_len == CONSOLE_BUFFER)
        skiff_console_flush();
    return (unsigned char)c;
}

void skiff_console_write(const void *data, size_t len)
{
    const char *p = data;
    if (len >= CONSOLE_BUFFER) {
        /* Large writes go out as they are, after what is buffered. */
        skiff_console_flush();
        skiff_puts_raw(p, len);
        return;
    }
    if (console_len + len > CONSOLE_BUFFER)
        skiff_console_flush();
    memcpy(console_buf + console_len, p, len);
    console_len += len;
    /* Keep putchar's rule: a completed line goes out now. */
    for (size_t i = len; i > 0; i--) {
        if (p[i - 1] == '\n') {
            skiff_console_flush();
            break;
        }
    }
}
