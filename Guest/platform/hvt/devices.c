/*
 * devices.c: the hvt platform's devices: console, clock, poll, block and net
 * I/O over hvt hypercalls, the net ring and the block ring (spec sections 9,
 * 11, 12.3), and the platform's capabilities.
 *
 * Each call builds its argument block on the stack (GPA == pointer, below
 * mem_size) and issues one hypercall. Checks that Solo5's bindings do in the
 * guest (block alignment/size) live in the Swift layer, so that rawRead and
 * rawWrite can hand unchecked requests to the tender.
 */
#include "hvt.h"

/* The tender's net ring (spec 11), if offered; see below. */
static volatile struct hvt_ring *ring;

void skiff_puts_raw(const void *data, size_t len)
{
    if (len == 0)
        return;
    volatile struct hvt_hc_puts arg = {
        .data = (hvt_gpa_t)(uintptr_t)data, .len = len };
    skiff_hvt_hypercall(HVT_HYPERCALL_PUTS, &arg);
}

uint64_t skiff_clock_wall(void)
{
    volatile struct hvt_hc_walltime arg = { .nsecs = 0 };
    skiff_hvt_hypercall(HVT_HYPERCALL_WALLTIME, &arg);
    return arg.nsecs;
}

uint64_t skiff_poll(uint64_t timeout_ns)
{
    volatile struct hvt_hc_poll arg = { .timeout_nsecs = timeout_ns };
    skiff_hvt_hypercall(HVT_HYPERCALL_POLL, &arg);
    return arg.ready_set;
}

uint32_t skiff_platform_capabilities(void)
{
    uint32_t caps = SKIFF_CAP_WALL_CLOCK;
    if (skiff_boot_info->host_features & SKIFF_FEATURE_BLOCK_RING)
        caps |= SKIFF_CAP_BLOCK_RING;
    if (ring)
        caps |= SKIFF_CAP_NET_RING;
    return caps;
}

/* The block ring: one hypercall for the whole batch when the tender offers
 * it (Skiff's extension), else one request at a time (upstream solo5-hvt). */
uint32_t skiff_block_ring_submit(struct skiff_block_ring *br)
{
    if (!(skiff_platform_capabilities() & SKIFF_CAP_BLOCK_RING))
        return skiff_block_ring_serve_each(br);
    volatile struct skiff_hc_block_ring arg = {
        .ring = (uint64_t)(uintptr_t)br, .served = 0, .ret = HVT_R_EUNSPEC };
    skiff_hvt_hypercall(SKIFF_HYPERCALL_BLOCK_RING, &arg);
    return arg.ret == HVT_R_OK ? arg.served : 0;
}

int skiff_block_write(uint64_t handle, uint64_t offset, const void *buf,
                      uint64_t len)
{
    volatile struct hvt_hc_block arg = {
        .handle = handle, .offset = offset,
        .data = (hvt_gpa_t)(uintptr_t)buf, .len = len, .ret = HVT_R_EUNSPEC };
    skiff_hvt_hypercall(HVT_HYPERCALL_BLOCK_WRITE, &arg);
    return arg.ret;
}

int skiff_block_read(uint64_t handle, uint64_t offset, void *buf, uint64_t len)
{
    volatile struct hvt_hc_block arg = {
        .handle = handle, .offset = offset,
        .data = (hvt_gpa_t)(uintptr_t)buf, .len = len, .ret = HVT_R_EUNSPEC };
    skiff_hvt_hypercall(HVT_HYPERCALL_BLOCK_READ, &arg);
    return arg.ret;
}

/*
 * Network ring (spec 11): used when the tender offers it (host_features bit
 * 0 and net_ring != 0). Writes copy the frame into a per-slot buffer and
 * return at once (no exit; a kick only when the tender's I/O thread sleeps);
 * reads queue a request for the caller's buffer and spin until its commit
 * arrives. The barriers are the architecture's (skiff_cpu.h): on x86 only
 * the full fence between publishing a tail and reading needs_kick is an
 * instruction; aarch64 uses dmb ishst/ishld and a full barrier (spec 11.3).
 * Whether writes and reads use it is skiff_net_ring_enable's switch
 * (common/runtime.c).
 */
static uint8_t *ring_buffers;           /* HVT_RING_SIZE x HVT_RING_BUF_SIZE */
static uint32_t ring_next_id;

