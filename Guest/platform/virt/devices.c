/*
 * devices.c: the virt platform's devices: manifest devices on virtio-mmio
 * (attachment; block and net I/O through drivers/virtio), POLL, and the
 * platform's capabilities, behind the same skiff_rt.h functions as hvt.
 *
 * The manifest. The image carries the Solo5 MFT1 note emitted by
 * `skiff build`; at start we copy its `struct mft` and, as an hvt tender
 * would, fill in each attached entry (capacity and block size, MAC and MTU)
 * and set `attached`. Handles are manifest indexes, as on hvt.
 *
 * Which virtio device is which manifest entry (docs/boot-aarch64.md):
 *   1. virtio-mmio slots are taken in DEcreasing base address: QEMU virt
 *      plugs the first `-device` into the highest slot, the next one below.
 *   2. If the command line starts with Skiff tokens ended by `--`
 *      (`skiff.block=NAME ... skiff.net=NAME ... -- ARGS`, which is what
 *      `skiff run` passes), the i-th `skiff.block=` names the i-th virtio-blk
 *      device and the i-th `skiff.net=` the i-th virtio-net device.
 *   3. Otherwise (a hand-written QEMU command line), the block entries of
 *      the manifest, in manifest order, take the virtio-blk devices in
 *      order, and likewise for net.
 * Devices that match nothing are left in reset.
 *
 * Requests are checked with the hvt tender's rules (spec 9.4): ranges
 * only; the drivers keep hvt's "any byte range inside the device"
 * behaviour (drivers/virtio/blk.c). Differences: a frame longer than
 * MTU + 14 is EINVAL (hvt leaves it to the tap); I/O errors reported by the
 * device are EUNSPEC (the hvt tender exits instead).
 */
#include "virt.h"
#include "virtio.h"

enum { DEV_NONE, DEV_BLOCK, DEV_NET };

static struct {
    int type;
    void *dev;
} handles[MFT_MAX_ENTRIES];

static uint64_t mft_buf[(8 + MFT_MAX_ENTRIES * sizeof(struct mft_entry)) / 8 + 1];
static struct mft *mft;
static struct virtio_dev *attached_devs[MFT_MAX_ENTRIES];
static unsigned nattached;

/* ---- Manifest ---------------------------------------------------------- */

/* Copies the MFT1 note's struct mft (note.S layout, spec section 3.3). */
static void load_manifest(void)
{
    const uint8_t *n = (const uint8_t *)__skiff_mft_note_start;
    size_t size = (size_t)(__skiff_mft_note_end - __skiff_mft_note_start);
    if (size < 24)
        return;
    uint32_t namesz, descsz, type;
    memcpy(&namesz, n, 4);
    memcpy(&descsz, n + 4, 4);
    memcpy(&type, n + 8, 4);
    if (namesz != 6 || type != SOLO5_NOTE_MFT1 || memcmp(n + 12, "Solo5", 6) != 0
        || descsz < 12 || 20 + (size_t)descsz > size || descsz - 4 > sizeof mft_buf) {
        skiff_warn("the manifest note is malformed: no devices");
        return;
    }
    memcpy(mft_buf, n + 24, descsz - 4);
    struct mft *m = (struct mft *)mft_buf;
    if (m->version != MFT_VERSION || m->entries < 1 || m->entries > MFT_MAX_ENTRIES
        || 8 + (size_t)m->entries * sizeof(struct mft_entry) != descsz - 4) {
        skiff_warn("the manifest note is invalid: no devices");
        return;
    }
    mft = m;
}

static struct mft_entry *find_entry(const char *name, size_t len, uint32_t type, uint32_t *index)
{
    return (struct mft_entry *)skiff_mft_find(mft, name, len, type, index);
}

const struct mft *skiff_virt_manifest(void)
{
    return mft;
}

/* ---- Waiting ---------------------------------------------------------- */

