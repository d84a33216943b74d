/*
 * heap_test.c: host unit test of the guest heap (Guest/common/heap.c).
 *
 * Built with the host C compiler and run by SkiffBuildTests
 * (HeapAllocatorTests); `cc -O1 -g heap_test.c -o heap_test && ./heap_test`
 * by hand. The allocator's functions are renamed test_* so glibc's stay in
 * use for the harness itself. Prints "heap_test: N passed, M failed".
 */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SKIFF_HEAP_NAME(name) test_##name
static jmp_buf corrupt_jmp;
static const char *corrupt_what;
_Noreturn void skiff_heap_corrupt(const char *what)
{
    corrupt_what = what;
    longjmp(corrupt_jmp, 1);
}
#include "../common/heap.c"

static int passed, failed;
#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
            printf(__VA_ARGS__);                                              \
            printf("\n");                                                     \
            failed++;                                                         \
            return;                                                           \
        }                                                                     \
    } while (0)

static uint8_t *arena;
static size_t arena_size;

static void reset(size_t size)
{
    free(arena);
    arena_size = size;
    arena = aligned_alloc(4096, size);
    memset(arena, 0xa5, size);
    test_skiff_heap_init(arena, arena + size);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

struct block { uint8_t *p; size_t n; uint8_t tag; };

static int check_block(const struct block *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->p[i] != (uint8_t)(b->tag + i))
            return 0;
    return 1;
}

static void fill_block(struct block *b)
{
    for (size_t i = 0; i < b->n; i++)
        b->p[i] = (uint8_t)(b->tag + i);
}

static size_t random_size(void)
{
    uint64_t r = next_random();
    switch (r % 8) {
    case 0: return r % 17;                   /* tiny, including 0 */
    case 1: case 2: case 3: return 16 + (r >> 8) % 240;
    case 4: case 5: return 256 + (r >> 8) % 1024;
    case 6: return 1024 + (r >> 8) % 16384;
    default: return 16384 + (r >> 8) % (256 * 1024);
    }
}

/* Random malloc/free/realloc/memalign/calloc; every byte verified. */
static void test_random_operations(void)
{
    reset(64 << 20);
    enum { LIVE = 2000 };
    static struct block live[LIVE];
    memset(live, 0, sizeof live);
    for (int op = 0; op < 120000; op++) {
        struct block *b = &live[next_random() % LIVE];
        if (b->p) {
            CHECK(check_block(b), "block %p (%zu bytes) corrupted at op %d", (void *)b->p, b->n, op);
            if (next_random() % 4 == 0) {
                size_t n = random_size();
                uint8_t *q = test_realloc(b->p, n);
                CHECK(q != NULL, "realloc %zu failed", n);
                size_t keep = n < b->n ? n : b->n;
                for (size_t i = 0; i < keep; i++)
                    CHECK(q[i] == (uint8_t)(b->tag + i), "realloc lost data");
                b->p = q;
                b->n = n;
                fill_block(b);
                continue;
            }
            test_free(b->p);
            b->p = NULL;
            continue;
        }
        size_t n = random_size();
        uint64_t kind = next_random() % 10;
        if (kind == 0) {
            size_t align = (size_t)32 << (next_random() % 8); /* 32..4096 */
            void *p = NULL;
            CHECK(test_posix_memalign(&p, align, n) == 0, "memalign(%zu, %zu)", align, n);
            CHECK(((uintptr_t)p & (align - 1)) == 0, "misaligned %p for %zu", p, align);
            b->p = p;
        } else if (kind == 1) {
            b->p = test_calloc(1, n);
            CHECK(b->p != NULL, "calloc %zu", n);
            for (size_t i = 0; i < n; i++)
                CHECK(b->p[i] == 0, "calloc memory not zero");
        } else {
            b->p = test_malloc(n);
            CHECK(b->p != NULL, "malloc %zu failed at op %d", n, op);
        }
        CHECK(((uintptr_t)b->p & 15) == 0, "malloc result %p not 16-aligned", (void *)b->p);
        CHECK(b->p >= arena && b->p + n <= arena + arena_size, "outside the arena");
        b->n = n;
        b->tag = (uint8_t)next_random();
        fill_block(b);
    }
    for (int i = 0; i < LIVE; i++) {
        if (live[i].p) {
            CHECK(check_block(&live[i]), "final check");
            test_free(live[i].p);
        }
    }
    struct skiff_heap_stats s;
    test_skiff_heap_get_stats(&s);
    CHECK(s.in_use == 0 && s.allocations == 0, "in_use %zu allocations %zu", s.in_use, s.allocations);
    /* Everything coalesces back: one allocation of nearly all memory works. */
    void *all = test_malloc(s.capacity - 4096);
    CHECK(all != NULL, "heap did not coalesce back (capacity %zu)", s.capacity);
    test_free(all);
    passed++;
}