static uint32_t ring_submit(uint32_t op, uint64_t handle, uint64_t data, uint32_t len)
{
    uint32_t tail = ring->ent_tail;
    while (tail - ring->ent_head >= HVT_RING_SIZE - 1)
        cpu_relax();
    read_barrier();                     /* the tender is done with the slot */
    volatile struct hvt_ring_entry *e = &ring->entries[tail & (HVT_RING_SIZE - 1)];
    uint32_t id = ring_next_id++;
    e->operation = op;
    e->handle = (uint32_t)handle;
    e->data = data;
    e->len = len;
    e->id = id;
    e->reserved = 0;
    write_barrier();
    ring->ent_tail = tail + 1;
    full_barrier();
    if (ring->needs_kick)
        skiff_hvt_ring_kick();
    return id;
}

static int ring_write(uint64_t handle, const void *frame, size_t len)
{
    if (!ring_buffers) {
        ring_buffers = malloc((size_t)HVT_RING_SIZE * HVT_RING_BUF_SIZE);
        if (!ring_buffers)
            return -1;
    }
    /* The slot of the entry about to be queued is free once the ring is not
     * full (ring_submit waits for that), so fill it first. */
    uint32_t tail = ring->ent_tail;
    while (tail - ring->ent_head >= HVT_RING_SIZE - 1)
        cpu_relax();
    read_barrier();
    uint8_t *slot = ring_buffers + (size_t)(tail & (HVT_RING_SIZE - 1)) * HVT_RING_BUF_SIZE;
    memcpy(slot, frame, len);
    ring_submit(HVT_RING_NET_WRITE, handle, (hvt_gpa_t)(uintptr_t)slot, (uint32_t)len);
    return HVT_R_OK;   /* ring writes are not acknowledged (spec 11.3) */
}

/*
 * Wait (bounded, ~100 ms) until the tender has taken every queued entry, so
 * that frames written just before exit are not lost when HALT stops its
 * I/O thread.
 */
void skiff_net_ring_drain(void)
{
    if (!ring)
        return;
    uint64_t end = skiff_clock_monotonic() + 100000000ull;
    while (ring->ent_head != ring->ent_tail && skiff_clock_monotonic() < end)
        cpu_relax();
}

static int ring_read(uint64_t handle, void *buf, size_t size, size_t *len)
{
    uint32_t cap = size > 0xffffffffu ? 0xffffffffu : (uint32_t)size;
    uint32_t id = ring_submit(HVT_RING_NET_READ, handle, (hvt_gpa_t)(uintptr_t)buf, cap);
    uint32_t head = ring->com_head;
    while (ring->com_tail == head)
        cpu_relax();
    read_barrier();
    volatile struct hvt_ring_commit *c = &ring->commits[head & (HVT_RING_SIZE - 1)];
    int ret = c->ret;
    uint32_t n = c->len, cid = c->id;
    read_barrier();                     /* commit read before its slot is released */
    ring->com_head = head + 1;
    if (cid != id)
        return HVT_R_EUNSPEC;
    *len = ret == HVT_R_OK ? n : 0;
    return ret;
}

int skiff_net_write(uint64_t handle, const void *frame, size_t len)
{
    if ((skiff_net_ring_active() & 1) && len <= HVT_RING_BUF_SIZE) {
        int r = ring_write(handle, frame, len);
        if (r >= 0)
            return r;
    }
    volatile struct hvt_hc_net arg = {
        .handle = handle, .data = (hvt_gpa_t)(uintptr_t)frame, .len = len,
        .ret = HVT_R_EUNSPEC };
    skiff_hvt_hypercall(HVT_HYPERCALL_NET_WRITE, &arg);
    return arg.ret;
}

int skiff_net_read(uint64_t handle, void *buf, size_t size, size_t *len)
{
    if (skiff_net_ring_active() & 2)
        return ring_read(handle, buf, size, len);
    volatile struct hvt_hc_net arg = {
        .handle = handle, .data = (hvt_gpa_t)(uintptr_t)buf, .len = size,
        .ret = HVT_R_EUNSPEC };
    skiff_hvt_hypercall(HVT_HYPERCALL_NET_READ, &arg);
    int ret = arg.ret;
    *len = ret == HVT_R_OK ? (size_t)arg.len : 0;
    return ret;
}

void skiff_devices_quiesce(void)
{
    skiff_net_ring_drain();
}

void skiff_devices_init(void)
{
    const struct hvt_boot_info *bi = skiff_boot_info;
    if ((bi->host_features & HVT_FEATURE_RING_IO) && bi->net_ring)
        ring = (volatile struct hvt_ring *)(uintptr_t)bi->net_ring;
}
