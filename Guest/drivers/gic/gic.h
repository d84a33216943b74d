/*
 * gic.h: the GICv2/GICv3 driver (gic.c), used only to wake WFI. Addresses
 * and version come from the board description (drivers/fdt/fdt.h).
 */
#ifndef SKIFF_GIC_H
#define SKIFF_GIC_H

#include <stdint.h>

int skiff_gic_init(void);               /* 0 if no usable GIC */
void skiff_gic_enable(uint32_t intid, int edge);
void skiff_gic_drain(void);             /* acknowledge every pending INTID */
extern int skiff_gic_ready;

#endif
