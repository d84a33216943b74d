/*
 * start.c: x86_64 PVH start-up, from pvh.S to skiff_xen_main: the hypercall
 * page, the command line and the memory map from hvm_start_info, the final
 * page tables, the clock; also the console, wait and exit when there is no
 * Xen.
 *
 * One image, two hypervisors (docs/platform-xen.md). pvh.S finds Xen by its
 * CPUID leaves ("XenVMMXenVMM" at 0x40000000 + 0x100 * i) and calls
 * skiff_pvh_start at CPL0; without it, at CPL3, the image is on a plain PVH
 * loader (QEMU -kernel, e.g. -machine microvm, or skiff-hvt): COM1
 * is the console, the PIT calibrates the TSC, the local APIC timer wakes
 * HLT, the CMOS RTC gives the wall clock and isa-debug-exit the exit status.
 *
 * hvm_start_info: Xen gives a PVH dom0 version 0 (no memory map: asked
 * with XENMEM_memory_map), QEMU version 1 with its own memory map. The
 * heap is the RAM range that holds the image, from the image's end, cut at
 * a 2 MiB boundary and at 4 GiB. Whatever the loader put after the image
 * (Xen: start_info, command line) is copied before the heap is used.
 */
#include "x86.h"

/* hvm_start_info and its memory map (Xen public hvm/start_info.h). */
struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;          /* version >= 1 */
    uint32_t memmap_entries;        /* version >= 1 */
    uint32_t reserved;
};

struct hvm_memmap_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};

/* ns = TSC * skiff_tsc_mult >> 32 (skiff_rt.h): set by clock.c (Xen) or pc.c. */
uint64_t skiff_tsc_mult;

extern char __skiff_image_start[];

/* ---- Xen ---------------------------------------------------------------- */

static void hypercall_page_init(uint32_t base)
{
    uint32_t pages, msr, c, d;
    cpuid(base + 2, 0, &pages, &msr, &c, &d);
    if (pages < 1)
        skiff_panic("Xen offers no hypercall page");
    wrmsr(msr, (uint64_t)(uintptr_t)skiff_xen_hypercall_page);
}

/* ---- Console, waiting and exit ------------------------------------------ */

void skiff_xen_arch_console(const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        while (!(inb(SKIFF_COM1 + 5) & 0x20))   /* LSR.THRE */
            ;
        outb(SKIFF_COM1, p[i]);
    }
}

void skiff_xen_arch_wait_until(uint64_t deadline_ns)
{
    if (skiff_xen.xen)
        skiff_x86_xen_wait_until(deadline_ns);
    else
        skiff_x86_pc_wait_until(deadline_ns);
}

uint64_t skiff_clock_wall(void)
{
    return skiff_xen.xen ? skiff_x86_xen_wall() : skiff_x86_pc_wall();
}

/*
 * No Xen (CPL3): isa-debug-exit (QEMU's `-device isa-debug-exit,iobase=0xf4,
 * iosize=4`, skiff-hvt's exit port) ends the run: QEMU exits with
 * (status << 1) | 1, skiff-hvt with status. Without that device, a triple
 * fault resets the machine (QEMU -no-reboot then exits 0).
 */
_Noreturn void skiff_xen_arch_off(int status)
{
    outl(SKIFF_DEBUG_EXIT, (uint32_t)status);
    pvh_op_off();
}

/* ---- Boot information ---------------------------------------------------- */

static char cmdline[SKIFF_PVH_CMDLINE_MAX];
static struct xen_e820_entry memmap[SKIFF_MEMMAP_MAX];

static void copy_cmdline(const struct hvm_start_info *si)
{
    const char *src = (const char *)(uintptr_t)si->cmdline_paddr;
    size_t n = 0;
    if (si->cmdline_paddr && si->cmdline_paddr < SKIFF_MAP_LIMIT_MAX)
        for (; n < sizeof cmdline - 1 && src[n]; n++)
            cmdline[n] = src[n];
    cmdline[n] = 0;
    skiff_xen.cmdline = cmdline;
}

