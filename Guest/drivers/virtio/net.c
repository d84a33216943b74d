/*
 * net.c: the virtio-net driver: whole Ethernet frames, no offloads.
 *
 * Every receive buffer is posted at start and re-posted once read; transmit
 * buffers are copied into per-descriptor slots and reclaimed lazily. A frame
 * longer than MTU + 14 is HVT_R_EINVAL (hvt leaves it to the tap).
 */
#include "virtio.h"

#define VIRTIO_NET_F_MTU       (1ull << 3)
#define VIRTIO_NET_F_MAC       (1ull << 5)
#define NET_HDR                12           /* virtio_net_hdr, VERSION_1 */

static void rx_post(struct virtio_net *n, uint16_t id)
{
    n->rx.desc[id] = (struct virtq_desc){
        (uint64_t)(uintptr_t)(n->rx_bufs + (size_t)id * n->buf_size),
        (uint32_t)n->buf_size, VIRTQ_DESC_F_WRITE, 0 };
    virtq_submit(&n->rx, id);
}

struct virtio_net *virtio_net_attach(const struct virtio_dev *vd)
{
    uint64_t f;
    struct virtio_net *n = virtio_device_new(sizeof *n, vd, VIRTIO_NET_F_MAC | VIRTIO_NET_F_MTU, &f);
    if (!n || virtq_init(&n->rx, &n->dev, 0, VIRTIO_NET_QUEUE_MAX) != 0
        || virtq_init(&n->tx, &n->dev, 1, VIRTIO_NET_QUEUE_MAX) != 0)
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
    return n;
}

static void tx_reclaim(struct virtio_net *n)
{
    while (virtq_has_used(&n->tx)) {
        struct virtq_used_elem u = virtq_pop_used(&n->tx);
        if (u.id < n->tx.num)
            n->tx_free[n->tx_nfree++] = (uint16_t)u.id;
    }
}

int virtio_net_write(struct virtio_net *n, const void *frame, size_t len)
{
    if (len > (size_t)n->mtu + 14)
        return HVT_R_EINVAL;
    tx_reclaim(n);
    while (n->tx_nfree == 0) {
        virtio_wait_used(&n->tx);
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

int virtio_net_read(struct virtio_net *n, void *buf, size_t size, size_t *len)
{
    *len = 0;
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
