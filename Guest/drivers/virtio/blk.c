/*
 * blk.c: the virtio-blk driver: one request in flight, any byte range.
 *
 * virtio-blk moves whole logical blocks, so a byte range that is not
 * block-aligned goes through a one-block bounce buffer (read-modify-write
 * for writes), which keeps hvt's "any byte range inside the device"
 * behaviour. I/O errors reported by the device are HVT_R_EUNSPEC.
 */
#include "virtio.h"

#define VIRTIO_BLK_F_RO        (1ull << 5)
#define VIRTIO_BLK_F_BLK_SIZE  (1ull << 6)
#define VIRTIO_BLK_S_OK        0
#define BLK_CHUNK              (1u << 20)

struct virtio_blk *virtio_blk_attach(const struct virtio_dev *vd)
{
    uint64_t f;
    struct virtio_blk *b = virtio_device_new(sizeof *b, vd, VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_RO, &f);
    if (!b || virtq_init(&b->q, &b->dev, 0, 16) != 0)
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
    return b;
}

/* One request of at most BLK_CHUNK bytes; waits for it. */
static int blk_request(struct virtio_blk *b, uint32_t type, uint64_t offset, void *buf, uint32_t len)
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
    virtio_wait_used(&b->q);
    (void)virtq_pop_used(&b->q);
    dmb_sy();
    return *b->status == VIRTIO_BLK_S_OK ? HVT_R_OK : HVT_R_EUNSPEC;
}

int virtio_blk_io(struct virtio_blk *b, uint32_t type, uint64_t offset, void *buf, uint64_t len)
{
    if (offset >= b->capacity || len > b->capacity - offset)
        return HVT_R_EINVAL;
    if (type == VIRTIO_BLK_T_OUT && b->read_only)
        return HVT_R_EUNSPEC;
    char *p = buf;
    uint64_t bs = b->block_size;
    int bounce = offset % bs || len % bs;   /* block by block through the bounce buffer */
    while (len > 0) {
        uint64_t n;
        int r;
        if (bounce) {
            uint64_t start = offset - offset % bs, in = offset - start;
            n = bs - in < len ? bs - in : len;
            r = blk_request(b, VIRTIO_BLK_T_IN, start, b->bounce, (uint32_t)bs);
            if (r == HVT_R_OK && type == VIRTIO_BLK_T_OUT) {
                memcpy(b->bounce + in, p, n);
                r = blk_request(b, VIRTIO_BLK_T_OUT, start, b->bounce, (uint32_t)bs);
            } else if (r == HVT_R_OK) {
                memcpy(p, b->bounce + in, n);
            }
        } else {
            n = len > BLK_CHUNK ? BLK_CHUNK : len;
            r = blk_request(b, type, offset, p, (uint32_t)n);
        }
        if (r != HVT_R_OK)
            return r;
        p += n;
        offset += n;
        len -= n;
    }
    return HVT_R_OK;
}
