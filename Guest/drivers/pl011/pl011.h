/*
 * pl011.h: the PL011 UART driver (pl011.c): output only, no set-up.
 */
#ifndef SKIFF_PL011_H
#define SKIFF_PL011_H

#include <stddef.h>
#include <stdint.h>

/* Writes `len` bytes to the PL011 at `base` (nothing if base is 0). */
void skiff_pl011_write(uint64_t base, const void *data, size_t len);

#endif
