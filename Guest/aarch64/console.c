/*
 * console.c: the aarch64 console device: skiff_puts_raw() on the PL011 UART.
 *
 * The buffering (putchar, skiff_console_write/flush: one 4 KiB buffer that
 * goes out per line, when full, or on flush/exit/abort) is the shared
 * Guest/rt/console.c. The UART needs no set-up on QEMU virt (the
 * DTB's clock and the firmware defaults are used as they are): a byte is
 * written to UARTDR once UARTFR.TXFF is clear. Under KVM every register
 * access is an exit, so buffering does not save exits here; it keeps the
 * output order and the flush points identical on both architectures.
 */
#include "arch.h"

#define UART_DR        0x000
#define UART_FR        0x018
#define UART_FR_TXFF   (1u << 5)

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
