/*
 * arch.h: internal declarations of the Skiff aarch64 (QEMU virt) platform
 * layer: the board description read from the DTB, MMIO and system-register
 * access, and the functions the files of Guest/aarch64 share. Not for Swift.
 */
#ifndef SKIFF_AARCH64_ARCH_H
#define SKIFF_AARCH64_ARCH_H

#include <stddef.h>
#include <stdint.h>
#include "hvt_abi.h"
#include "skiff_rt.h"
#include "layout.h"
#include "../rt/console.h"   /* shared console layer: skiff_puts_raw, skiff_fmt */

/* ---- Linker symbols (skiff.ld, boot.S) ---------------------------------- */
extern char __skiff_image_start[], __skiff_image_end[];
extern char __skiff_text_end[], __skiff_rodata_start[], __skiff_data_start[];
extern char __skiff_guard[], __skiff_stack_bottom[], __skiff_stack_top[];
extern char __skiff_trap_stack_bottom[], __skiff_trap_stack_top[];
extern char __skiff_pt_start[], __skiff_pt_end[];
extern char __skiff_mft_note_start[], __skiff_mft_note_end[];

/* ---- The board, as the DTB describes it (fdt.c) -------------------------- */
#define SKIFF_MAX_VIRTIO     64
#define SKIFF_BOOTARGS_SIZE  16384
#define SKIFF_SEED_MAX       64

enum skiff_psci_conduit { PSCI_NONE = 0, PSCI_HVC = 1, PSCI_SMC = 2 };

struct skiff_virtio_slot {
    uint64_t base, size;
    uint32_t intid;         /* GIC INTID of its interrupt, 0 if none */
    uint32_t edge;          /* 1: edge-triggered, 0: level */
};

struct skiff_board {
    uint64_t dtb;                   /* where the DTB was (0: none found) */
    uint64_t ram_base, ram_size;    /* the memory range holding the image */
    uint64_t uart;                  /* PL011 base, 0 if none */
    uint64_t rtc;                   /* PL031 base, 0 if none */
    int      gic_version;           /* 2 or 3; 0 if none recognised */
    uint64_t gicd, gicd_size;
    uint64_t gicc, gicc_size;       /* GICv2 CPU interface */
    uint64_t gicr, gicr_size;       /* GICv3 redistributors (first region) */
    uint32_t timer_intid;           /* virtual timer PPI INTID, 0 if unknown */
    int      psci;                  /* enum skiff_psci_conduit */
    int      psci_v02;              /* PSCI >= 0.2: standard function IDs */
    unsigned nvirtio;
    struct skiff_virtio_slot virtio[SKIFF_MAX_VIRTIO];
    int      have_bootargs;
    char     bootargs[SKIFF_BOOTARGS_SIZE];   /* copied: the DTB may be reused */
    size_t   seed_len;
    uint8_t  seed[SKIFF_SEED_MAX];  /* /chosen rng-seed (and kaslr-seed) */
    const char *error;              /* first problem found, or NULL */
};
extern struct skiff_board skiff_board;

/* Parses the flattened device tree at `fdt` into `b`; 0 on success. */
int skiff_fdt_parse(const void *fdt, struct skiff_board *b);
/* True if `p` starts with a plausible FDT header. */
int skiff_fdt_valid(const void *p);

/* ---- MMU (mmu.c, runs with the MMU off) ------------------------------------ */
extern uint64_t skiff_a64_ttbr0, skiff_a64_tcr;
/* Builds the identity map for skiff_board; returns NULL or an error message. */
const char *skiff_mmu_build(void);

/* ---- MMIO and system registers --------------------------------------------- */
/* Single ldr/str with a plain base register: emulable by KVM (ISV=1). */
static inline uint32_t mmio_read32(uint64_t addr)
{
    uint32_t v;
    __asm__ __volatile__("ldr %w0, [%1]" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static inline void mmio_write32(uint64_t addr, uint32_t v)
{
    __asm__ __volatile__("str %w0, [%1]" : : "rZ"(v), "r"(addr) : "memory");
}

static inline uint64_t mmio_read64(uint64_t addr)
{
    uint64_t v;
    __asm__ __volatile__("ldr %0, [%1]" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static inline void mmio_write64(uint64_t addr, uint64_t v)
{
    __asm__ __volatile__("str %0, [%1]" : : "rZ"(v), "r"(addr) : "memory");
}

static inline uint8_t mmio_read8(uint64_t addr)
{
    uint8_t v;
    __asm__ __volatile__("ldrb %w0, [%1]" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static inline void mmio_write8(uint64_t addr, uint8_t v)
{
    __asm__ __volatile__("strb %w0, [%1]" : : "rZ"(v), "r"(addr) : "memory");
}

#define READ_SYSREG(r) ({ uint64_t _v; __asm__ __volatile__("mrs %0, " #r : "=r"(_v)); _v; })
#define WRITE_SYSREG(r, v) __asm__ __volatile__("msr " #r ", %0" : : "r"((uint64_t)(v)) : "memory")

static inline void dsb_sy(void) { __asm__ __volatile__("dsb sy" ::: "memory"); }
static inline void dmb_sy(void) { __asm__ __volatile__("dmb sy" ::: "memory"); }
static inline void isb(void) { __asm__ __volatile__("isb" ::: "memory"); }
static inline void wfi(void) { __asm__ __volatile__("dsb sy\n\twfi" ::: "memory"); }

/* ---- Exceptions (start.c) ------------------------------------------------ */
struct skiff_a64_frame {
    uint64_t x[31];
    uint64_t sp;            /* SP_EL0 at the exception */
    uint64_t elr, spsr, esr, far;
};

/* ---- Console (console.c) -------------------------------------------------- */

/* ---- Interrupt controller (gic.c): used only for WFI wake-ups ------------- */
int skiff_gic_init(void);               /* 0 if no usable GIC */
void skiff_gic_enable(uint32_t intid, int edge);
void skiff_gic_drain(void);             /* acknowledge every pending INTID */
extern int skiff_gic_ready;

/* ---- Timer and clocks (clock.c) ------------------------------------------ */
void skiff_clock_init(void);
/* Waits (WFI) until the counter reaches `deadline` ticks or an enabled
 * interrupt arrives; returns at once if the deadline is past. */
void skiff_wait_until(uint64_t deadline_ticks);
/* Before checking the condition waited for: acknowledge GIC, then device
 * interrupts, so that any later event wakes the next skiff_wait_until. */
void skiff_wait_prepare(void);
uint64_t skiff_ns_to_ticks(uint64_t ns);
extern uint64_t skiff_counter_freq;

/* ---- virtio devices (devices.c, virtio.c) --------------------------------- */
void skiff_devices_init(void);
void skiff_devices_ack_interrupts(void);

/* ---- Exit paths (start.c) ------------------------------------------------- */
_Noreturn void skiff_halt(int status);
_Noreturn void skiff_panic(const char *what);   /* "Skiff: ABORT: <what>" */
void skiff_warn(const char *what);              /* "Skiff: WARNING: <what>" */

/* Formatting helpers for messages, no allocation. */

void skiff_heap_init(void *start, void *end);
_Noreturn void skiff_heap_corrupt(const char *what);

/* Device-tree command line split (start.c). */
const char *skiff_bootargs_devices(void);   /* the "skiff.*" part, or "" */

void *memset(void *s, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int posix_memalign(void **out, size_t align, size_t size);
void arc4random_buf(void *buf, size_t n);

#endif
