/*
 * string.c: memcmp/bcmp/strlen for every architecture. memset, memcpy and
 * memmove are per architecture (Guest/arch/<arch>/string.c).
 *
 * Built with -fno-builtin so the compiler cannot turn these loops back into
 * calls to themselves.
 */
#include "rt.h"

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

int bcmp(const void *a, const void *b, size_t n)
{
    return memcmp(a, b, n);
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}
