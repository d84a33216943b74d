/*
 * console.h: the console and message-formatting layer shared by every
 * platform (common/console.c). A platform provides only skiff_puts_raw().
 */
#ifndef SKIFF_CONSOLE_H
#define SKIFF_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

/* Platform: write bytes straight to the console, bypassing the buffer
 * (hvt: one PUTS hypercall, platform/hvt/devices.c; virt: the PL011,
 * platform/virt/start.c and drivers/pl011). */
void skiff_puts_raw(const void *data, size_t len);

/* Formatting helpers for abort messages, no allocation. */
struct skiff_fmt { char buf[256]; size_t len; };
void skiff_fmt_str(struct skiff_fmt *f, const char *s);
void skiff_fmt_hex(struct skiff_fmt *f, uint64_t v);
void skiff_fmt_dec(struct skiff_fmt *f, uint64_t v);
/* `name` then `v` in hex (" rip=0x..."). */
void skiff_fmt_field(struct skiff_fmt *f, const char *name, uint64_t v);
/* Ends the line and writes it after whatever the console has buffered. */
void skiff_fmt_emit(struct skiff_fmt *f);
/* " (stack overflow)" or " (null pointer)" when a fault address says so
 * (common/runtime.c: it knows the guard page). */
void skiff_fmt_fault_address(struct skiff_fmt *f, uint64_t addr);

#endif
