/*
 * tender.c: see start.S. Guest RAM: IPA 0 .. MEM at PA GUEST_PA; the guest
 * image is loaded raw at PA GUEST_PA + 0x100000 by QEMU's loader device;
 * its manifest copy and command line come from the test (guest_args, at
 * PA ARGS_PA: u32 manifest size, manifest bytes, then the NUL-terminated
 * command line).
 */
#include <stdint.h>
#include <stddef.h>

#define GUEST_PA   0x40000000ull
#define MEM        (64ull << 20)
#define ARGS_PA    0x90000000ull
#define UART       0x09000000ull
#define MMIO_BASE  0x100000000ull
#define DISK_PA    0xa0000000ull          /* block device "storage" (manifest entry 1), if declared */
#define DISK_SIZE  (4ull << 20)
#define DISK_BLOCK 512

void enter_guest(uint64_t entry, uint64_t x0, uint64_t spsr);

static inline void *gpa(uint64_t ipa) { return (void *)(uintptr_t)(GUEST_PA + ipa); }

static void putc_uart(char c) { *(volatile uint32_t *)(uintptr_t)UART = (uint8_t)c; }
static void puts_n(const char *s, size_t n) { for (size_t i = 0; i < n; i++) putc_uart(s[i]); }
static void puts_z(const char *s) { while (*s) putc_uart(*s++); }
static void put_hex(uint64_t v)
{
    puts_z("0x");
    for (int i = 60; i >= 0; i -= 4)
        putc_uart("0123456789abcdef"[(v >> i) & 15]);
}

static void semihost_exit(uint64_t status)
{
    uint64_t block[2] = { 0x20026, status };
    register uint64_t x0 __asm__("x0") = 0x18;
    register uint64_t x1 __asm__("x1") = (uint64_t)(uintptr_t)block;
    __asm__ __volatile__("hlt #0xf000" : "+r"(x0) : "r"(x1) : "memory");
    for (;;)
        __asm__ __volatile__("wfe");
}

#define W64(ipa, v) (*(volatile uint64_t *)gpa(ipa) = (v))

/* Stage 2: one level-1 table, IPA 0-1 GiB -> PA GUEST_PA (Normal WB, RW). */
static uint64_t s2_l1[512] __attribute__((aligned(4096)));

void tender_main(void)
{
    s2_l1[0] = GUEST_PA | 0x7fd;                  /* block, MemAttr 1111, S2AP RW, SH inner, AF */
    __asm__ __volatile__(
        "msr vttbr_el2, %0\n\t"
        "msr vtcr_el2, %1\n\t"
        "msr hcr_el2, %2\n\t"
        "msr cptr_el2, %3\n\t"
        "msr hstr_el2, xzr\n\t"
        "mrs x9, cnthctl_el2\n\t"
        "orr x9, x9, #3\n\t"
        "msr cnthctl_el2, x9\n\t"
        "msr cntvoff_el2, xzr\n\t"
        "mrs x9, midr_el1\n\tmsr vpidr_el2, x9\n\t"
        "mrs x9, mpidr_el1\n\tmsr vmpidr_el2, x9\n\t"
        "isb"
        : : "r"((uint64_t)(uintptr_t)s2_l1),
            "r"(25ull | (1ull << 6) | (1ull << 8) | (1ull << 10) | (3ull << 12) | (2ull << 16) | (1ull << 31)),
            "r"((1ull << 31) | 1ull), "r"(0x33ffull)
        : "x9", "memory");

    /* Tender page tables (spec 7.2) for a 64 MiB guest. */
    W64(0x1000, 0x2003);
    W64(0x2000, 0x3003);
    W64(0x2000 + 4 * 8, MMIO_BASE | 0x60000000000705ull);
    W64(0x3000, 0x7003);
    for (uint64_t k = 1; k * 0x200000 < MEM; k++)
        W64(0x3000 + k * 8, (k * 0x200000) | 0x40000000000711ull);
    for (uint64_t j = 16; j < 512; j++)
        W64(0x7000 + j * 8, (j * 0x1000) | (j < 256 ? 0x60000000000793ull : 0x40000000000713ull));

    /* Boot info, manifest copy, command line (spec 5.3, 5.4). */
    const uint8_t *args = (const uint8_t *)(uintptr_t)ARGS_PA;
    uint32_t mft_size = *(const uint32_t *)args;
    uint8_t *mft = gpa(0x10038);
    for (uint32_t i = 0; i < mft_size; i++)
        mft[i] = args[4 + i];
    char *cmdline = gpa(0x10038 + mft_size);
    const char *src = (const char *)args + 4 + mft_size;
    size_t n = 0;
    while (src[n] && n < 8191) { cmdline[n] = src[n]; n++; }
    cmdline[n] = 0;
    uint64_t freq;
    __asm__ __volatile__("mrs %0, cntfrq_el0" : "=r"(freq));
    W64(0x10000, MEM);                     /* mem_size */
    W64(0x10008, 0);                       /* kernel_end (unused by Skiff) */
    W64(0x10010, freq);                    /* cpu_cycle_freq */
    W64(0x10018, 0x10038 + mft_size);      /* cmdline */
    W64(0x10020, 0x10038);                 /* mft */
    W64(0x10028, 0);                       /* host_features, guest_features */
    W64(0x10030, 0);                       /* net_ring */

    /* EL1 entry state (spec 7.3). */
    __asm__ __volatile__(
        "msr cpacr_el1, %0\n\t"
        "msr mair_el1, %1\n\t"
        "msr tcr_el1, %2\n\t"
        "msr ttbr0_el1, %3\n\t"
        "msr sp_el1, %4\n\t"
        "isb\n\t"
        "msr sctlr_el1, %5\n\t"
        "isb"
        : : "r"(3ull << 20), "r"(0x0000BBFF440C0400ull), "r"(0x32B5183518ull), "r"(0x1000ull),
            "r"(MEM - 16), "r"(0x1005ull)
        : "memory");
    enter_guest(0x100000, 0x10000, 0x3c5);
}

