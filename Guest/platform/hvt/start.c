/*
 * start.c: hvt platform start-up and HALT: boot info, clock calibration,
 * seeds, heap, devices, then main().
 *
 * x86_64: arch/x86_64/cpl3/start.S's _start iretq's to skiff_user_start at CPL3
 * with the boot info pointer; from here on everything runs natively
 * (platform-notes section 1). aarch64: aarch64/entry.S and early.c (own
 * page tables) call it at EL1 on the main stack. The clock is the
 * architecture's counter (skiff_rdtsc: TSC or CNTVCT_EL0) at the boot
 * info's cpu_cycle_freq.
 */
#include "hvt.h"

const struct hvt_boot_info *skiff_boot_info;
uint64_t skiff_tsc_mult;

int main(int argc, char **argv);   /* Embedded Swift's @main entry */

/* Heap end: leave a page below mem_size so no buffer ends at mem_size (the
 * tender rejects a hypercall buffer ending exactly there, spec 15.1). */
#define HEAP_END_GAP 4096

/*
 * skiff_user_start: first CPL3 code (x86_64), first code on the runtime's
 * page tables (aarch64). No stack protector here: this frame is
 * live while the guard changes, and it never returns.
 */
__attribute__((noreturn, no_stack_protector, used))
void skiff_user_start(const struct hvt_boot_info *bi)
{
    skiff_boot_info = bi;
    uint64_t t1 = skiff_rdtsc();
    uint64_t t2 = skiff_rdtsc();
    /* Solo5's canary recipe: bits 8-15 zero stop string overflows. */
    __stack_chk_guard = (t1 + (t2 << 32)) & ~(uintptr_t)0xff00;
    skiff_random_init(t1 ^ 0x9e3779b97f4a7c15ull,
                      (t2 << 17) ^ bi->cpu_cycle_freq ^ 0xd1b54a32d192ed03ull);

    uint64_t freq = bi->cpu_cycle_freq ? bi->cpu_cycle_freq : 1000000000ull;
    /* ns = ticks * (1e9 << 32) / freq >> 32; 1e9 << 32 < 2^62 fits. */
    skiff_tsc_mult = (1000000000ull << 32) / freq;

    uintptr_t heap_end = bi->mem_size > HEAP_END_GAP ? bi->mem_size - HEAP_END_GAP : 0;
    skiff_heap_init(__skiff_image_end, (void *)heap_end);
    skiff_devices_init();

    int status = main(0, 0);
    skiff_exit(status);
}

_Noreturn void skiff_halt(int status, const void *cookie)
{
    volatile struct hvt_hc_halt arg = {
        .cookie = (hvt_gpa_t)(uintptr_t)cookie, .exit_status = status };
    for (;;)
        skiff_hvt_hypercall(HVT_HYPERCALL_HALT, &arg);   /* the tender never resumes us */
}
