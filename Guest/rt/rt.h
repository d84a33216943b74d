/*
 * rt.h: internal declarations shared by the C runtime files (not for Swift).
 */
#ifndef SKIFF_RT_INTERNAL_H
#define SKIFF_RT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "hvt_abi.h"
#include "skiff_hvt.h"
#include "skiff_rt.h"
#include "console.h"

/* Linker symbols (skiff.ld, start.S). */
extern char __skiff_image_end[];
extern char __skiff_guard[];
extern char __skiff_stack_bottom[];

/* Abort with a trap-frame cookie (0 for none). */
_Noreturn void skiff_halt(int status, const void *cookie);

void skiff_heap_init(void *start, void *end);
void skiff_devices_init(void);
void skiff_net_ring_drain(void);

void *memset(void *s, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
void *malloc(size_t size);
void free(void *ptr);

#endif
