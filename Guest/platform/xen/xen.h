/*
 * xen.h: internal declarations of the Xen guest platform (x86_64 PVH and
 * arm64): the part of Xen's public guest interface the runtime uses, and
 * what the common files (this directory) and the architecture's files
 * (x86_64/, aarch64/) provide each other. Not for Swift.
 *
 * The numbers and layouts below are facts of Xen's public headers
 * (xen/include/public: xen.h, sched.h, memory.h, vcpu.h, hvm/params.h,
 * hvm/start_info.h, arch-x86/cpuid.h), restated here for the few calls we
 * make; they are part of Xen's stable ABI. The architecture's hypercall
 * instruction is in <arch>/xen_arch.h (x86_64: the hypercall page; arm64:
 * `hvc #0xEA1`).
 *
 * docs/platform-xen.md describes the platform.
 */
#ifndef SKIFF_XEN_H
#define SKIFF_XEN_H

#include "rt.h"
#include "layout.h"

/* ---- Hypercall numbers (xen.h) -------------------------------------------- */
#define XEN_HC_MEMORY_OP        12
#define XEN_HC_XEN_VERSION      17
#define XEN_HC_CONSOLE_IO       18
#define XEN_HC_VCPU_OP          24
#define XEN_HC_SCHED_OP         29
#define XEN_HC_EVENT_CHANNEL_OP 32
#define XEN_HC_HVM_OP           34

/* console_io commands (xen.h). */
#define XEN_CONSOLEIO_WRITE     0

/* sched_op commands and shutdown reasons (sched.h). */
#define XEN_SCHEDOP_YIELD       0
#define XEN_SCHEDOP_BLOCK       1
#define XEN_SCHEDOP_SHUTDOWN    2
#define XEN_SCHEDOP_POLL        3
#define XEN_SHUTDOWN_POWEROFF   0
#define XEN_SHUTDOWN_CRASH      3

struct xen_sched_shutdown {
    uint32_t reason;
};

/* SCHEDOP_poll: block until one of `ports` is pending or Xen's system time
 * reaches `timeout` (ns, absolute; 0 = none). */
struct xen_sched_poll {
    uint64_t ports;          /* guest handle: evtchn_port_t[] */
    uint32_t nr_ports;
    uint32_t pad;
    uint64_t timeout;
};

/* memory_op commands (memory.h). */
#define XEN_XENMEM_ADD_TO_PHYSMAP 7
#define XEN_XENMEM_MEMORY_MAP     9
#define XEN_MAPSPACE_SHARED_INFO  0
#define XEN_DOMID_SELF            0x7ff0

struct xen_add_to_physmap {
    uint16_t domid;
    uint16_t size;
    uint32_t space;
    uint64_t idx;
    uint64_t gpfn;
};

/* XENMEM_memory_map: in, the capacity of `buffer` in entries; out, the
 * number of e820 entries Xen wrote. */
struct xen_memory_map {
    uint32_t nr_entries;
    uint32_t pad;
    uint64_t buffer;         /* guest handle: struct xen_e820_entry[] */
};

/* One e820 entry as XENMEM_memory_map writes it: 20 bytes, packed. */
struct __attribute__((packed)) xen_e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
};
#define XEN_E820_RAM 1

/* Time (xen.h): per-vCPU system time, ns since Xen booted:
 *   system_time + (((tsc - tsc_timestamp) << tsc_shift) * tsc_to_system_mul >> 32)
 * A reader retries while `version` is odd or changed under it. */
struct xen_vcpu_time_info {
    uint32_t version;
    uint32_t pad0;
    uint64_t tsc_timestamp;
    uint64_t system_time;
    uint32_t tsc_to_system_mul;
    int8_t tsc_shift;
    uint8_t flags;
    uint8_t pad1[2];
};

/* ---- The boot facts the architecture hands to the common start-up -------- */
struct skiff_xen_boot {
    int xen;                 /* 1: under Xen (hypercalls work); 0: bare QEMU (x86 PVH) */
    int console_io;          /* 1: the console is HYPERVISOR_console_io; 0: the arch's */
    const char *cmdline;     /* NUL-terminated, in the image (copied at start) */
    uintptr_t heap_start, heap_end;
    uint64_t mem_size;       /* boot info mem_size: the end of the RAM range the image is in */
    uint64_t counter_freq;   /* skiff_rdtsc() ticks per second */
    int wall_clock;          /* skiff_clock_wall() reads a real clock */
    uint64_t seed[2];        /* entropy for arc4random and the stack guard */
};
extern struct skiff_xen_boot skiff_xen;

/* start.c: seeds, stack guard, heap, boot info, main(), exit. Called by the
 * architecture's start-up once the CPU, memory and clock are set up. */
_Noreturn void skiff_xen_main(void);

/* ---- Provided by the architecture (<arch>/) ------------------------------- */
/* Console when not console_io (x86 bare QEMU: COM1; arm64 domU: the vpl011). */
void skiff_xen_arch_console(const void *data, size_t len);
/* Blocks until skiff_clock_monotonic() >= deadline_ns or an event arrives
 * (may return early; callers loop). Never spins when a timer is available. */
void skiff_xen_arch_wait_until(uint64_t deadline_ns);
/* Ends the run when there is no Xen to shut down (x86: isa-debug-exit). */
_Noreturn void skiff_xen_arch_off(int status);

/* Hypercalls with up to three arguments (<arch>/xen_arch.h). */
#include "xen_arch.h"

static inline long xen_sched_op(int cmd, void *arg)
{
    return xen_hypercall3(XEN_HC_SCHED_OP, (uint64_t)cmd, (uint64_t)(uintptr_t)arg, 0);
}

static inline long xen_memory_op(int cmd, void *arg)
{
    return xen_hypercall3(XEN_HC_MEMORY_OP, (uint64_t)cmd, (uint64_t)(uintptr_t)arg, 0);
}

#endif
