/*
 * math.c: the few libm functions Embedded Swift's stdlib calls (ceil from
 * Dictionary/Set capacity math). Pure integer/bit manipulation, no libm.
 */
#include "rt.h"

double ceil(double x)
{
    union { double d; uint64_t u; } v = { x };
    int e = (int)((v.u >> 52) & 0x7ff) - 1023;
    if (e >= 52)
        return x;                         /* integral, inf or nan */
    if (e < 0) {
        if (x == 0.0 || x < 0.0)
            return (v.u >> 63) ? -0.0 : x; /* (-1, 0] -> -0, 0 -> 0 */
        return 1.0;                       /* (0, 1) -> 1 */
    }
    uint64_t frac = 0x000fffffffffffffull >> e;
    if ((v.u & frac) == 0)
        return x;
    if (!(v.u >> 63))
        v.u += frac + 1;                  /* positive: round up */
    v.u &= ~frac;
    return v.d;
}

double floor(double x)
{
    return -ceil(-x);
}

float ceilf(float x)
{
    return (float)ceil((double)x);
}

float floorf(float x)
{
    return (float)floor((double)x);
}
