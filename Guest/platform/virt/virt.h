/*
 * virt.h: internal declarations of the QEMU `virt` platform (arm64 Linux
 * Image boot, devices from the DTB): the board (drivers/fdt), the image's
 * linker symbols, and the functions its files and drivers share. Not for Swift.
 */
#ifndef SKIFF_VIRT_H
#define SKIFF_VIRT_H

#include "rt.h"
#include "layout.h"
#include "fdt.h"      /* struct skiff_board, skiff_board */
#include "gic.h"
#include "pl011.h"

/* ---- Linker symbols (platform/virt/aarch64/skiff.ld) --------------------- */
extern char __skiff_mft_note_start[], __skiff_mft_note_end[];

/* ---- Waits (clock.c; the clocks and skiff_wait_until: a64_image.h) ------- */
/* Before checking the condition waited for: acknowledge GIC, then device
 * interrupts, so that any later event wakes the next skiff_wait_until. */
void skiff_wait_prepare(void);

/* ---- virtio devices (devices.c) ------------------------------------------- */
void skiff_devices_ack_interrupts(void);
const struct mft *skiff_virt_manifest(void);

/* ---- Command line (start.c) ----------------------------------------------- */
const char *skiff_bootargs_devices(void);   /* the "skiff.*" part, or "" */

#endif
