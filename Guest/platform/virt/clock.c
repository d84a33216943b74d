/*
 * clock.c: what QEMU virt does before a wait. The clocks and the wait itself
 * (the generic timer, the PL031, WFI with interrupts masked) are shared with
 * Xen on arm64: arch/aarch64/mmu-off/timer.c.
 *
 * A waiter loops: skiff_wait_prepare() (acknowledge everything pending in
 * the GIC, then the devices, so their interrupt lines drop and the next
 * event is a fresh edge), check its condition, skiff_wait_until(). An event
 * after the acknowledgement either shows in the check or leaves an interrupt
 * pending that ends the WFI. virtio interrupts wake WFI the same way
 * (devices.c).
 */
#include "virt.h"

/*
 * The order matters. Draining the GIC first forgets old edges; acknowledging
 * the devices then drops their lines, so the next event is a new edge that
 * stays pending until the WFI. The other order can lose a wake-up: an event
 * (say a TX completion) between the two steps has its edge drained while the
 * device's status stays set, so its line stays high and later events (RX)
 * make no edge at all.
 */
void skiff_wait_prepare(void)
{
    skiff_gic_drain();
    skiff_devices_ack_interrupts();
}
