/*
 * manifest.c: looking up devices in the Solo5 manifest (struct mft) that
 * the platform left at skiff_boot_info->mft (hvt: the tender's copy; virt:
 * the image's MFT1 note, filled in by platform/virt/devices.c).
 */
#include "rt.h"

const struct mft_entry *skiff_mft_find(const struct mft *m, const char *name, size_t len,
                                       uint32_t type, uint32_t *index)
{
    if (!m || len == 0 || len > MFT_NAME_MAX)
        return NULL;
    uint32_t n = m->entries <= MFT_MAX_ENTRIES ? m->entries : MFT_MAX_ENTRIES;
    for (uint32_t i = 1; i < n; i++) {
        const struct mft_entry *e = &m->e[i];
        if (e->type == type && memcmp(e->name, name, len) == 0 && e->name[len] == 0) {
            *index = i;
            return e;
        }
    }
    return NULL;
}

const struct mft_entry *skiff_mft_lookup(const char *name, size_t len,
                                         uint32_t type, uint64_t *handle)
{
    uint32_t i;
    const struct mft *m = (const struct mft *)(uintptr_t)skiff_boot_info->mft;
    const struct mft_entry *e = skiff_mft_find(m, name, len, type, &i);
    if (!e || !e->attached)
        return NULL;
    *handle = i;
    return e;
}
