/*
 * heap.c: the guest heap: a boundary-tag allocator with per-size caches.
 *
 * Memory [heap start, heap end) is carved into 16-byte aligned chunks with a
 * 16-byte header (prev_size, size|flags). Freed chunks up to CACHE_MAX bytes
 * go to an exact-size cache (LIFO, O(1), not coalesced) because Embedded
 * Swift allocates and frees many small objects of few sizes. Larger freed
 * chunks are coalesced with free neighbours at once and kept in TLSF-style
 * segregated bins (8 sub-bins per power of two, bitmaps for O(1) search).
 * New memory comes from the "top" chunk. When a request cannot be met, the
 * caches are flushed into the bins (coalescing them) and it is retried, so
 * freed memory is always reusable for any size.
 *
 * Single-threaded (one vCPU, no interrupts). The same file is compiled for
 * the host by Guest/tests/heap_test.c with SKIFF_HEAP_NAME() renaming the
 * public functions, so the allocator is tested without a guest.
 */
#include <stddef.h>
#include <stdint.h>

#ifndef SKIFF_HEAP_NAME
#define SKIFF_HEAP_NAME(name) name
#endif

/* Provided by the runtime (common/runtime.c) or by the host test. */
_Noreturn void skiff_heap_corrupt(const char *what);
void *memset(void *s, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);

struct skiff_heap_stats {
    size_t capacity;
    size_t in_use;
    size_t free;
    size_t allocations;
};

struct chunk {
    size_t prev_size;       /* valid only when !(size & PREV_INUSE) */
    size_t size;            /* chunk bytes | flags */
    struct chunk *next;     /* free chunks only: bin or cache links */
    struct chunk *prev;
};

#define HDR         ((size_t)16)
#define MIN_CHUNK   ((size_t)32)
#define PREV_INUSE  ((size_t)1)
#define INUSE       ((size_t)2)     /* allocated or cached: never coalesced */
#define CACHED      ((size_t)4)     /* in a size cache */
#define FLAGS       ((size_t)15)
#define CACHE_MAX   ((size_t)1024)  /* chunk sizes 32..1024 are cached */
#define SL_BITS     3
#define SL_COUNT    (1u << SL_BITS)
#define FL_COUNT    64
#define MAX_REQUEST ((size_t)1 << 46)

static struct chunk *cache[CACHE_MAX / 16 + 1];
static struct chunk *bins[FL_COUNT][SL_COUNT];
static uint64_t fl_bitmap;
static uint8_t sl_bitmap[FL_COUNT];
static struct chunk *top;           /* wilderness, always last, never empty */
static uintptr_t heap_lo, heap_hi;  /* [lo, hi): chunks; sentinel at hi */
static size_t cached_chunks;
static struct skiff_heap_stats stats;

static inline size_t csize(const struct chunk *c) { return c->size & ~FLAGS; }
static inline struct chunk *at(uintptr_t a) { return (struct chunk *)a; }
static inline struct chunk *next_chunk(struct chunk *c)
{
    return at((uintptr_t)c + csize(c));
}
static inline void *payload(struct chunk *c) { return (char *)c + HDR; }

static inline void mapping(size_t size, unsigned *fl, unsigned *sl)
{
    unsigned f = 63u - (unsigned)__builtin_clzll(size);
    *fl = f;
    *sl = (unsigned)(size >> (f - SL_BITS)) & (SL_COUNT - 1);
}

static void bin_insert(struct chunk *c)
{
    unsigned fl, sl;
    mapping(csize(c), &fl, &sl);
    c->prev = NULL;
    c->next = bins[fl][sl];
    if (c->next)
        c->next->prev = c;
    bins[fl][sl] = c;
    fl_bitmap |= 1ull << fl;
    sl_bitmap[fl] |= (uint8_t)(1u << sl);
}

static void bin_remove(struct chunk *c)
{
    unsigned fl, sl;
    mapping(csize(c), &fl, &sl);
    if (c->prev)
        c->prev->next = c->next;
    else
        bins[fl][sl] = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (!bins[fl][sl]) {
        sl_bitmap[fl] &= (uint8_t)~(1u << sl);
        if (!sl_bitmap[fl])
            fl_bitmap &= ~(1ull << fl);
    }
}

