/*
 * gic.c: just enough GICv2 / GICv3 to wake WFI.
 *
 * The runtime never takes interrupts as exceptions (PSTATE.I stays set; an
 * IRQ exception would be reported as a fault). It enables the INTIDs it
 * waits on (the virtual timer PPI, the virtio-mmio SPIs), lets the CPU
 * interface signal them, and after each WFI acknowledges and ends whatever
 * is pending (IAR/EOIR), polling style. The version and every address come
 * from the DTB (fdt.c). All INTIDs are group 1 (GICv3) / group 0 (GICv2),
 * priority 0xa0, routed to this CPU.
 */
#include "gic.h"
#include "fdt.h"
#include "rt.h"          /* skiff_warn, skiff_cpu.h */

/* Distributor */
#define GICD_CTLR        0x0000
#define GICD_TYPER       0x0004
#define GICD_IGROUPR     0x0080
#define GICD_ISENABLER   0x0100
#define GICD_ICENABLER   0x0180
#define GICD_IPRIORITYR  0x0400
#define GICD_ITARGETSR   0x0800
#define GICD_ICFGR       0x0c00
#define GICD_IROUTER     0x6000
#define GICD_CTLR_RWP    (1u << 31)
/* GICv2 CPU interface */
#define GICC_CTLR        0x0000
#define GICC_PMR         0x0004
#define GICC_IAR         0x000c
#define GICC_EOIR        0x0010
/* GICv3 redistributor: RD_base frame, then SGI_base frame at +64 KiB */
#define GICR_TYPER       0x0008
#define GICR_WAKER       0x0014
#define GICR_SGI         0x10000
#define GICR_IGROUPR0    0x0080
#define GICR_ISENABLER0  0x0100
#define GICR_IPRIORITYR  0x0400
#define GICR_ICFGR1      0x0c04

#define PRIORITY         0xa0
#define SPURIOUS         1023

int skiff_gic_ready;
static uint64_t gicr_rd;                 /* this CPU's redistributor */

#define ICC_SRE_EL1      S3_0_C12_C12_5
#define ICC_PMR_EL1      S3_0_C4_C6_0
#define ICC_IGRPEN1_EL1  S3_0_C12_C12_7
#define ICC_IAR1_EL1     S3_0_C12_C12_0
#define ICC_EOIR1_EL1    S3_0_C12_C12_1

static void gicd_wait_rwp(void)
{
    for (int i = 0; i < 1000000 && (mmio_read32(skiff_board.gicd + GICD_CTLR) & GICD_CTLR_RWP); i++)
        ;
}

static uint64_t mpidr_affinity(void)
{
    uint64_t m = READ_SYSREG(mpidr_el1);
    return (m & 0xffffff) | ((m >> 32) & 0xff) << 32;   /* Aff3.Aff2.Aff1.Aff0 */
}

static int gicv3_init(void)
{
    struct skiff_board *b = &skiff_board;
    uint64_t pfr0 = READ_SYSREG(id_aa64pfr0_el1);
    if (((pfr0 >> 24) & 0xf) == 0) {
        skiff_warn("GICv3 in the DTB but the CPU has no GIC system registers");
        return 0;
    }
    /* Find this CPU's redistributor: TYPER[63:32] == our affinity. */
    uint64_t aff = mpidr_affinity();
    uint64_t aff_typer = ((aff >> 32) << 24) | (aff & 0xffffff);
    for (uint64_t off = 0; off + 0x20000 <= b->gicr_size;) {
        uint64_t typer = mmio_read64(b->gicr + off + GICR_TYPER);
        if ((typer >> 32) == aff_typer) {
            gicr_rd = b->gicr + off;
            break;
        }
        if (typer & (1u << 4))          /* Last */
            break;
        off += (typer & (1u << 1)) ? 0x40000 : 0x20000;   /* VLPIS: GICv4 frames */
    }
    if (!gicr_rd) {
        skiff_warn("GICv3: no redistributor for this CPU");
        return 0;
    }
    /* Distributor: affinity routing, both groups on. */
    mmio_write32(b->gicd + GICD_CTLR, 0);
    gicd_wait_rwp();
    mmio_write32(b->gicd + GICD_CTLR, 1u << 4);          /* ARE */
    gicd_wait_rwp();
    mmio_write32(b->gicd + GICD_CTLR, (1u << 4) | 3);    /* ARE | Grp1 | Grp0 (or Grp1A|Grp1) */
    gicd_wait_rwp();
    /* Wake the redistributor. */
    uint32_t waker = mmio_read32(gicr_rd + GICR_WAKER);
    mmio_write32(gicr_rd + GICR_WAKER, waker & ~(1u << 1));
    for (int i = 0; i < 1000000 && (mmio_read32(gicr_rd + GICR_WAKER) & (1u << 2)); i++)
        ;
    /* CPU interface through system registers. */
    uint64_t sre = READ_SYSREG(ICC_SRE_EL1);
    WRITE_SYSREG(ICC_SRE_EL1, sre | 1);
    isb();
    if (!(READ_SYSREG(ICC_SRE_EL1) & 1)) {
        skiff_warn("GICv3: ICC_SRE_EL1.SRE cannot be set");
        return 0;
    }
    WRITE_SYSREG(ICC_PMR_EL1, 0xf0);
    WRITE_SYSREG(ICC_IGRPEN1_EL1, 1);
    isb();
    return 1;
}