void skiff_devices_ack_interrupts(void)
{
    for (unsigned i = 0; i < nattached; i++)
        virtio_ack(attached_devs[i]);
}

/* Waits for the device to return a buffer on q (WFI when it can wake us). */
void virtio_wait_used(struct virtq *q)
{
    for (;;) {
        skiff_wait_prepare();
        if (virtq_has_used(q))
            return;
        if (skiff_gic_ready && q->dev->intid)
            skiff_wait_until(UINT64_MAX);
        else
            __asm__ __volatile__("yield");
    }
}

/* ---- Block ------------------------------------------------------------- */

static int blk_io(uint64_t handle, uint32_t type, uint64_t offset, void *buf, uint64_t len)
{
    if (handle >= MFT_MAX_ENTRIES || handles[handle].type != DEV_BLOCK)
        return HVT_R_EINVAL;
    return virtio_blk_io(handles[handle].dev, type, offset, buf, len);
}

int skiff_block_write(uint64_t handle, uint64_t offset, const void *buf, uint64_t len)
{
    return blk_io(handle, VIRTIO_BLK_T_OUT, offset, (void *)(uintptr_t)buf, len);
}

int skiff_block_read(uint64_t handle, uint64_t offset, void *buf, uint64_t len)
{
    return blk_io(handle, VIRTIO_BLK_T_IN, offset, buf, len);
}

/* virtio-blk serves one request at a time: no one-exit batches here. */
uint32_t skiff_block_ring_submit(struct skiff_block_ring *ring)
{
    return skiff_block_ring_serve_each(ring);
}

uint32_t skiff_platform_capabilities(void)
{
    return skiff_board.rtc ? SKIFF_CAP_WALL_CLOCK : 0;
}

/* ---- Net --------------------------------------------------------------- */

static struct virtio_net *net_of(uint64_t handle)
{
    if (handle >= MFT_MAX_ENTRIES || handles[handle].type != DEV_NET)
        return 0;
    return handles[handle].dev;
}

int skiff_net_write(uint64_t handle, const void *frame, size_t len)
{
    struct virtio_net *n = net_of(handle);
    if (!n)
        return HVT_R_EINVAL;
    return virtio_net_write(n, frame, len);
}

int skiff_net_read(uint64_t handle, void *buf, size_t size, size_t *len)
{
    struct virtio_net *n = net_of(handle);
    *len = 0;
    if (!n)
        return HVT_R_EINVAL;
    return virtio_net_read(n, buf, size, len);
}

static uint64_t net_ready(void)
{
    uint64_t set = 0;
    for (unsigned h = 1; h < MFT_MAX_ENTRIES; h++)
        if (handles[h].type == DEV_NET && virtio_net_has_input(handles[h].dev))
            set |= 1ull << h;
    return set;
}

uint64_t skiff_poll(uint64_t timeout_ns)
{
    uint64_t now = skiff_rdtsc();
    uint64_t t = skiff_ns_to_ticks(timeout_ns);
    uint64_t deadline = now + t < now ? UINT64_MAX : now + t;
    for (;;) {
        skiff_wait_prepare();
        uint64_t r = net_ready();
        if (r || skiff_rdtsc() >= deadline)
            return r;
        skiff_wait_until(deadline);
    }
}

/* ---- Attachment --------------------------------------------------------- */

static void attach(struct virtio_dev *vd, uint32_t index)
{
    struct mft_entry *e = &mft->e[index];
    struct virtio_dev *live = 0;
    if (vd->device_id == VIRTIO_ID_BLOCK) {
        struct virtio_blk *b = virtio_blk_attach(vd);
        if (b) {
            e->u.block_basic.capacity = b->capacity;
            e->u.block_basic.block_size = (uint16_t)b->block_size;
            live = &b->dev;
        }
    } else {
        struct virtio_net *n = virtio_net_attach(vd);
        if (n) {
            memcpy(e->u.net_basic.mac, n->mac, 6);
            e->u.net_basic.mtu = n->mtu;
            live = &n->dev;
        }
    }
    if (!live) {
        struct skiff_fmt f = { .len = 0 };
        skiff_fmt_str(&f, "virtio device for '");
        skiff_fmt_str(&f, e->name);
        skiff_fmt_str(&f, "' failed to initialise");
        skiff_warn(f.buf);
        return;
    }
    handles[index].type = vd->device_id == VIRTIO_ID_BLOCK ? DEV_BLOCK : DEV_NET;
    handles[index].dev = live;   /* the driver's structure starts with it */
    e->attached = 1;
    attached_devs[nattached++] = live;
    if (live->intid)
        skiff_gic_enable(live->intid, live->edge);
}