/* A free chunk of at least `need` bytes from the bins, removed, or NULL. */
static struct chunk *bin_take(size_t need)
{
    unsigned fl, sl;
    mapping(need, &fl, &sl);
    /* First fit in the exact bin (its chunks may be smaller than need). */
    int budget = 16;
    for (struct chunk *c = bins[fl][sl]; c && budget > 0; c = c->next, budget--) {
        if (csize(c) >= need) {
            bin_remove(c);
            return c;
        }
    }
    /* Any chunk in a higher bin fits. */
    unsigned smap = sl + 1 < SL_COUNT ? sl_bitmap[fl] & (uint8_t)(~0u << (sl + 1)) : 0;
    if (!smap) {
        uint64_t fmap = fl + 1 < FL_COUNT ? fl_bitmap & (~0ull << (fl + 1)) : 0;
        if (!fmap)
            return NULL;
        fl = (unsigned)__builtin_ctzll(fmap);
        smap = sl_bitmap[fl];
    }
    sl = (unsigned)__builtin_ctz(smap);
    struct chunk *c = bins[fl][sl];
    bin_remove(c);
    return c;
}

/* Mark `c` (size exactly n, already carved) allocated. */
static inline void *use(struct chunk *c, size_t n)
{
    c->size = n | INUSE | (c->size & PREV_INUSE);
    next_chunk(c)->size |= PREV_INUSE;
    stats.in_use += n;
    stats.allocations++;
    return payload(c);
}

/*
 * Give back chunk `c` (INUSE, not cached) to the free structures:
 * coalesce with free neighbours, merge into top or bin it.
 */
static void release(struct chunk *c)
{
    size_t n = csize(c);
    struct chunk *nx = at((uintptr_t)c + n);
    if (!(c->size & PREV_INUSE)) {
        struct chunk *pv = at((uintptr_t)c - c->prev_size);
        if (csize(pv) != c->prev_size || (pv->size & INUSE))
            skiff_heap_corrupt("bad prev_size");
        bin_remove(pv);
        n += csize(pv);
        c = pv;
    }
    if (nx == top) {
        c->size = (n + csize(top)) | PREV_INUSE;
        top = c;
        return;
    }
    if (!(nx->size & INUSE)) {
        bin_remove(nx);
        n += csize(nx);
    }
    c->size = n | PREV_INUSE;
    nx = at((uintptr_t)c + n);
    nx->prev_size = n;
    nx->size &= ~PREV_INUSE;
    bin_insert(c);
}

/* Flush every size cache into the bins (coalescing). */
static void consolidate(void)
{
    for (size_t i = 0; i < sizeof cache / sizeof cache[0]; i++) {
        struct chunk *c = cache[i];
        cache[i] = NULL;
        while (c) {
            struct chunk *nx = c->next;
            c->size &= ~CACHED;
            release(c);
            c = nx;
        }
    }
    cached_chunks = 0;
}

static void *alloc_chunk(size_t n)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        struct chunk *c = bin_take(n);
        if (c) {
            size_t have = csize(c);
            if (have - n >= MIN_CHUNK) {
                struct chunk *rem = at((uintptr_t)c + n);
                rem->size = (have - n) | PREV_INUSE;
                at((uintptr_t)rem + (have - n))->prev_size = have - n;
                bin_insert(rem);
                /* c's successor is now rem, already marked PREV_INUSE. */
                c->size = n | INUSE | (c->size & PREV_INUSE);
                stats.in_use += n;
                stats.allocations++;
                return payload(c);
            }
            return use(c, have);
        }
        if (top && csize(top) >= n + MIN_CHUNK) {
            c = top;
            size_t left = csize(top) - n;
            top = at((uintptr_t)c + n);
            top->size = left | PREV_INUSE;
            return use(c, n);
        }
        if (!cached_chunks)
            break;
        consolidate();
    }
    return NULL;
}

static inline int request_size(size_t bytes, size_t *n)
{
    if (bytes > MAX_REQUEST)
        return 0;
    size_t r = (bytes + HDR + 15) & ~(size_t)15;
    *n = r < MIN_CHUNK ? MIN_CHUNK : r;
    return 1;
}

static inline struct chunk *owner(void *p)
{
    uintptr_t a = (uintptr_t)p;
    if ((a & 15) || a < heap_lo + HDR || a >= heap_hi)
        skiff_heap_corrupt("free of a pointer not from malloc");
    struct chunk *c = at(a - HDR);
    if ((c->size & (INUSE | CACHED)) != INUSE)
        skiff_heap_corrupt("double free or corrupted chunk");
    return c;
}

