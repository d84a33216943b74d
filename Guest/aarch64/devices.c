/*
 * devices.c: manifest devices on virtio-mmio: attachment, block and net I/O,
 * and POLL, behind the same skiff_rt.h functions as the x86_64 hvt runtime.
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
 * only. virtio-blk moves whole logical blocks, so a byte range that is not
 * block-aligned goes through a one-block bounce buffer (read-modify-write
 * for writes), which keeps hvt's "any byte range inside the device"
 * behaviour. Differences: a frame longer than MTU + 14 is EINVAL (hvt
 * leaves it to the tap); I/O errors reported by the device are EUNSPEC
 * (the hvt tender exits instead).
 */
#include "virtio.h"

#define VIRTIO_BLK_F_RO        (1ull << 5)
#define VIRTIO_BLK_F_BLK_SIZE  (1ull << 6)
#define VIRTIO_BLK_T_IN        0
#define VIRTIO_BLK_T_OUT       1
#define VIRTIO_BLK_S_OK        0
#define BLK_CHUNK              (1u << 20)

#define VIRTIO_NET_F_MTU       (1ull << 3)
#define VIRTIO_NET_F_MAC       (1ull << 5)
#define NET_HDR                12           /* virtio_net_hdr, VERSION_1 */
#define NET_QUEUE_MAX          128

struct blk_req_hdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

struct blkdev {
    struct virtio_dev dev;
    struct virtq q;
    uint64_t capacity;         /* bytes */
    uint32_t block_size;
    int read_only;
    struct blk_req_hdr *hdr;   /* one request in flight: header + status */
    volatile uint8_t *status;
    uint8_t *bounce;           /* one block, for unaligned byte ranges */
};

struct netdev {
    struct virtio_dev dev;
    struct virtq rx, tx;
    uint8_t mac[6];
    uint16_t mtu;
    size_t buf_size;           /* NET_HDR + mtu + 14, rounded up */
    uint8_t *rx_bufs, *tx_bufs;
    uint16_t tx_free[NET_QUEUE_MAX];
    uint16_t tx_nfree;
};

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
    if (!mft || len == 0 || len > MFT_NAME_MAX)
        return 0;
    for (uint32_t i = 1; i < mft->entries; i++) {
        struct mft_entry *e = &mft->e[i];
        if (e->type == type && memcmp(e->name, name, len) == 0 && e->name[len] == 0) {
            *index = i;
            return e;
        }
    }
    return 0;
}

const struct mft_entry *skiff_mft_lookup(const char *name, size_t len,
                                         uint32_t type, uint64_t *handle)
{
    uint32_t i;
    struct mft_entry *e = find_entry(name, len, type, &i);
    if (!e || !e->attached)
        return 0;
    *handle = i;
    return e;
}

const struct mft *skiff_a64_manifest(void)
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
static void wait_used(struct virtq *q)
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

static struct blkdev *attach_blk(struct virtio_dev *vd, struct mft_entry *e)
{
    struct blkdev *b = 0;
    if (posix_memalign((void **)&b, 64, sizeof *b) != 0 || !b)
        return 0;
    memset(b, 0, sizeof *b);
    b->dev = *vd;
    uint64_t f = virtio_negotiate(&b->dev, VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_RO);
    if (!f || virtq_init(&b->q, &b->dev, 0, 16) != 0)
        return 0;
    void *req = 0;
    if (posix_memalign(&req, 64, 64) != 0 || !req)
        return 0;
    b->hdr = req;
    b->status = (volatile uint8_t *)req + 32;
    b->capacity = virtio_config64(&b->dev, 0) * 512;
    b->block_size = 512;
    if (f & VIRTIO_BLK_F_BLK_SIZE) {
        uint32_t bs = virtio_config32(&b->dev, 20);
        if (bs >= 512 && bs <= 32768 && (bs & (bs - 1)) == 0)
            b->block_size = bs;
    }
    b->read_only = (f & VIRTIO_BLK_F_RO) != 0;
    if (posix_memalign((void **)&b->bounce, 64, b->block_size) != 0 || !b->bounce)
        return 0;
    virtio_driver_ok(&b->dev);
    e->u.block_basic.capacity = b->capacity;
    e->u.block_basic.block_size = (uint16_t)b->block_size;
    return b;
}