static int gicv2_init(void)
{
    struct skiff_board *b = &skiff_board;
    mmio_write32(b->gicd + GICD_CTLR, 1);
    mmio_write32(b->gicc + GICC_PMR, 0xf0);
    mmio_write32(b->gicc + GICC_CTLR, 1);
    return 1;
}

int skiff_gic_init(void)
{
    if (skiff_board.gic_version == 3)
        skiff_gic_ready = gicv3_init();
    else if (skiff_board.gic_version == 2)
        skiff_gic_ready = gicv2_init();
    else
        skiff_warn("no GICv2/GICv3 in the DTB: waits spin instead of WFI");
    if (skiff_gic_ready && skiff_board.timer_intid)
        skiff_gic_enable(skiff_board.timer_intid, 0);
    return skiff_gic_ready;
}

static void set_byte(uint64_t reg_base, uint32_t n, uint8_t v)
{
    /* Byte-accessible registers, written as read-modify-write words so that
     * a hypervisor only ever sees 32-bit accesses. */
    uint64_t a = reg_base + (n & ~3u);
    uint32_t w = mmio_read32(a);
    unsigned sh = (n & 3) * 8;
    w = (w & ~(0xffu << sh)) | ((uint32_t)v << sh);
    mmio_write32(a, w);
}

static void set_cfg(uint64_t icfgr, uint32_t n, int edge)
{
    uint64_t a = icfgr + (n / 16) * 4;
    unsigned sh = (n % 16) * 2 + 1;
    uint32_t w = mmio_read32(a);
    w = edge ? (w | (1u << sh)) : (w & ~(1u << sh));
    mmio_write32(a, w);
}

void skiff_gic_enable(uint32_t intid, int edge)
{
    struct skiff_board *b = &skiff_board;
    if (!skiff_gic_ready || intid < 16 || intid >= 1020)
        return;
    if (b->gic_version == 3 && intid < 32) {
        uint64_t sgi = gicr_rd + GICR_SGI;
        mmio_write32(sgi + GICR_IGROUPR0, mmio_read32(sgi + GICR_IGROUPR0) | (1u << intid));
        set_byte(sgi + GICR_IPRIORITYR, intid, PRIORITY);
        if (intid >= 16)
            set_cfg(sgi + GICR_ICFGR1 - 4, intid, edge);   /* ICFGR0 covers SGIs */
        mmio_write32(sgi + GICR_ISENABLER0, 1u << intid);
        return;
    }
    if (b->gic_version == 3) {
        mmio_write32(b->gicd + GICD_IGROUPR + (intid / 32) * 4,
                     mmio_read32(b->gicd + GICD_IGROUPR + (intid / 32) * 4) | (1u << (intid % 32)));
        mmio_write64(b->gicd + GICD_IROUTER + 8ull * intid, mpidr_affinity());
    } else if (intid >= 32) {
        /* ITARGETSR0..7 read back this CPU's own target mask. */
        uint8_t self = (uint8_t)(mmio_read32(b->gicd + GICD_ITARGETSR) & 0xff);
        set_byte(b->gicd + GICD_ITARGETSR, intid, self ? self : 1);
    }
    set_byte(b->gicd + GICD_IPRIORITYR, intid, PRIORITY);
    if (intid >= 32)
        set_cfg(b->gicd + GICD_ICFGR, intid, edge);
    mmio_write32(b->gicd + GICD_ISENABLER + (intid / 32) * 4, 1u << (intid % 32));
    if (b->gic_version == 3)
        gicd_wait_rwp();
}

void skiff_gic_drain(void)
{
    if (!skiff_gic_ready)
        return;
    for (int i = 0; i < 64; i++) {
        uint64_t iar;
        if (skiff_board.gic_version == 3) {
            iar = READ_SYSREG(ICC_IAR1_EL1);
            if ((iar & 0xffffff) >= 1020)
                return;
            WRITE_SYSREG(ICC_EOIR1_EL1, iar);
        } else {
            iar = mmio_read32(skiff_board.gicc + GICC_IAR);
            if ((iar & 0x3ff) >= 1020)
                return;
            mmio_write32(skiff_board.gicc + GICC_EOIR, (uint32_t)iar);
        }
    }
}
