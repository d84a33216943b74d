/*
 * rt.h: internal declarations shared by every C file of the guest runtime
 * (not for Swift): what common code provides, and the hooks each platform
 * (Guest/platform/NAME) must implement.
 */
#ifndef SKIFF_RT_INTERNAL_H
#define SKIFF_RT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "hvt_abi.h"
#include "skiff_rt.h"
#include "console.h"

/* ---- Linker symbols (the platform's skiff.ld, common/stacks.S) ---------- */
extern char __skiff_image_end[];
extern char __skiff_guard[];
extern char __skiff_stack_bottom[];

/* ---- Provided by the platform -------------------------------------------- */
/* End the run with `status`; `cookie` is a trap frame for the monitor (hvt
 * passes it with HALT; other platforms ignore it). Never returns. */
_Noreturn void skiff_halt(int status, const void *cookie);
/* Find the devices at start, before main(). */
void skiff_devices_init(void);
/* Called by skiff_exit after the console flush: let queued output finish. */
void skiff_devices_quiesce(void);
/* skiff_puts_raw (console.h) is also the platform's. */

/* ---- Provided by common code --------------------------------------------- */
/* runtime.c: exits, messages, stack protector, randomness. */
extern uintptr_t __stack_chk_guard;
_Noreturn void skiff_panic(const char *what);   /* "Skiff: ABORT: <what>" */
void skiff_warn(const char *what);              /* "Skiff: WARNING: <what>" */
_Noreturn void skiff_heap_corrupt(const char *what);
/* Seeds arc4random's xoroshiro128++ state. */
void skiff_random_init(uint64_t s0, uint64_t s1);
void arc4random_buf(void *buf, size_t n);

/* manifest.c: the first entry `name` (len bytes) of `type` in `m`, with its
 * index; attached or not. NULL if none. */
const struct mft_entry *skiff_mft_find(const struct mft *m, const char *name, size_t len,
                                       uint32_t type, uint32_t *index);

/* heap.c */
void skiff_heap_init(void *start, void *end);
void *malloc(size_t size);
void free(void *ptr);
int posix_memalign(void **out, size_t align, size_t size);

/* string.c (common) and arch/<arch>/string.c */
void *memset(void *s, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

#endif