/* One request of at most BLK_CHUNK bytes; waits for it. */
static int blk_request(struct blkdev *b, uint32_t type, uint64_t offset, void *buf, uint32_t len)
{
    struct virtq_desc *d = b->q.desc;
    b->hdr->type = type;
    b->hdr->reserved = 0;
    b->hdr->sector = offset / 512;
    *b->status = 0xff;
    d[0] = (struct virtq_desc){ (uint64_t)(uintptr_t)b->hdr, sizeof *b->hdr, VIRTQ_DESC_F_NEXT, 1 };
    d[1] = (struct virtq_desc){ (uint64_t)(uintptr_t)buf, len,
                                (uint16_t)(VIRTQ_DESC_F_NEXT | (type == VIRTIO_BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0)), 2 };
    d[2] = (struct virtq_desc){ (uint64_t)(uintptr_t)b->status, 1, VIRTQ_DESC_F_WRITE, 0 };
    virtq_submit(&b->q, 0);
    wait_used(&b->q);
    (void)virtq_pop_used(&b->q);
    dmb_sy();
    return *b->status == VIRTIO_BLK_S_OK ? HVT_R_OK : HVT_R_EUNSPEC;
}

static int blk_io(uint64_t handle, uint32_t type, uint64_t offset, void *buf, uint64_t len)
{
    if (handle >= MFT_MAX_ENTRIES || handles[handle].type != DEV_BLOCK)
        return HVT_R_EINVAL;
    struct blkdev *b = handles[handle].dev;
    if (offset >= b->capacity || len > b->capacity - offset)
        return HVT_R_EINVAL;
    if (type == VIRTIO_BLK_T_OUT && b->read_only)
        return HVT_R_EUNSPEC;
    char *p = buf;
    if (offset % b->block_size || len % b->block_size) {
        /* Block by block through the bounce buffer. */
        uint64_t bs = b->block_size;
        while (len > 0) {
            uint64_t start = offset - offset % bs, in = offset - start;
            uint64_t n = bs - in < len ? bs - in : len;
            int r = blk_request(b, VIRTIO_BLK_T_IN, start, b->bounce, (uint32_t)bs);
            if (r == HVT_R_OK && type == VIRTIO_BLK_T_OUT) {
                memcpy(b->bounce + in, p, n);
                r = blk_request(b, VIRTIO_BLK_T_OUT, start, b->bounce, (uint32_t)bs);
            } else if (r == HVT_R_OK) {
                memcpy(p, b->bounce + in, n);
            }
            if (r != HVT_R_OK)
                return r;
            p += n;
            offset += n;
            len -= n;
        }
        return HVT_R_OK;
    }
    while (len > 0) {
        uint32_t n = len > BLK_CHUNK ? BLK_CHUNK : (uint32_t)len;
        int r = blk_request(b, type, offset, p, n);
        if (r != HVT_R_OK)
            return r;
        p += n;
        offset += n;
        len -= n;
    }
    return HVT_R_OK;
}

int skiff_block_write(uint64_t handle, uint64_t offset, const void *buf, uint64_t len)
{
    return blk_io(handle, VIRTIO_BLK_T_OUT, offset, (void *)(uintptr_t)buf, len);
}

int skiff_block_read(uint64_t handle, uint64_t offset, void *buf, uint64_t len)
{
    return blk_io(handle, VIRTIO_BLK_T_IN, offset, buf, len);
}

/* ---- Net --------------------------------------------------------------- */

static void rx_post(struct netdev *n, uint16_t id)
{
    n->rx.desc[id] = (struct virtq_desc){
        (uint64_t)(uintptr_t)(n->rx_bufs + (size_t)id * n->buf_size),
        (uint32_t)n->buf_size, VIRTQ_DESC_F_WRITE, 0 };
    virtq_submit(&n->rx, id);
}

