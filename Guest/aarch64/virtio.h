/*
 * virtio.h: the virtio-mmio (version 2, "modern") transport and split
 * virtqueues, shared by the block and net drivers (virtio.c, devices.c).
 * Virtio 1.1, sections 2.7 (split virtqueues) and 4.2 (virtio over MMIO).
 */
#ifndef SKIFF_AARCH64_VIRTIO_H
#define SKIFF_AARCH64_VIRTIO_H

#include "arch.h"

#define VIRTIO_MMIO_MAGIC          0x000
#define VIRTIO_MMIO_VERSION        0x004
#define VIRTIO_MMIO_DEVICE_ID      0x008
#define VIRTIO_MMIO_DEVICE_FEATURES     0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES     0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL      0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX  0x034
#define VIRTIO_MMIO_QUEUE_NUM      0x038
#define VIRTIO_MMIO_QUEUE_READY    0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY   0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK  0x064
#define VIRTIO_MMIO_STATUS         0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW    0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH   0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW  0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW  0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG         0x100

#define VIRTIO_MAGIC               0x74726976u   /* "virt" */
#define VIRTIO_ID_NET              1
#define VIRTIO_ID_BLOCK            2

#define VIRTIO_STATUS_ACKNOWLEDGE  1
#define VIRTIO_STATUS_DRIVER       2
#define VIRTIO_STATUS_DRIVER_OK    4
#define VIRTIO_STATUS_FEATURES_OK  8
#define VIRTIO_STATUS_FAILED       128

#define VIRTIO_F_VERSION_1         (1ull << 32)

#define VIRTQ_DESC_F_NEXT          1
#define VIRTQ_DESC_F_WRITE         2

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct virtq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];
};

struct virtq_used_elem {
    uint32_t id;
    uint32_t len;
};

struct virtq_used {
    uint16_t flags;
    uint16_t idx;
    struct virtq_used_elem ring[];
};

struct virtio_dev {
    uint64_t base;
    uint32_t intid;
    int      edge;
    uint32_t device_id;
};

struct virtq {
    struct virtio_dev *dev;
    uint16_t index;          /* queue number */
    uint16_t num;            /* entries (power of two) */
    uint16_t avail_idx;      /* our copy of avail->idx */
    uint16_t last_used;      /* next used entry to consume */
    struct virtq_desc *desc;
    volatile struct virtq_avail *avail;
    volatile struct virtq_used *used;
};

/* Reads the transport header at `base`: the device ID for a version-2
 * device, 0 for an empty slot, -1 for a legacy (version 1) transport. */
int virtio_probe(uint64_t base, uint32_t *device_id);
/* Reset, ACKNOWLEDGE, DRIVER, feature negotiation, FEATURES_OK; returns
 * the negotiated features or 0 if the device refuses (status FAILED). */
uint64_t virtio_negotiate(struct virtio_dev *d, uint64_t wanted);
/* Allocates and registers queue `index` with at most `max` entries. */
int virtq_init(struct virtq *q, struct virtio_dev *d, uint16_t index, uint16_t max);
void virtio_driver_ok(struct virtio_dev *d);
/* Publishes descriptor chain `head` and notifies the device. */
void virtq_submit(struct virtq *q, uint16_t head);
/* True if the device has returned a buffer we have not consumed yet. */
static inline int virtq_has_used(const struct virtq *q)
{
    return q->used->idx != q->last_used;
}
/* Consumes one used entry (call only if virtq_has_used). */
struct virtq_used_elem virtq_pop_used(struct virtq *q);
void virtio_ack(struct virtio_dev *d);

uint8_t virtio_config8(struct virtio_dev *d, uint32_t off);
uint16_t virtio_config16(struct virtio_dev *d, uint32_t off);
uint32_t virtio_config32(struct virtio_dev *d, uint32_t off);
uint64_t virtio_config64(struct virtio_dev *d, uint32_t off);

#endif
