/*
 * console.c: line-buffered console output and abort-message formatting,
 * shared by every platform; the platform's skiff_puts_raw() moves the bytes
 * (hvt: the PUTS hypercall; virt: the PL011 UART).
 *
 * Embedded Swift's print() calls putchar() once per byte; on hvt each PUTS is
 * a VM exit (8-25 us on PVM), so bytes are buffered and sent one line (or one
 * full buffer) at a time. skiff_exit/abort flush before HALT.
 */
#include "rt.h"

#define CONSOLE_BUFFER 4096

static char console_buf[CONSOLE_BUFFER];
static size_t console_len;

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

void skiff_fmt_str(struct skiff_fmt *f, const char *s)
{
    while (*s && f->len < sizeof f->buf)
        f->buf[f->len++] = *s++;
}

void skiff_fmt_hex(struct skiff_fmt *f, uint64_t v)
{
    char tmp[18];
    int i = 0;
    do {
        tmp[i++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    skiff_fmt_str(f, "0x");
    while (i > 0 && f->len < sizeof f->buf)
        f->buf[f->len++] = tmp[--i];
}

void skiff_fmt_dec(struct skiff_fmt *f, uint64_t v)
{
    char tmp[20];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i > 0 && f->len < sizeof f->buf)
        f->buf[f->len++] = tmp[--i];
}

void skiff_fmt_field(struct skiff_fmt *f, const char *name, uint64_t v)
{
    skiff_fmt_str(f, name);
    skiff_fmt_hex(f, v);
}

void skiff_fmt_emit(struct skiff_fmt *f)
{
    if (f->len < sizeof f->buf)
        f->buf[f->len++] = '\n';
    skiff_console_flush();
    skiff_puts_raw(f->buf, f->len);
}
