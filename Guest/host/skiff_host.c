/*
 * skiff_host.c: the Skiff runtime's C interface (skiff_rt.h) on the build
 * host, for `swift build` without a Swift SDK: so a unikernel package
 * type-checks, links and runs on the host while it is edited (SourceKit-LSP,
 * quick runs of pure logic). Console, exit, abort, clocks, sleep and the
 * command line work; there are no devices (lookups fail) and no heap
 * statistics. Compiled to nothing for a Skiff platform (no __linux__ or
 * __APPLE__), where the platform's own runtime implements skiff_rt.h.
 */
#if defined(__linux__) || defined(__APPLE__)

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "skiff_rt.h"

const struct hvt_boot_info *skiff_boot_info = NULL;
uint64_t skiff_tsc_mult = (uint64_t)1 << 32;   /* the host "counter" counts ns */

uint32_t skiff_platform_capabilities(void) { return SKIFF_CAP_WALL_CLOCK; }

uint64_t skiff_clock_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The host process's arguments after argv[0], joined by spaces (as skiff run
 * joins a unikernel's arguments). Read from /proc on Linux; empty elsewhere. */
const char *skiff_cmdline(void)
{
    static char line[4096];
    static int done;
    if (!done) {
        done = 1;
        FILE *f = fopen("/proc/self/cmdline", "rb");
        if (f) {
            size_t n = fread(line, 1, sizeof line - 1, f);
            fclose(f);
            line[n] = 0;
            size_t first = strlen(line);            /* skip argv[0] */
            size_t start = first < n ? first + 1 : n;
            memmove(line, line + start, n - start);
            n -= start;
            line[n] = 0;
            if (n > 0 && line[n - 1] == 0) n--;
            for (size_t i = 0; i < n; i++) if (line[i] == 0) line[i] = ' ';
            line[n] = 0;
        }
    }
    return line;
}

uint64_t skiff_mem_size(void) { return 0; }

void skiff_console_write(const void *data, size_t len) { fwrite(data, 1, len, stdout); }
void skiff_console_flush(void) { fflush(stdout); }

_Noreturn void skiff_exit(int status)
{
    fflush(stdout);
    exit(status);
}

_Noreturn void skiff_abort(const char *msg, size_t len)
{
    fflush(stdout);
    fprintf(stdout, "Skiff: ABORT: %.*s\n", (int)len, msg);
    fflush(stdout);
    exit(255);
}

uint64_t skiff_poll(uint64_t timeout_ns)
{
    struct timespec ts = { (time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u) };
    nanosleep(&ts, NULL);
    return 0;
}

const struct mft_entry *skiff_mft_lookup(const char *name, size_t len, uint32_t type, uint64_t *handle)
{
    (void)name; (void)len; (void)type; (void)handle;
    return NULL;                                   /* no devices on the host */
}

int skiff_block_write(uint64_t h, uint64_t o, const void *b, uint64_t l) { (void)h; (void)o; (void)b; (void)l; return HVT_R_EINVAL; }
int skiff_block_read(uint64_t h, uint64_t o, void *b, uint64_t l) { (void)h; (void)o; (void)b; (void)l; return HVT_R_EINVAL; }
int skiff_net_write(uint64_t h, const void *f, size_t l) { (void)h; (void)f; (void)l; return HVT_R_EINVAL; }
int skiff_net_read(uint64_t h, void *b, size_t s, size_t *l) { (void)h; (void)b; (void)s; *l = 0; return HVT_R_EINVAL; }
int skiff_net_ring_active(void) { return 0; }
void skiff_net_ring_enable(int on) { (void)on; }

uint32_t skiff_block_ring_submit(struct skiff_block_ring *ring) { return skiff_block_ring_serve_each(ring); }

uint32_t skiff_block_ring_serve_each(struct skiff_block_ring *ring)
{
    uint32_t served = 0;
    for (uint32_t i = ring->tail; i != ring->head; i++, served++)
        ring->entries[i & (ring->size - 1)].ret = HVT_R_EINVAL;
    ring->tail = ring->head;
    return served;
}

void skiff_heap_get_stats(struct skiff_heap_stats *out) { memset(out, 0, sizeof *out); }

#endif
