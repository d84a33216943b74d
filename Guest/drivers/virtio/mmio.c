/*
 * mmio.c: virtio-mmio version 2 transport and split virtqueues.
 *
 * Only the modern transport is driven: QEMU's virtio-mmio defaults to the
 * legacy one (version 1), which `skiff run` turns off with
 * `-global virtio-mmio.force-legacy=false`; a legacy slot is reported once
 * and ignored. Guest memory is identity-mapped, so a pointer is the address
 * the device uses. The DTB marks the slots dma-coherent; the barriers below
 * order our ring writes against the device's view (Normal WB memory) and
 * against the notify register (Device memory).
 */
#include "virtio.h"

int virtio_probe(uint64_t base, uint32_t *device_id)
{
    if (mmio_read32(base + VIRTIO_MMIO_MAGIC) != VIRTIO_MAGIC)
        return 0;
    uint32_t id = mmio_read32(base + VIRTIO_MMIO_DEVICE_ID);
    if (id == 0)
        return 0;
    *device_id = id;
    return mmio_read32(base + VIRTIO_MMIO_VERSION) == 2 ? 1 : -1;
}

uint64_t virtio_negotiate(struct virtio_dev *d, uint64_t wanted)
{
    uint64_t b = d->base;
    mmio_write32(b + VIRTIO_MMIO_STATUS, 0);              /* reset */
    for (int i = 0; i < 1000000 && mmio_read32(b + VIRTIO_MMIO_STATUS) != 0; i++)
        ;
    mmio_write32(b + VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    mmio_write32(b + VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    mmio_write32(b + VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t have = mmio_read32(b + VIRTIO_MMIO_DEVICE_FEATURES);
    mmio_write32(b + VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    have |= (uint64_t)mmio_read32(b + VIRTIO_MMIO_DEVICE_FEATURES) << 32;
    uint64_t use = (have & wanted) | VIRTIO_F_VERSION_1;
    if (!(have & VIRTIO_F_VERSION_1))
        return 0;
    mmio_write32(b + VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    mmio_write32(b + VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)use);
    mmio_write32(b + VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    mmio_write32(b + VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(use >> 32));
    uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
    mmio_write32(b + VIRTIO_MMIO_STATUS, st);
    if (!(mmio_read32(b + VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK)) {
        mmio_write32(b + VIRTIO_MMIO_STATUS, VIRTIO_STATUS_FAILED);
        return 0;
    }
    return use;
}

int virtq_init(struct virtq *q, struct virtio_dev *d, uint16_t index, uint16_t max)
{
    uint64_t b = d->base;
    mmio_write32(b + VIRTIO_MMIO_QUEUE_SEL, index);
    if (mmio_read32(b + VIRTIO_MMIO_QUEUE_READY) != 0)
        return -1;
    uint32_t num = mmio_read32(b + VIRTIO_MMIO_QUEUE_NUM_MAX);
    if (num == 0)
        return -1;
    if (num > max)
        num = max;
    /* Queue sizes are powers of two (split rings). */
    while (num & (num - 1))
        num &= num - 1;
    size_t desc_sz = 16u * num, avail_sz = 6u + 2u * num, used_sz = 6u + 8u * num;
    size_t used_off = (desc_sz + avail_sz + 4095) & ~(size_t)4095;
    size_t total = used_off + used_sz;
    void *mem = 0;
    if (posix_memalign(&mem, 4096, total) != 0 || !mem)
        return -1;
    memset(mem, 0, total);
    q->dev = d;
    q->index = index;
    q->num = (uint16_t)num;
    q->avail_idx = 0;
    q->last_used = 0;
    q->desc = mem;
    q->avail = (volatile struct virtq_avail *)((char *)mem + desc_sz);
    q->used = (volatile struct virtq_used *)((char *)mem + used_off);
    uint64_t da = (uint64_t)(uintptr_t)q->desc;
    uint64_t aa = (uint64_t)(uintptr_t)q->avail;
    uint64_t ua = (uint64_t)(uintptr_t)q->used;
    mmio_write32(b + VIRTIO_MMIO_QUEUE_NUM, num);
    mmio_write32(b + VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)da);
    mmio_write32(b + VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(da >> 32));
    mmio_write32(b + VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)aa);
    mmio_write32(b + VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(aa >> 32));
    mmio_write32(b + VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)ua);
    mmio_write32(b + VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(ua >> 32));
    dsb_sy();
    mmio_write32(b + VIRTIO_MMIO_QUEUE_READY, 1);
    return 0;
}

void virtio_driver_ok(struct virtio_dev *d)
{
    mmio_write32(d->base + VIRTIO_MMIO_STATUS,
                 VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER
                 | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

void virtq_submit(struct virtq *q, uint16_t head)
{
    q->avail->ring[q->avail_idx & (q->num - 1)] = head;
    dmb_sy();                          /* ring entry before the index */
    q->avail->idx = ++q->avail_idx;
    dsb_sy();                          /* index before the notify write */
    mmio_write32(q->dev->base + VIRTIO_MMIO_QUEUE_NOTIFY, q->index);
}

struct virtq_used_elem virtq_pop_used(struct virtq *q)
{
    dmb_sy();                          /* used->idx before the entry */
    volatile struct virtq_used_elem *e = &q->used->ring[q->last_used & (q->num - 1)];
    struct virtq_used_elem r = { e->id, e->len };
    q->last_used++;
    return r;
}

void virtio_ack(struct virtio_dev *d)
{
    uint32_t s = mmio_read32(d->base + VIRTIO_MMIO_INTERRUPT_STATUS);
    if (s)
        mmio_write32(d->base + VIRTIO_MMIO_INTERRUPT_ACK, s);
}

static uint32_t gen(struct virtio_dev *d)
{
    return mmio_read32(d->base + VIRTIO_MMIO_CONFIG_GENERATION);
}

uint8_t virtio_config8(struct virtio_dev *d, uint32_t off)
{
    return mmio_read8(d->base + VIRTIO_MMIO_CONFIG + off);
}

uint16_t virtio_config16(struct virtio_dev *d, uint32_t off)
{
    return mmio_read16(d->base + VIRTIO_MMIO_CONFIG + off);
}

uint32_t virtio_config32(struct virtio_dev *d, uint32_t off)
{
    return mmio_read32(d->base + VIRTIO_MMIO_CONFIG + off);
}

uint64_t virtio_config64(struct virtio_dev *d, uint32_t off)
{
    uint32_t g, lo, hi;
    do {
        g = gen(d);
        lo = virtio_config32(d, off);
        hi = virtio_config32(d, off + 4);
    } while (g != gen(d));
    return ((uint64_t)hi << 32) | lo;
}

void *virtio_device_new(size_t size, const struct virtio_dev *vd, uint64_t wanted, uint64_t *features)
{
    struct virtio_dev *d = 0;
    if (posix_memalign((void **)&d, 64, size) != 0 || !d)
        return 0;
    memset(d, 0, size);
    *d = *vd;
    *features = virtio_negotiate(d, wanted);
    return *features ? d : 0;
}
