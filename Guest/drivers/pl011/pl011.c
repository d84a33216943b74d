/*
 * pl011.c: the PL011 UART, output only.
 *
 * The UART needs no set-up on QEMU virt (the DTB's clock and the firmware
 * defaults are used as they are): a byte is written to UARTDR once
 * UARTFR.TXFF is clear. Under KVM every register access is an exit, so
 * the console buffering (common/console.c) does not save exits here; it
 * keeps the output order and the flush points identical on every platform.
 */
#include "pl011.h"
#include "skiff_cpu.h"

#define UART_DR        0x000
#define UART_FR        0x018
#define UART_FR_TXFF   (1u << 5)

void skiff_pl011_write(uint64_t uart, const void *data, size_t len)
{
    const unsigned char *p = data;
    if (!uart)
        return;
    for (size_t i = 0; i < len; i++) {
        while (mmio_read32(uart + UART_FR) & UART_FR_TXFF)
            ;
        mmio_write32(uart + UART_DR, p[i]);
    }
}
