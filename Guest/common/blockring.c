/*
 * blockring.c: serving a Skiff block ring (docs/block-ring.md) one request
 * at a time, for platforms or monitors without the one-exit path (upstream
 * solo5-hvt, virtio-blk). The platform's skiff_block_ring_submit uses it.
 */
#include "rt.h"

uint32_t skiff_block_ring_serve_each(struct skiff_block_ring *ring)
{
    uint32_t size = ring->size, head = ring->head, tail = ring->tail;
    uint32_t served = 0;
    for (uint32_t i = tail; i != head; i++, served++) {
        struct skiff_block_ring_entry *e = &ring->entries[i & (size - 1)];
        void *buf = (void *)(uintptr_t)e->data;
        switch (e->op) {
        case SKIFF_BLOCK_OP_READ:  e->ret = skiff_block_read(e->handle, e->offset, buf, e->len); break;
        case SKIFF_BLOCK_OP_WRITE: e->ret = skiff_block_write(e->handle, e->offset, buf, e->len); break;
        case SKIFF_BLOCK_OP_FLUSH: e->ret = HVT_R_EUNSPEC; break;
        default:                   e->ret = HVT_R_EINVAL; break;
        }
    }
    ring->tail = head;
    return served;
}
