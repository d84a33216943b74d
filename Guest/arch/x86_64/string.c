/*
 * string.c: memset/memcpy/memmove for x86_64 (memcmp, bcmp, strlen: common/string.c).
 *
 * All runtime code runs at CPL3 natively, so the string instructions are fast
 * (ERMS). Compiled with -fno-builtin so the compiler cannot turn these bodies
 * back into calls to themselves.
 */
#include "rt.h"

void *memset(void *s, int c, size_t n)
{
    void *d = s;
    __asm__ __volatile__("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
    return s;
}

void *memcpy(void *dst, const void *src, size_t n)
{
    void *d = dst;
    __asm__ __volatile__("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    if ((uintptr_t)dst - (uintptr_t)src >= n)
        return memcpy(dst, src, n);   /* no overlap, or dst below src */
    /* dst overlaps the tail of src: copy backwards. */
    void *d = (char *)dst + n - 1;
    const void *s = (const char *)src + n - 1;
    __asm__ __volatile__("std\n\trep movsb\n\tcld"
                         : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    return dst;
}
