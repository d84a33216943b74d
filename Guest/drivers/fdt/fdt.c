/*
 * fdt.c: read the board description from the flattened device tree.
 *
 * Runs with the MMU off (Device memory: no unaligned accesses, so this file
 * reads the big-endian DTB a byte at a time; it is built -mstrict-align). It
 * walks the structure block once and keeps what Skiff uses: the memory node
 * holding the image, the PL011 (or SBSA UART: Xen's vpl011) named by
 * /chosen/stdout-path (else the first), a Xen /hypervisor node,
 * the GIC (v2 or v3) and its registers, the virtual timer's PPI, PSCI and its
 * conduit, every virtio-mmio slot with its interrupt, the PL031 RTC, and
 * /chosen bootargs, rng-seed and kaslr-seed (copied: the DTB may lie inside
 * the future heap). Nothing about the board is assumed that the DTB tells.
 *
 * Limits: addresses are translated through no `ranges` (QEMU virt puts every
 * device at the root); interrupt specifiers are the GIC's three cells
 * <type number flags>; nodes with status other than "okay"/"ok" are skipped.
 */
#include "fdt.h"
#include "layout.h"   /* the platform's SKIFF_LINK_BASE: the memory node holding the image */

/* The address whose memory node is the image's RAM: the platform's link
 * address, or its run-time address for an image that may be loaded
 * anywhere (platform/xen/aarch64/layout.h defines SKIFF_IMAGE_ADDRESS). */
#ifndef SKIFF_IMAGE_ADDRESS
#define SKIFF_IMAGE_ADDRESS ((uint64_t)SKIFF_LINK_BASE)
#endif

#define FDT_MAGIC      0xd00dfeedu
#define FDT_BEGIN_NODE 1u
#define FDT_END_NODE   2u
#define FDT_PROP       3u
#define FDT_NOP        4u
#define FDT_END        9u
#define MAX_DEPTH      16
#define MAX_UARTS      4
#define MAX_ALIASES    16
#define PATH_MAX_LEN   256


static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Reads `cells` (1 or 2) big-endian cells. */
static uint64_t cells(const uint8_t *p, uint32_t n)
{
    uint64_t v = 0;
    for (uint32_t i = 0; i < n; i++)
        v = (v << 32) | be32(p + 4 * i);
    return v;
}

static size_t slen(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n])
        n++;
    return n;
}