/* Large blocks are really reused: 6 MiB churned 1000 times in 8 MiB. */
static void test_large_reuse(void)
{
    reset(8 << 20);
    for (int round = 0; round < 1000; round++) {
        void *p[6];
        for (int i = 0; i < 6; i++) {
            p[i] = test_malloc((1 << 20) - 64 * (size_t)(round % 7));
            CHECK(p[i] != NULL, "round %d block %d", round, i);
        }
        for (int i = 0; i < 6; i++)
            test_free(p[(i * 5 + round) % 6]);
    }
    passed++;
}

/* Cached small chunks are flushed and coalesced when a large one needs them. */
static void test_small_then_large(void)
{
    reset(8 << 20);
    enum { N = 100000 };
    static void *p[N];
    size_t got = 0;
    for (; got < N; got++)
        if (!(p[got] = test_malloc(48)))
            break;
    CHECK(got > 100000 / 2, "only %zu small blocks", got);
    for (size_t i = 0; i < got; i++)
        test_free(p[(i * 7919) % got]);
    void *big = test_malloc(6 << 20);
    CHECK(big != NULL, "large allocation after freeing small ones");
    test_free(big);
    passed++;
}

/* Same-size small blocks come straight back from the cache. */
static void test_cache_lifo(void)
{
    reset(1 << 20);
    void *a = test_malloc(40);
    test_free(a);
    void *b = test_malloc(33);
    CHECK(a == b, "cache did not reuse %p (got %p)", a, b);
    test_free(b);
    passed++;
}

static void test_errors(void)
{
    reset(1 << 20);
    void *p = NULL;
    CHECK(test_calloc(SIZE_MAX / 2, 4) == NULL, "calloc overflow");
    CHECK(test_posix_memalign(&p, 24, 10) == 22, "non power of two alignment");
    CHECK(test_posix_memalign(&p, 4, 10) == 22, "alignment below sizeof(void *)");
    CHECK(test_malloc(2 << 20) == NULL, "allocation larger than the heap");
    CHECK(test_malloc(SIZE_MAX) == NULL, "SIZE_MAX");
    void *q = test_malloc(100);
    test_free(q);
    if (setjmp(corrupt_jmp) == 0) {
        test_free(q);
        CHECK(0, "double free not detected");
    }
    CHECK(corrupt_what != NULL, "no message");
    corrupt_what = NULL;
    void *big = test_malloc(5000);
    test_free(big);
    if (setjmp(corrupt_jmp) == 0) {
        test_free(big);
        CHECK(0, "double free of a large block not detected");
    }
    corrupt_what = NULL;
    if (setjmp(corrupt_jmp) == 0) {
        test_free((char *)q + 8);
        CHECK(0, "misaligned free not detected");
    }
    test_free(NULL);
    passed++;
}

/* A tiny heap (smaller than one chunk) fails cleanly. */
static void test_tiny_heap(void)
{
    uint8_t small[40];
    test_skiff_heap_init(small, small + sizeof small);
    CHECK(test_malloc(1) == NULL, "allocation from an empty heap");
    passed++;
}

int main(void)
{
    test_random_operations();
    test_large_reuse();
    test_small_then_large();
    test_cache_lifo();
    test_errors();
    test_tiny_heap();
    printf("heap_test: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