/* The memory map: start_info's (version >= 1), else Xen's. Returns entries. */
static unsigned read_memmap(const struct hvm_start_info *si)
{
    if (si->version >= 1 && si->memmap_paddr && si->memmap_entries) {
        const struct hvm_memmap_entry *m = (const void *)(uintptr_t)si->memmap_paddr;
        unsigned n = si->memmap_entries < SKIFF_MEMMAP_MAX ? si->memmap_entries : SKIFF_MEMMAP_MAX;
        for (unsigned i = 0; i < n; i++)
            memmap[i] = (struct xen_e820_entry){ m[i].addr, m[i].size, m[i].type };
        return n;
    }
    if (!skiff_xen.xen)
        return 0;
    struct xen_memory_map arg = { SKIFF_MEMMAP_MAX, 0, (uint64_t)(uintptr_t)memmap };
    if (xen_memory_op(XEN_XENMEM_MEMORY_MAP, &arg) < 0)
        return 0;
    return arg.nr_entries < SKIFF_MEMMAP_MAX ? arg.nr_entries : SKIFF_MEMMAP_MAX;
}

/* End of the RAM range holding the image (adjacent RAM entries joined). */
static uint64_t ram_end_of_image(unsigned n)
{
    uint64_t start = (uint64_t)(uintptr_t)__skiff_image_start;
    uint64_t end = (uint64_t)(uintptr_t)__skiff_image_end;
    uint64_t lo = 0, hi = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct xen_e820_entry *e = &memmap[i];
        if (e->type == XEN_E820_RAM && e->size && e->addr <= start && e->addr + e->size > start) {
            lo = e->addr;
            hi = e->addr + e->size;
        }
    }
    for (int grown = 1; grown && hi; ) {
        grown = 0;
        for (unsigned i = 0; i < n; i++) {
            const struct xen_e820_entry *e = &memmap[i];
            if (e->type == XEN_E820_RAM && e->size && e->addr <= hi && e->addr + e->size > hi) {
                hi = e->addr + e->size;
                grown = 1;
            }
        }
    }
    if (!hi || lo > start || hi < end)
        return 0;
    return hi;
}

static uint64_t rdrand64(void)
{
    uint32_t a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    if (!(c & (1u << 30)))
        return 0;
    for (int i = 0; i < 10; i++) {
        uint64_t v;
        uint8_t ok;
        __asm__ __volatile__("rdrand %0; setc %1" : "=r"(v), "=qm"(ok));
        if (ok)
            return v;
    }
    return 0;
}

static _Noreturn void boot_fail(const char *why)
{
    struct skiff_fmt f = { .len = 0 };
    skiff_fmt_str(&f, "Skiff: ABORT: boot: ");
    skiff_fmt_str(&f, why);
    skiff_fmt_emit(&f);
    skiff_halt(255, 0);
}

/*
 * skiff_pvh_start: called by pvh.S in long mode on the main stack, with the
 * PVH start_info address: at CPL0 under Xen, else at CPL3. No stack
 * protector: the guard is set later.
 */
__attribute__((noreturn, used, no_stack_protector))
void skiff_pvh_start(uint32_t start_info)
{
    if (skiff_pvh_xen_base) {
        hypercall_page_init(skiff_pvh_xen_base);
        skiff_xen.xen = 1;
        skiff_xen.console_io = 1;
    }
    const struct hvm_start_info *si = (const void *)(uintptr_t)start_info;
    if (!si || si->magic != SKIFF_PVH_MAGIC)
        boot_fail("no PVH start_info (magic 0x336ec578) in %ebx");
    copy_cmdline(si);
    uint64_t ram_end = ram_end_of_image(read_memmap(si));
    if (ram_end == 0)
        boot_fail("the memory map has no RAM range holding the image");
    if (ram_end > SKIFF_MAP_LIMIT_MAX)
        ram_end = SKIFF_MAP_LIMIT_MAX;
    ram_end &= ~0x1fffffull;             /* 2 MiB pages beyond the image */
    uint64_t image_end = (uint64_t)(uintptr_t)__skiff_image_end;
    if (ram_end < image_end)
        ram_end = image_end;              /* a tiny RAM: no heap */
    skiff_x86_paging_init(ram_end);

    skiff_xen.heap_start = (uintptr_t)image_end;
    skiff_xen.heap_end = (uintptr_t)ram_end;
    skiff_xen.mem_size = ram_end;
    if (skiff_xen.xen)
        skiff_x86_xen_clock_init();
    else
        skiff_x86_pc_clock_init();
    skiff_xen.seed[0] = rdrand64() ^ skiff_rdtsc();
    skiff_xen.seed[1] = rdrand64() ^ (uint64_t)start_info;
    skiff_xen_main();
}