/* Guest registers saved by start.S (x0..x30). */
struct frame { uint64_t x[31]; };

void tender_trap(struct frame *f)
{
    uint64_t esr, far, elr;
    __asm__ __volatile__("mrs %0, esr_el2\n\tmrs %1, far_el2\n\tmrs %2, elr_el2" : "=r"(esr), "=r"(far), "=r"(elr));
    uint32_t ec = (uint32_t)(esr >> 26) & 0x3f;
    if (ec != 0x24 || far < MMIO_BASE || far >= MMIO_BASE + 0x40000000) {
        puts_z("el2tender: unexpected exit esr="); put_hex(esr);
        puts_z(" far="); put_hex(far); puts_z(" pc="); put_hex(elr); puts_z("\n");
        semihost_exit(1);
    }
    int wnr = (esr >> 6) & 1, isv = (esr >> 24) & 1, sas = (esr >> 22) & 3;
    unsigned rt = (esr >> 16) & 31;
    if (!isv || !wnr || sas != 2) {
        puts_z("el2tender: Invalid guest mmio access: mmio="); put_hex(far); puts_z("\n");
        semihost_exit(1);
    }
    uint64_t arg = rt == 31 ? 0 : (uint32_t)f->x[rt];
    uint64_t nr = (far - MMIO_BASE) >> 3;
    switch (nr) {
    case 1: {                              /* WALLTIME: a fixed epoch plus the counter */
        uint64_t t, freq;
        __asm__ __volatile__("isb\n\tmrs %0, cntvct_el0\n\tmrs %1, cntfrq_el0" : "=r"(t), "=r"(freq));
        W64(arg, 1700000000ull * 1000000000ull + t / freq * 1000000000ull + t % freq * 1000000000ull / freq);
        break;
    }
    case 2: {                              /* PUTS {data, len} */
        uint64_t data = *(volatile uint64_t *)gpa(arg), len = *(volatile uint64_t *)gpa(arg + 8);
        puts_n(gpa(data), len);
        break;
    }
    case 3: {                              /* POLL {timeout, ready_set, ret}: nothing is ever ready */
        W64(arg + 8, 0);
        *(volatile int32_t *)gpa(arg + 16) = 0;
        break;
    }
    case 4: case 5: {                      /* BLOCK_WRITE/READ {handle, offset, data, len, ret}: handle 1, */
        volatile uint64_t *b = gpa(arg);   /* DISK_SIZE bytes of RAM at DISK_PA (DISK_BLOCK: the manifest's) */
        uint64_t handle = b[0], offset = b[1], data = b[2], len = b[3];
        int32_t ret = 2;                   /* EINVAL */
        if ((uint32_t)handle == 1 && offset < DISK_SIZE && len <= DISK_SIZE - offset) {   /* spec 9.4: ranges only */
            uint8_t *disk = (uint8_t *)(uintptr_t)(DISK_PA + offset), *mem = gpa(data);
            for (uint64_t i = 0; i < len; i++) {
                if (nr == 4) disk[i] = mem[i]; else mem[i] = disk[i];
            }
            ret = 0;
        }
        *(volatile int32_t *)gpa(arg + 32) = ret;
        break;
    }
    case 8: {                              /* HALT {cookie, status} */
        uint64_t cookie = *(volatile uint64_t *)gpa(arg);
        int32_t status = *(volatile int32_t *)gpa(arg + 8);
        if (cookie) {                      /* Skiff's aarch64 trap frame: x0-x30, sp, elr, spsr, esr, far */
            puts_z("el2tender: halt cookie: elr=");
            put_hex(*(volatile uint64_t *)gpa(cookie + 32 * 8));
            puts_z(" esr=");
            put_hex(*(volatile uint64_t *)gpa(cookie + 34 * 8));
            puts_z(" far=");
            put_hex(*(volatile uint64_t *)gpa(cookie + 35 * 8));
            puts_z("\n");
        }
        semihost_exit((uint32_t)status & 0xff);
        break;
    }
    default:
        puts_z("el2tender: Invalid guest hypercall: num="); put_hex(nr); puts_z("\n");
        semihost_exit(1);
    }
    __asm__ __volatile__("msr elr_el2, %0" : : "r"(elr + 4));
}

void tender_unexpected(void)
{
    uint64_t esr, far, elr;
    __asm__ __volatile__("mrs %0, esr_el2\n\tmrs %1, far_el2\n\tmrs %2, elr_el2" : "=r"(esr), "=r"(far), "=r"(elr));
    puts_z("el2tender: unexpected exception at EL2 esr="); put_hex(esr);
    puts_z(" far="); put_hex(far); puts_z(" elr="); put_hex(elr); puts_z("\n");
    semihost_exit(2);
}
