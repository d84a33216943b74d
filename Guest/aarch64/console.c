/*
 * console.c: line-buffered console output on the PL011 UART.
 *
 * Same contract as the x86_64 runtime (Guest/rt/console.c): putchar and
 * skiff_console_write share one 4 KiB buffer that goes out per line, when
 * full, or on flush/exit/abort. The UART needs no set-up on QEMU virt (the
 * DTB's clock and the firmware defaults are used as they are): a byte is
 * written to UARTDR once UARTFR.TXFF is clear. Under KVM every register
 * access is an exit, so buffering does not save exits here; it keeps the
 * output order and the flush points identical on both architectures.
 */
#include "arch.h"

#define CONSOLE_BUFFER 4096
#define UART_DR        0x000
#define UART_FR        0x018
#define UART_FR_TXFF   (1u << 5)

static char console_buf[CONSOLE_BUFFER];
static size_t console_len;

void skiff_puts_raw(const void *data, size_t len)
{
    uint64_t uart = skiff_board.uart;
    const unsigned char *p = data;
    if (!uart)
        return;
    for (size_t i = 0; i < len; i++) {
        while (mmio_read32(uart + UART_FR) & UART_FR_TXFF)
            ;
        mmio_write32(uart + UART_DR, p[i]);
    }
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
        skiff_console_flush();
        skiff_puts_raw(p, len);
        return;
    }
    if (console_len + len > CONSOLE_BUFFER)
        skiff_console_flush();
    memcpy(console_buf + console_len, p, len);
    console_len += len;
    for (size_t i = len; i > 0; i--) {
        if (p[i - 1] == '\n') {
            skiff_console_flush();
            break;
        }
    }
}
