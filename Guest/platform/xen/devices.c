/*
 * devices.c: the Xen platform's devices: none yet. Block and net requests
 * fail with EINVAL and the manifest has nothing attached, so the Swift API
 * reports every device as not found (SkiffError.notFound), as hvt does for
 * a device the monitor did not attach. POLL waits for its deadline by
 * blocking (the architecture's skiff_xen_arch_wait_until: a single-shot
 * timer event and a blocked vCPU under Xen), never spinning.
 */
#include "xen.h"

void skiff_devices_init(void)
{
}

void skiff_devices_quiesce(void)
{
}

uint32_t skiff_platform_capabilities(void)
{
    return skiff_xen.wall_clock ? SKIFF_CAP_WALL_CLOCK : 0;
}

int skiff_block_write(uint64_t handle, uint64_t offset, const void *buf, uint64_t len)
{
    (void)handle; (void)offset; (void)buf; (void)len;
    return HVT_R_EINVAL;
}

int skiff_block_read(uint64_t handle, uint64_t offset, void *buf, uint64_t len)
{
    (void)handle; (void)offset; (void)buf; (void)len;
    return HVT_R_EINVAL;
}

uint32_t skiff_block_ring_submit(struct skiff_block_ring *ring)
{
    return skiff_block_ring_serve_each(ring);
}

int skiff_net_write(uint64_t handle, const void *frame, size_t len)
{
    (void)handle; (void)frame; (void)len;
    return HVT_R_EINVAL;
}

int skiff_net_read(uint64_t handle, void *buf, size_t size, size_t *len)
{
    (void)handle; (void)buf; (void)size;
    *len = 0;
    return HVT_R_EINVAL;
}

/* No network devices: the ready set is always empty; wait out the timeout. */
uint64_t skiff_poll(uint64_t timeout_ns)
{
    uint64_t now = skiff_clock_monotonic();
    uint64_t deadline = now + timeout_ns < now ? UINT64_MAX : now + timeout_ns;
    while (skiff_clock_monotonic() < deadline)
        skiff_xen_arch_wait_until(deadline);
    return 0;
}