static struct netdev *attach_net(struct virtio_dev *vd, struct mft_entry *e)
{
    struct netdev *n = 0;
    if (posix_memalign((void **)&n, 64, sizeof *n) != 0 || !n)
        return 0;
    memset(n, 0, sizeof *n);
    n->dev = *vd;
    uint64_t f = virtio_negotiate(&n->dev, VIRTIO_NET_F_MAC | VIRTIO_NET_F_MTU);
    if (!f || virtq_init(&n->rx, &n->dev, 0, NET_QUEUE_MAX) != 0
        || virtq_init(&n->tx, &n->dev, 1, NET_QUEUE_MAX) != 0)
        return 0;
    for (int i = 0; i < 6; i++)
        n->mac[i] = (f & VIRTIO_NET_F_MAC) ? virtio_config8(&n->dev, (uint32_t)i) : 0;
    if (!(f & VIRTIO_NET_F_MAC)) {
        arc4random_buf(n->mac, 6);
        n->mac[0] = (uint8_t)((n->mac[0] & 0xfe) | 0x02);
    }
    n->mtu = 1500;
    if (f & VIRTIO_NET_F_MTU) {
        uint16_t m = virtio_config16(&n->dev, 10);
        if (m >= 68)
            n->mtu = m;
    }
    n->buf_size = (NET_HDR + (size_t)n->mtu + 14 + 63) & ~(size_t)63;
    if (posix_memalign((void **)&n->rx_bufs, 4096, n->buf_size * n->rx.num) != 0
        || posix_memalign((void **)&n->tx_bufs, 4096, n->buf_size * n->tx.num) != 0)
        return 0;
    virtio_driver_ok(&n->dev);
    for (uint16_t i = 0; i < n->rx.num; i++)
        rx_post(n, i);
    for (uint16_t i = 0; i < n->tx.num; i++)
        n->tx_free[n->tx_nfree++] = i;
    memcpy(e->u.net_basic.mac, n->mac, 6);
    e->u.net_basic.mtu = n->mtu;
    return n;
}

static struct netdev *net_of(uint64_t handle)
{
    if (handle >= MFT_MAX_ENTRIES || handles[handle].type != DEV_NET)
        return 0;
    return handles[handle].dev;
}

static void tx_reclaim(struct netdev *n)
{
    while (virtq_has_used(&n->tx)) {
        struct virtq_used_elem u = virtq_pop_used(&n->tx);
        if (u.id < n->tx.num)
            n->tx_free[n->tx_nfree++] = (uint16_t)u.id;
    }
}

int skiff_net_write(uint64_t handle, const void *frame, size_t len)
{
    struct netdev *n = net_of(handle);
    if (!n || len > (size_t)n->mtu + 14)
        return HVT_R_EINVAL;
    tx_reclaim(n);
    while (n->tx_nfree == 0) {
        wait_used(&n->tx);
        tx_reclaim(n);
    }
    uint16_t id = n->tx_free[--n->tx_nfree];
    uint8_t *buf = n->tx_bufs + (size_t)id * n->buf_size;
    memset(buf, 0, NET_HDR);
    memcpy(buf + NET_HDR, frame, len);
    n->tx.desc[id] = (struct virtq_desc){ (uint64_t)(uintptr_t)buf, (uint32_t)(NET_HDR + len), 0, 0 };
    virtq_submit(&n->tx, id);
    return HVT_R_OK;
}

int skiff_net_read(uint64_t handle, void *buf, size_t size, size_t *len)
{
    struct netdev *n = net_of(handle);
    *len = 0;
    if (!n)
        return HVT_R_EINVAL;
    if (!virtq_has_used(&n->rx))
        return HVT_R_AGAIN;
    struct virtq_used_elem u = virtq_pop_used(&n->rx);
    if (u.id >= n->rx.num)
        return HVT_R_EUNSPEC;
    size_t flen = u.len > NET_HDR ? u.len - NET_HDR : 0;
    if (flen > size)
        flen = size;                     /* truncated, as a tap read would be */
    memcpy(buf, n->rx_bufs + (size_t)u.id * n->buf_size + NET_HDR, flen);
    rx_post(n, (uint16_t)u.id);
    *len = flen;
    return HVT_R_OK;
}

static uint64_t net_ready(void)
{
    uint64_t set = 0;
    for (unsigned h = 1; h < MFT_MAX_ENTRIES; h++)
        if (handles[h].type == DEV_NET && virtq_has_used(&((struct netdev *)handles[h].dev)->rx))
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
    void *dev = vd->device_id == VIRTIO_ID_BLOCK ? (void *)attach_blk(vd, e) : (void *)attach_net(vd, e);
    if (!dev) {
        struct skiff_fmt f = { .len = 0 };
        skiff_fmt_str(&f, "virtio device for '");
        skiff_fmt_str(&f, e->name);
        skiff_fmt_str(&f, "' failed to initialise");
        skiff_warn(f.buf);
        return;
    }
    struct virtio_dev *live = vd->device_id == VIRTIO_ID_BLOCK ? &((struct blkdev *)dev)->dev
                                                               : &((struct netdev *)dev)->dev;
    handles[index].type = vd->device_id == VIRTIO_ID_BLOCK ? DEV_BLOCK : DEV_NET;
    handles[index].dev = dev;
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
