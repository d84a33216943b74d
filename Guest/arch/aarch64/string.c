/*
 * string.c: memset/memcpy/memmove for aarch64 (memcmp, bcmp, strlen: common/string.c).
 *
 * Portable C, 8 bytes at a time when both pointers are 8-byte aligned, bytes
 * otherwise: the runtime is built -mstrict-align because parts of it run
 * with the MMU off, where unaligned accesses fault. Built with -fno-builtin
 * so the compiler cannot turn these loops back into calls to themselves.
 */
#include "rt.h"

void *memset(void *s, int c, size_t n)
{
    unsigned char *d = s;
    while (n && ((uintptr_t)d & 7)) {
        *d++ = (unsigned char)c;
        n--;
    }
    uint64_t w = (unsigned char)c * 0x0101010101010101ull;
    for (; n >= 8; n -= 8, d += 8)
        *(uint64_t *)(void *)d = w;
    while (n--)
        *d++ = (unsigned char)c;
    return s;
}

void *memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if ((((uintptr_t)d | (uintptr_t)s) & 7) == 0) {
        for (; n >= 8; n -= 8, d += 8, s += 8)
            *(uint64_t *)(void *)d = *(const uint64_t *)(const void *)s;
    }
    while (n--)
        *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    if ((uintptr_t)dst - (uintptr_t)src >= n)
        return memcpy(dst, src, n);     /* no overlap, or dst below src */
    unsigned char *d = (unsigned char *)dst + n;
    const unsigned char *s = (const unsigned char *)src + n;
    while (n--)
        *--d = *--s;
    return dst;
}