/* Next `skiff.KIND=NAME` token of the Skiff part of the command line. */
static int next_name(const char **cursor, const char *kind, const char **name, size_t *len)
{
    const char *p = *cursor;
    size_t klen = strlen(kind);
    while (*p) {
        while (*p == ' ')
            p++;
        const char *tok = p;
        while (*p && *p != ' ')
            p++;
        if ((size_t)(p - tok) > klen && memcmp(tok, kind, klen) == 0) {
            *name = tok + klen;
            *len = (size_t)(p - tok) - klen;
            *cursor = p;
            return 1;
        }
    }
    *cursor = p;
    return 0;
}

static void attach_kind(struct virtio_dev *devs, unsigned ndevs, uint32_t type, const char *token)
{
    const char *names = skiff_bootargs_devices();
    unsigned used = 0;
    if (*names) {
        const char *cur = names, *name;
        size_t len;
        while (next_name(&cur, token, &name, &len)) {
            uint32_t index;
            struct mft_entry *e = find_entry(name, len, type, &index);
            if (used >= ndevs) {
                skiff_warn("more device names on the command line than virtio devices");
                return;
            }
            struct virtio_dev *vd = &devs[used++];
            if (e && !e->attached)
                attach(vd, index);
        }
        return;
    }
    for (uint32_t i = 1; mft && i < mft->entries && used < ndevs; i++)
        if (mft->e[i].type == type)
            attach(&devs[used++], i);
}

void skiff_devices_quiesce(void)
{
    /* Nothing to drain: block requests complete before they return, and a
     * net frame is the device's once its notify is written. */
}

void skiff_devices_init(void)
{
    static struct virtio_dev blk[SKIFF_MAX_VIRTIO], net[SKIFF_MAX_VIRTIO];
    unsigned nblk = 0, nnet = 0;
    struct skiff_board *b = &skiff_board;
    int warned = 0;

    load_manifest();
    /* Slots in decreasing base address (QEMU's -device order). */
    uint8_t order[SKIFF_MAX_VIRTIO];
    for (unsigned i = 0; i < b->nvirtio; i++)
        order[i] = (uint8_t)i;
    for (unsigned i = 1; i < b->nvirtio; i++)
        for (unsigned j = i; j > 0 && b->virtio[order[j - 1]].base < b->virtio[order[j]].base; j--) {
            uint8_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (unsigned k = 0; k < b->nvirtio; k++) {
        const struct skiff_virtio_slot *s = &b->virtio[order[k]];
        uint32_t id = 0;
        int v = virtio_probe(s->base, &id);
        if (v < 0 && !warned) {
            skiff_warn("legacy virtio-mmio transport ignored (QEMU: -global virtio-mmio.force-legacy=false)");
            warned = 1;
        }
        if (v <= 0)
            continue;
        struct virtio_dev d = { s->base, s->intid, (int)s->edge, id };
        if (id == VIRTIO_ID_BLOCK)
            blk[nblk++] = d;
        else if (id == VIRTIO_ID_NET)
            net[nnet++] = d;
    }
    if (!mft)
        return;
    attach_kind(blk, nblk, MFT_DEV_BLOCK_BASIC, "skiff.block=");
    attach_kind(net, nnet, MFT_DEV_NET_BASIC, "skiff.net=");
}