static int streq(const char *a, size_t alen, const char *b)
{
    size_t blen = slen(b, 4096);
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

/* True if the NUL-separated string list [p, p+len) contains `s`. */
static int list_has(const char *p, uint32_t len, const char *s)
{
    uint32_t i = 0;
    while (i < len) {
        size_t n = slen(p + i, len - i);
        if (streq(p + i, n, s))
            return 1;
        i += (uint32_t)n + 1;
    }
    return 0;
}

int skiff_fdt_valid(const void *fdt)
{
    const uint8_t *h = fdt;
    if (!h)
        return 0;
    if (be32(h) != FDT_MAGIC)
        return 0;
    uint32_t total = be32(h + 4);
    return total >= 40 && total <= (64u << 20) && be32(h + 20) >= 16;
}

/* One node's interesting properties, gathered until its END_NODE. */
struct node {
    const char *name;
    size_t name_len;
    const char *compat; uint32_t compat_len;
    const uint8_t *reg; uint32_t reg_len;
    const uint8_t *irq; uint32_t irq_len;
    const char *devtype; uint32_t devtype_len;
    const char *status; uint32_t status_len;
    const char *method; uint32_t method_len;
    int is_intc;
    uint32_t child_acells, child_scells;   /* for this node's children */
    size_t path_len;                       /* length of its path in `path` */
};

struct walk {
    struct skiff_board *b;
    char path[PATH_MAX_LEN];
    const char *stdout_path; uint32_t stdout_len;
    struct { uint64_t base; char path[64]; size_t path_len; } uarts[MAX_UARTS];
    unsigned nuarts;
    struct { const char *name; const char *value; uint32_t len; } aliases[MAX_ALIASES];
    unsigned naliases;
    int have_memory;
};

static int has(const struct node *n, const char *compat)
{
    return n->compat && list_has(n->compat, n->compat_len, compat);
}

/* reg entry i of node n, with its parent's cell sizes. */
static int reg_at(const struct node *n, const struct node *parent, unsigned i,
                  uint64_t *base, uint64_t *size)
{
    uint32_t ac = parent->child_acells, sc = parent->child_scells;
    uint32_t stride = 4 * (ac + sc);
    if (!n->reg || ac < 1 || ac > 2 || sc > 2 || (uint64_t)(i + 1) * stride > n->reg_len)
        return 0;
    *base = cells(n->reg + i * stride, ac);
    *size = sc ? cells(n->reg + i * stride + 4 * ac, sc) : 0;
    return 1;
}

/* Interrupt i as a GIC INTID (3-cell specifier), 0 if absent. */
static uint32_t intid_at(const struct node *n, unsigned i, uint32_t *flags)
{
    if (!n->irq || (i + 1) * 12 > n->irq_len)
        return 0;
    uint32_t type = be32(n->irq + 12 * i), num = be32(n->irq + 12 * i + 4);
    if (flags)
        *flags = be32(n->irq + 12 * i + 8);
    if (type == 0 && num < 988)
        return 32 + num;           /* SPI */
    if (type == 1 && num < 16)
        return 16 + num;           /* PPI */
    return 0;
}

static void take_node(struct walk *w, const struct node *n, const struct node *parent, int depth)
{
    struct skiff_board *b = w->b;
    uint64_t base, size;
    if (n->status && !streq(n->status, slen(n->status, n->status_len), "okay")
        && !streq(n->status, slen(n->status, n->status_len), "ok"))
        return;

    if (n->devtype && streq(n->devtype, slen(n->devtype, n->devtype_len), "memory")) {
        for (unsigned i = 0; reg_at(n, parent, i, &base, &size); i++) {
            if (SKIFF_IMAGE_ADDRESS >= base && SKIFF_IMAGE_ADDRESS - base < size) {
                b->ram_base = base;
                b->ram_size = size;
                w->have_memory = 1;
            }
        }
        return;
    }
    if (has(n, "xen,xen")) {
        b->xen = 1;
        return;
    }
    if ((has(n, "arm,pl011") || has(n, "arm,sbsa-uart")) && reg_at(n, parent, 0, &base, &size)) {
        if (w->nuarts < MAX_UARTS) {
            size_t l = n->path_len < 63 ? n->path_len : 63;
            w->uarts[w->nuarts].base = base;
            memcpy(w->uarts[w->nuarts].path, w->path, l);
            w->uarts[w->nuarts].path_len = l;
            w->nuarts++;
        }
        return;
    }
    if (has(n, "skiff,exit-status") && reg_at(n, parent, 0, &base, &size)) {
        if (!b->exit_reg)
            b->exit_reg = base;
        return;
    }
    if (has(n, "arm,pl031") && reg_at(n, parent, 0, &base, &size)) {
        if (!b->rtc)
            b->rtc = base;
        return;
    }
    if (n->is_intc && !b->gic_version) {
        if (has(n, "arm,gic-v3")) {
            if (reg_at(n, parent, 0, &b->gicd, &b->gicd_size)
                && reg_at(n, parent, 1, &b->gicr, &b->gicr_size))
                b->gic_version = 3;
        } else if (has(n, "arm,cortex-a15-gic") || has(n, "arm,gic-400")
                   || has(n, "arm,cortex-a9-gic") || has(n, "arm,cortex-a7-gic")) {
            if (reg_at(n, parent, 0, &b->gicd, &b->gicd_size)
                && reg_at(n, parent, 1, &b->gicc, &b->gicc_size))
                b->gic_version = 2;
        }
        return;
    }
    if (has(n, "arm,armv8-timer") || has(n, "arm,armv7-timer")) {
        /* Order fixed by the binding: secure phys, non-secure phys, virtual, hyp. */
        b->timer_intid = intid_at(n, 2, 0);
        return;
    }
    if (has(n, "arm,psci") || has(n, "arm,psci-0.2") || has(n, "arm,psci-1.0")) {
        b->psci_v02 = has(n, "arm,psci-0.2") || has(n, "arm,psci-1.0");
        if (n->method && streq(n->method, slen(n->method, n->method_len), "hvc"))
            b->psci = PSCI_HVC;
        else if (n->method && streq(n->method, slen(n->method, n->method_len), "smc"))
            b->psci = PSCI_SMC;
        return;
    }
    if (has(n, "virtio,mmio") && reg_at(n, parent, 0, &base, &size)) {
        if (b->nvirtio < SKIFF_MAX_VIRTIO) {
            struct skiff_virtio_slot *s = &b->virtio[b->nvirtio++];
            uint32_t flags = 0;
            s->base = base;
            s->size = size;
            s->intid = intid_at(n, 0, &flags);
            s->edge = (flags & 0xf) == 1 || (flags & 0xf) == 2;
        }
        return;
    }
    (void)depth;
}

/* Resolves stdout-path (a path, or an alias, optionally ":options"). */
static void pick_uart(struct walk *w)
{
    struct skiff_board *b = w->b;
    if (w->nuarts == 0)
        return;
    b->uart = w->uarts[0].base;
    if (!w->stdout_path)
        return;
    const char *p = w->stdout_path;
    uint32_t len = (uint32_t)slen(p, w->stdout_len);
    for (uint32_t i = 0; i < len; i++)
        if (p[i] == ':') { len = i; break; }
    if (len > 0 && p[0] != '/') {
        for (unsigned i = 0; i < w->naliases; i++) {
            if (streq(p, len, w->aliases[i].name)) {
                p = w->aliases[i].value;
                len = (uint32_t)slen(p, w->aliases[i].len);
                break;
            }
        }
    }
    for (unsigned i = 0; i < w->nuarts; i++)
        if (w->uarts[i].path_len == len && memcmp(w->uarts[i].path, p, len) == 0)
            b->uart = w->uarts[i].base;
}

int skiff_fdt_parse(const void *fdt, struct skiff_board *b)
{
    static struct walk w;      /* .bss: keeps the early stack small */
    struct node stack[MAX_DEPTH];
    const uint8_t *h = fdt;

    if (!skiff_fdt_valid(fdt)) {
        b->error = "no valid device tree (x0 and RAM base hold no FDT)";
        return -1;
    }
    uint32_t total = be32(h + 4), off_struct = be32(h + 8), off_strings = be32(h + 12);
    uint32_t size_strings = be32(h + 32), size_struct = be32(h + 36);
    if (off_struct >= total || size_struct > total - off_struct
        || off_strings >= total || size_strings > total - off_strings) {
        b->error = "device tree header is inconsistent";
        return -1;
    }
    memset(&w, 0, sizeof w);
    w.b = b;
    b->dtb = (uint64_t)(uintptr_t)fdt;

    const uint8_t *p = h + off_struct, *end = p + size_struct;
    const char *strings = (const char *)h + off_strings;
    int depth = -1;
    while (p + 4 <= end) {
        uint32_t tok = be32(p);
        p += 4;
        if (tok == FDT_BEGIN_NODE) {
            const char *name = (const char *)p;
            size_t n = slen(name, (size_t)(end - p));
            p += (n + 1 + 3) & ~(size_t)3;
            if (++depth >= MAX_DEPTH) {
                b->error = "device tree nested too deeply";
                return -1;
            }
            struct node *nd = &stack[depth];
            memset(nd, 0, sizeof *nd);
            nd->name = name;
            nd->name_len = n;
            nd->child_acells = 2;      /* defaults (devicetree spec 2.3.5) */
            nd->child_scells = 1;
            size_t base_len = depth > 0 ? stack[depth - 1].path_len : 0;
            size_t l = base_len;
            if (depth > 0 && l + 1 + n < PATH_MAX_LEN) {
                w.path[l++] = '/';
                memcpy(w.path + l, name, n);
                l += n;
            }
            nd->path_len = l;
        } else if (tok == FDT_END_NODE) {
            if (depth < 0) {
                b->error = "device tree structure is malformed";
                return -1;
            }
            if (depth >= 1)
                take_node(&w, &stack[depth], &stack[depth - 1], depth);
            depth--;
        } else if (tok == FDT_PROP) {
            if (p + 8 > end || depth < 0) {
                b->error = "device tree structure is malformed";
                return -1;
            }
            uint32_t len = be32(p), nameoff = be32(p + 4);
            const uint8_t *val = p + 8;
            if (len > (uint32_t)(end - val) || nameoff >= size_strings) {
                b->error = "device tree property out of bounds";
                return -1;
            }
            p = val + ((len + 3) & ~3u);
            const char *pn = strings + nameoff;
            size_t pl = slen(pn, size_strings - nameoff);
            struct node *nd = &stack[depth];
            if (streq(pn, pl, "compatible")) {
                nd->compat = (const char *)val; nd->compat_len = len;
            } else if (streq(pn, pl, "reg")) {
                nd->reg = val; nd->reg_len = len;
            } else if (streq(pn, pl, "interrupts")) {
                nd->irq = val; nd->irq_len = len;
            } else if (streq(pn, pl, "device_type")) {
                nd->devtype = (const char *)val; nd->devtype_len = len;
            } else if (streq(pn, pl, "status")) {
                nd->status = (const char *)val; nd->status_len = len;
            } else if (streq(pn, pl, "method")) {
                nd->method = (const char *)val; nd->method_len = len;
            } else if (streq(pn, pl, "interrupt-controller")) {
                nd->is_intc = 1;
            } else if (streq(pn, pl, "#address-cells") && len == 4) {
                nd->child_acells = be32(val);
            } else if (streq(pn, pl, "#size-cells") && len == 4) {
                nd->child_scells = be32(val);
            } else if (depth == 1 && streq(nd->name, nd->name_len, "chosen")) {
                if (streq(pn, pl, "bootargs")) {
                    size_t n = slen((const char *)val, len);
                    if (n >= sizeof b->bootargs)
                        n = sizeof b->bootargs - 1;
                    memcpy(b->bootargs, val, n);
                    b->bootargs[n] = 0;
                    b->have_bootargs = 1;
                } else if (streq(pn, pl, "rng-seed") || streq(pn, pl, "kaslr-seed")) {
                    for (uint32_t i = 0; i < len; i++)
                        b->seed[(b->seed_len + i) % SKIFF_SEED_MAX] ^= val[i];
                    b->seed_len = b->seed_len + len > SKIFF_SEED_MAX ? SKIFF_SEED_MAX : b->seed_len + len;
                } else if (streq(pn, pl, "stdout-path")) {
                    w.stdout_path = (const char *)val; w.stdout_len = len;
                }
            } else if (depth == 1 && streq(nd->name, nd->name_len, "aliases")) {
                if (w.naliases < MAX_ALIASES) {
                    w.aliases[w.naliases].name = pn;
                    w.aliases[w.naliases].value = (const char *)val;
                    w.aliases[w.naliases].len = len;
                    w.naliases++;
                }
            }
        } else if (tok == FDT_NOP) {
            continue;
        } else if (tok == FDT_END) {
            break;
        } else {
            b->error = "device tree has an unknown token";
            return -1;
        }
    }
    pick_uart(&w);
    if (!w.have_memory) {
        b->error = "device tree has no memory node containing the image";
        return -1;
    }
    return 0;
}
