/*
 * devices.c: clock, poll, manifest lookup, block and net I/O over hvt
 * hypercalls (spec sections 9, 11, 12.3).
 *
 * Each call builds its argument block on the stack (GPA == pointer, below
 * mem_size) and issues one hypercall. Checks that Solo5's bindings do in the
 * guest (block alignment/size) live in the Swift layer, so that rawRead and
 * rawWrite can hand unchecked requests to the tender.
 */
#include "rt.h"

uint64_t skiff_clock_wall(void)
{
    volatile struct hvt_hc_walltime arg = { .nsecs = 0 };
    skiff_hvt_walltime(&arg);
    return arg.nsecs;
}

uint64_t skiff_poll(uint64_t timeout_ns)
{
    volatile struct hvt_hc_poll arg = { .timeout_nsecs = timeout_ns };
    skiff_hvt_poll(&arg);
    return arg.ready_set;
}

const struct mft_entry *skiff_mft_lookup(const char *name, size_t len,
                                         uint32_t type, uint64_t *handle)
{
    const struct mft *m = (const struct mft *)(uintptr_t)skiff_boot_info->mft;
    if (!m || len == 0 || len > MFT_NAME_MAX)
        return NULL;
    uint32_t n = m->entries <= MFT_MAX_ENTRIES ? m->entries : MFT_MAX_ENTRIES;
    for (uint32_t i = 1; i < n; i++) {
        const struct mft_entry *e = &m->e[i];
        if (e->type != type || memcmp(e->name, name, len) != 0 || e->name[len] != 0)
            continue;
        if (!e->attached)
            return NULL;
        *handle = i;
        return e;
    }
    return NULL;
}

int skiff_block_write(uint64_t handle, uint64_t offset, const void *buf,
                      uint64_t len)
{
    volatile struct hvt_hc_block arg = {
        .handle = handle, .offset = offset,
        .data = (hvt_gpa_t)(uintptr_t)buf, .len = len, .ret = HVT_R_EUNSPEC };
    skiff_hvt_block_write(&arg);
    return arg.ret;
}

int skiff_block_read(uint64_t handle, uint64_t offset, void *buf, uint64_t len)
{
    volatile struct hvt_hc_block arg = {
        .handle = handle, .offset = offset,
        .data = (hvt_gpa_t)(uintptr_t)buf, .len = len, .ret = HVT_R_EUNSPEC };
    skiff_hvt_block_read(&arg);
    return arg.ret;
}

int skiff_net_write(uint64_t handle, const void *frame, size_t len)
{
    volatile struct hvt_hc_net arg = {
        .handle = handle, .data = (hvt_gpa_t)(uintptr_t)frame, .len = len,
        .ret = HVT_R_EUNSPEC };
    skiff_hvt_net_write(&arg);
    return arg.ret;
}

int skiff_net_read(uint64_t handle, void *buf, size_t size, size_t *len)
{
    volatile struct hvt_hc_net arg = {
        .handle = handle, .data = (hvt_gpa_t)(uintptr_t)buf, .len = size,
        .ret = HVT_R_EUNSPEC };
    skiff_hvt_net_read(&arg);
    int ret = arg.ret;
    *len = ret == HVT_R_OK ? (size_t)arg.len : 0;
    return ret;
}

void skiff_devices_init(void)
{
}
