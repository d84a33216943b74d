/*
 * fdt.h: the flattened-device-tree reader (fdt.c) and what it reads: the
 * board description a DTB-driven platform (platform/virt) runs on. Portable
 * C: Guest/tests/fdt_test.c builds fdt.c for the host.
 */
#ifndef SKIFF_FDT_H
#define SKIFF_FDT_H

#include <stddef.h>
#include <stdint.h>

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
    uint64_t uart;                  /* PL011 (or SBSA UART) base, 0 if none */
    int      xen;                   /* a Xen /hypervisor node ("xen,xen") */
    uint64_t rtc;                   /* PL031 base, 0 if none */
    uint64_t exit_reg;              /* "skiff,exit-status" register (skiff-hvt's machine), 0 if none */
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

/* The board this guest runs on (the platform fills it at start). */
extern struct skiff_board skiff_board;

/* Parses the flattened device tree at `fdt` into `b`; 0 on success. */
int skiff_fdt_parse(const void *fdt, struct skiff_board *b);
/* True if `p` starts with a plausible FDT header. */
int skiff_fdt_valid(const void *p);

/* The string functions fdt.c uses (the runtime's, or libc's on the host). */
void *memset(void *s, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#endif