/* Set up the heap over [start, end). Called once before main. */
void SKIFF_HEAP_NAME(skiff_heap_init)(void *start, void *end)
{
    uintptr_t lo = ((uintptr_t)start + 15) & ~(uintptr_t)15;
    uintptr_t hi = ((uintptr_t)end & ~(uintptr_t)15);
    memset(cache, 0, sizeof cache);
    memset(bins, 0, sizeof bins);
    memset(sl_bitmap, 0, sizeof sl_bitmap);
    memset(&stats, 0, sizeof stats);
    fl_bitmap = 0;
    cached_chunks = 0;
    top = NULL;
    heap_lo = heap_hi = lo;
    if (hi < lo + HDR + MIN_CHUNK)
        return;
    /* No sentinel is written at heap_hi: only the top chunk borders it and
     * top is never freed or split to nothing, so nothing reads past it, and
     * the last 2 MiB of memory stays untouched (not demand-mapped). */
    heap_hi = hi - HDR;
    top = at(lo);
    top->prev_size = 0;
    top->size = (heap_hi - lo) | PREV_INUSE;
    stats.capacity = heap_hi - lo;
}

void *SKIFF_HEAP_NAME(malloc)(size_t bytes)
{
    size_t n;
    if (!request_size(bytes, &n))
        return NULL;
    if (n <= CACHE_MAX) {
        struct chunk *c = cache[n >> 4];
        if (c) {
            cache[n >> 4] = c->next;
            cached_chunks--;
            c->size &= ~CACHED;
            stats.in_use += n;
            stats.allocations++;
            return payload(c);
        }
    }
    return alloc_chunk(n);
}

void SKIFF_HEAP_NAME(free)(void *p)
{
    if (!p)
        return;
    struct chunk *c = owner(p);
    size_t n = csize(c);
    stats.in_use -= n;
    stats.allocations--;
    if (n <= CACHE_MAX) {
        c->size |= CACHED;
        c->next = cache[n >> 4];
        cache[n >> 4] = c;
        cached_chunks++;
        return;
    }
    release(c);
}

void *SKIFF_HEAP_NAME(calloc)(size_t count, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes))
        return NULL;
    void *p = SKIFF_HEAP_NAME(malloc)(bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void *SKIFF_HEAP_NAME(realloc)(void *p, size_t bytes)
{
    if (!p)
        return SKIFF_HEAP_NAME(malloc)(bytes);
    struct chunk *c = owner(p);
    size_t n;
    if (!request_size(bytes, &n))
        return NULL;
    size_t have = csize(c);
    if (have >= n)
        return p;
    void *q = SKIFF_HEAP_NAME(malloc)(bytes);
    if (q) {
        memcpy(q, p, have - HDR);
        SKIFF_HEAP_NAME(free)(p);
    }
    return q;
}

int SKIFF_HEAP_NAME(posix_memalign)(void **out, size_t align, size_t bytes)
{
    if (align < sizeof(void *) || (align & (align - 1)))
        return 22; /* EINVAL */
    if (align <= 16) {
        void *p = SKIFF_HEAP_NAME(malloc)(bytes);
        if (!p)
            return 12; /* ENOMEM */
        *out = p;
        return 0;
    }
    size_t n;
    if (!request_size(bytes, &n) || align > MAX_REQUEST)
        return 12;
    /* Room for a >= MIN_CHUNK lead gap before an aligned payload. */
    char *raw = alloc_chunk(n + align + MIN_CHUNK);
    if (!raw)
        return 12;
    struct chunk *c = at((uintptr_t)raw - HDR);
    uintptr_t a = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    if (a != (uintptr_t)raw && a - (uintptr_t)raw < MIN_CHUNK)
        a += align;
    if (a != (uintptr_t)raw) {
        size_t lead = a - (uintptr_t)raw;
        size_t total = csize(c);
        struct chunk *ac = at(a - HDR);
        ac->size = (total - lead) | INUSE | PREV_INUSE;
        c->size = lead | INUSE | (c->size & PREV_INUSE);
        stats.in_use -= lead;
        release(c);
        c = ac;
    }
    size_t total = csize(c);
    if (total - n >= MIN_CHUNK) {
        struct chunk *tail = at((uintptr_t)c + n);
        tail->size = (total - n) | INUSE | PREV_INUSE;
        c->size = n | INUSE | (c->size & PREV_INUSE);
        stats.in_use -= total - n;
        release(tail);
    }
    *out = payload(c);
    return 0;
}

void *SKIFF_HEAP_NAME(aligned_alloc)(size_t align, size_t bytes)
{
    void *p = NULL;
    return SKIFF_HEAP_NAME(posix_memalign)(&p, align, bytes) ? NULL : p;
}

void SKIFF_HEAP_NAME(skiff_heap_get_stats)(struct skiff_heap_stats *out)
{
    *out = stats;
    out->free = stats.capacity - stats.in_use;
}
