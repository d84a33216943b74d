/*
 * hvt_abi.h: the Solo5 hvt guest/tender ABI, version 2, as C structs.
 *
 * Skiff's own transcription of ../shared/spec/hvt-abi.md (sections 3, 5, 8,
 * 9, 11). Shared by the monitor (imported into Swift, so the layouts are the C
 * compiler's, not Swift's) and by guests built with the Skiff runtime.
 * C99, no includes beyond <stdint.h>. Every offset is checked by a
 * _Static_assert below and by SkiffCoreTests.
 */
#ifndef SKIFF_HVT_ABI_H
#define SKIFF_HVT_ABI_H

#include <stdint.h>

/* A 64-bit guest physical address (== guest virtual address on hvt). */
typedef uint64_t hvt_gpa_t;

#define HVT_ABI_VERSION      2u
#define HVT_ABI_TARGET       1u      /* enum abi_target: HVT */
#define HVT_GUEST_MIN_BASE   0x100000ull
#define HVT_BOOT_INFO_BASE   0x10000ull
#define HVT_CMDLINE_SIZE     8192u
#define HVT_HALT_COOKIE_MAX  512u
#define HVT_FEATURE_RING_IO  1u

/* x86_64: hypercall nr N is a 32-bit OUT of the argument GPA to port 0x500+N. */
#define HVT_HYPERCALL_PIO_BASE  0x500u
#define HVT_RING_KICK_PIO       0x600u
/* aarch64: 32-bit store of the argument GPA to 0x100000000 + N*8. */
#define HVT_HYPERCALL_MMIO_BASE 0x100000000ull
#define HVT_RING_KICK_MMIO      0x100000100ull

enum hvt_hypercall {
    HVT_HYPERCALL_WALLTIME    = 1,
    HVT_HYPERCALL_PUTS        = 2,
    HVT_HYPERCALL_POLL        = 3,
    HVT_HYPERCALL_BLOCK_WRITE = 4,
    HVT_HYPERCALL_BLOCK_READ  = 5,
    HVT_HYPERCALL_NET_WRITE   = 6,
    HVT_HYPERCALL_NET_READ    = 7,
    HVT_HYPERCALL_HALT        = 8,
    HVT_HYPERCALL_MAX         = 9
};

/* solo5_result_t */
enum hvt_result {
    HVT_R_OK = 0, HVT_R_AGAIN = 1, HVT_R_EINVAL = 2, HVT_R_EUNSPEC = 3
};

struct hvt_boot_info {
    uint64_t  mem_size;        /* guest-usable bytes (excludes the net ring) */
    uint64_t  kernel_end;      /* end of the last file-backed PT_LOAD, aligned */
    uint64_t  cpu_cycle_freq;  /* TSC / CNTVCT frequency in Hz */
    hvt_gpa_t cmdline;         /* NUL-terminated command line */
    hvt_gpa_t mft;             /* copy of the validated manifest */
    uint32_t  host_features;   /* HVT_FEATURE_* offered by the tender */
    uint32_t  guest_features;  /* always 0 */
    hvt_gpa_t net_ring;        /* struct hvt_ring, or 0 */
};

struct hvt_hc_walltime { uint64_t nsecs; };
struct hvt_hc_puts     { hvt_gpa_t data; uint64_t len; };
struct hvt_hc_poll     { uint64_t timeout_nsecs; uint64_t ready_set; int32_t ret; };
struct hvt_hc_block    { uint64_t handle; uint64_t offset; hvt_gpa_t data; uint64_t len; int32_t ret; };
struct hvt_hc_net      { uint64_t handle; hvt_gpa_t data; uint64_t len; int32_t ret; };
struct hvt_hc_halt     { hvt_gpa_t cookie; int32_t exit_status; };

/* Manifest (MFT1 note descriptor), section 3.3. */
#define MFT_VERSION         1u
#define MFT_MAX_ENTRIES     64u
#define MFT_NAME_SIZE       68u
#define MFT_NAME_MAX        67u
#define MFT_DEV_BLOCK_BASIC 1u
#define MFT_DEV_NET_BASIC   2u
#define MFT_RESERVED_FIRST  0x40000000u

struct mft_block_basic { uint64_t capacity; uint16_t block_size; };
struct mft_net_basic   { uint8_t mac[6]; uint16_t mtu; };

struct mft_entry {
    char     name[MFT_NAME_SIZE];
    uint32_t type;
    union {
        struct mft_block_basic block_basic;
        struct mft_net_basic   net_basic;
    } u;
    union {
        int      hostfd;
        uint64_t pad;
    } b;
    uint8_t  attached;
};

struct mft {
    uint32_t version;
    uint32_t entries;
    struct mft_entry e[];
};

/* ELF note types, name "Solo5". */
#define SOLO5_NOTE_NAME  "Solo5"
#define SOLO5_NOTE_ABI1  0x31494241u  /* "ABI1" */
#define SOLO5_NOTE_MFT1  0x3154464Du  /* "MFT1" */

struct abi1_info {
    uint32_t abi_target;
    uint32_t abi_version;
    uint32_t reserved0;
    uint32_t reserved1;
};

/* Network ring (HVT_FEATURE_RING_IO), section 11. */
#define HVT_RING_SIZE       1024u
#define HVT_RING_BUF_SIZE   2048u
#define HVT_RING_NET_WRITE  1u
#define HVT_RING_NET_READ   2u

struct hvt_ring_entry  { uint32_t operation; uint32_t handle; hvt_gpa_t data; uint32_t len; uint32_t id; uint64_t reserved; };
struct hvt_ring_commit { uint32_t id; int32_t ret; uint32_t len; uint32_t reserved; };

struct hvt_ring {
    uint32_t ent_tail;
    uint32_t com_head;
    uint8_t  pad0[56];
    uint32_t ent_head;
    uint32_t com_tail;
    uint32_t needs_kick;
    uint8_t  pad1[52];
    struct hvt_ring_entry  entries[HVT_RING_SIZE];
    struct hvt_ring_commit commits[HVT_RING_SIZE];
};

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#include <stddef.h>
_Static_assert(sizeof(struct hvt_boot_info) == 56, "boot info");
_Static_assert(offsetof(struct hvt_boot_info, net_ring) == 48, "boot info");
_Static_assert(sizeof(struct hvt_hc_walltime) == 8, "walltime");
_Static_assert(sizeof(struct hvt_hc_puts) == 16, "puts");
_Static_assert(sizeof(struct hvt_hc_poll) == 24, "poll");
_Static_assert(sizeof(struct hvt_hc_block) == 40, "block");
_Static_assert(sizeof(struct hvt_hc_net) == 32, "net");
_Static_assert(sizeof(struct hvt_hc_halt) == 16, "halt");
_Static_assert(sizeof(struct mft_entry) == 104, "mft entry");
_Static_assert(offsetof(struct mft_entry, type) == 68, "mft entry");
_Static_assert(offsetof(struct mft_entry, u) == 72, "mft entry");
_Static_assert(offsetof(struct mft_entry, b) == 88, "mft entry");
_Static_assert(offsetof(struct mft_entry, attached) == 96, "mft entry");
_Static_assert(sizeof(struct mft) == 8, "mft");
_Static_assert(sizeof(struct hvt_ring) == 49280, "ring");
_Static_assert(offsetof(struct hvt_ring, ent_head) == 64, "ring");
_Static_assert(offsetof(struct hvt_ring, entries) == 128, "ring");
_Static_assert(offsetof(struct hvt_ring, commits) == 32896, "ring");
#endif

#endif /* SKIFF_HVT_ABI_H */
