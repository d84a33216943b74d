/* kvmfloor.c: the benchmark's floor: the least C program that boots an hvt guest the way the tender does.
 *
 *   kvmfloor [--mem=MiB] KERNEL [ARGS...]
 *
 * Same VM set-up as skiff-hvt for an x86_64 hvt guest (docs/boot-x86_64.md, spec/hvt-abi.md §5-6, §8):
 * /dev/kvm, KVM_CREATE_VM, KVM_SET_TSS_ADDR, one anonymous slot of the same size at GPA 0 (private,
 * MAP_NORESERVE, as the tender maps it), the ELF's PT_LOAD segments, the low tables (GDT, PML4, PDPT,
 * four PDs of 2 MiB pages, PT0), boot info + manifest copy (the image's MFT1 note, or a minimal one)
 * + command line at 0x10000, KVM_CREATE_VCPU, KVM's supported CPUID unmodified, sregs/regs, then a
 * KVM_RUN loop serving WALLTIME, PUTS (write(1)) and HALT (exit with its status). Anything else: exit 1.
 *
 * It is a floor, not a monitor: no checks beyond what keeps it from crashing, no seccomp, no devices,
 * no read-only segments, no signal handling. Built by scripts/bench with `cc -O2 -static`.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
    fprintf(stderr, "kvmfloor: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int xioctl(int fd, unsigned long req, void *arg, const char *what) {
    int r;
    while ((r = ioctl(fd, req, arg)) < 0)
        if (errno != EINTR && errno != EAGAIN)
            die(what);
    return r;
}

static void put64(uint8_t *mem, uint64_t gpa, uint64_t v) { memcpy(mem + gpa, &v, 8); }

/* Guest bytes at a 32-bit GPA, or exit 1 if they are not inside guest memory. */
static void *guest(uint8_t *mem, uint64_t size, uint64_t gpa, uint64_t len) {
    if (gpa >= size || len > size - gpa) {
        fprintf(stderr, "kvmfloor: bad guest address 0x%llx\n", (unsigned long long)gpa);
        exit(1);
    }
    return mem + gpa;
}

int main(int argc, char **argv) {
    uint64_t mem_size = 512ull << 20;
    int a = 1;
    if (a < argc && strncmp(argv[a], "--mem=", 6) == 0)
        mem_size = strtoull(argv[a++] + 6, NULL, 10) << 20;
    if (a < argc && strcmp(argv[a], "--") == 0)
        a++;
    if (a >= argc) {
        fprintf(stderr, "usage: kvmfloor [--mem=MiB] KERNEL [ARGS...]\n");
        return 1;
    }
    mem_size &= ~(uint64_t)0x1fffff;
    if (mem_size == 0)
        mem_size = 0x200000;

    /* The image, whole. */
    int ifd = open(argv[a], O_RDONLY | O_CLOEXEC);
    if (ifd < 0)
        die(argv[a]);
    struct stat st;
    if (fstat(ifd, &st) < 0)
        die("fstat");
    uint8_t *img = malloc(st.st_size);
    if (!img || read(ifd, img, st.st_size) != st.st_size)
        die("read");
    close(ifd);
    Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
    Elf64_Phdr *ph = (Elf64_Phdr *)(img + eh->e_phoff);

    /* VM and memory. */
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        die("/dev/kvm");
    int vm = xioctl(kvm, KVM_CREATE_VM, 0, "KVM_CREATE_VM");
    xioctl(vm, KVM_SET_TSS_ADDR, (void *)0xfffbd000ul, "KVM_SET_TSS_ADDR");
    uint8_t *mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED)
        die("mmap");
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = mem_size, .userspace_addr = (uint64_t)mem};
    xioctl(vm, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");
    int khz = xioctl(vm, KVM_GET_TSC_KHZ, 0, "KVM_GET_TSC_KHZ");

    /* PT_LOAD segments; the MFT1 note (first Solo5 note of type MFT1 in a PT_NOTE). */
    uint64_t kernel_end = 0;
    const uint8_t *mft = NULL;
    uint32_t mft_size = 0;
    for (int i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr *p = &ph[i];
        if (p->p_type == PT_LOAD && p->p_filesz) {
            memcpy(guest(mem, mem_size, p->p_paddr, p->p_memsz), img + p->p_offset, p->p_filesz);
            uint64_t end = (p->p_paddr + p->p_memsz + p->p_align - 1) & ~(p->p_align - 1);
            if (end > kernel_end)
                kernel_end = end;
        } else if (p->p_type == PT_NOTE && p->p_filesz >= 20 && !mft) {
            const uint32_t *n = (const uint32_t *)(img + p->p_offset);
            if (n[0] == 6 && n[2] == 0x3154464D && memcmp(n + 3, "Solo5", 6) == 0) {
                mft = img + p->p_offset + 24;
                mft_size = n[1] - 4;
            }
        }
    }
    static const uint8_t minimal_mft[8 + 104] = {1, 0, 0, 0, 1, 0, 0, 0, [8 + 68 + 3] = 0x40};
    if (!mft) {
        mft = minimal_mft;
        mft_size = sizeof minimal_mft;
    }

    /* Low tables: GDT at 0x1000, PML4 0x2000, PDPT 0x3000, PDs 0x4000-0x7fff, PT0 0x8000 (spec §6.1-6.2). */
    put64(mem, 0x1008, 0x00AF99000000FFFFull);
    put64(mem, 0x1010, 0x00CF93000000FFFFull);
    put64(mem, 0x2000, 0x3003);
    for (uint64_t i = 0; i < 4; i++)
        put64(mem, 0x3000 + 8 * i, (0x4000 + 0x1000 * i) | 3);
    put64(mem, 0x4000, 0x8003);
    for (uint64_t i = 1; i < 2048 && i * 0x200000 < mem_size; i++)
        put64(mem, 0x4000 + 8 * i, (i * 0x200000) | 0x83);
    for (uint64_t j = 16; j < 512; j++)
        put64(mem, 0x8000 + 8 * j, (j * 0x1000) | (j < 256 ? 1 : 3));

    /* Boot info, manifest copy, command line at 0x10000 (spec §5.3-5.4). */
    uint64_t mft_gpa = 0x10038, cmd_gpa = mft_gpa + mft_size;
    put64(mem, 0x10000, mem_size);
    put64(mem, 0x10008, kernel_end);
    put64(mem, 0x10010, (uint64_t)khz * 1000);
    put64(mem, 0x10018, cmd_gpa);
    put64(mem, 0x10020, mft_gpa);
    memcpy(mem + mft_gpa, mft, mft_size);
    char *cmd = (char *)mem + cmd_gpa;
    size_t used = 0;
    for (int i = a + 1; i < argc; i++) {
        size_t n = strlen(argv[i]);
        if (used + n + 1 >= 8192)
            break;
        if (i > a + 1)
            cmd[used++] = ' ';
        memcpy(cmd + used, argv[i], n);
        used += n;
    }

    /* vCPU: kvm_run, CPUID, sregs, regs (spec §6.3-6.4). */
    int vcpu = xioctl(vm, KVM_CREATE_VCPU, 0, "KVM_CREATE_VCPU");
    int run_size = xioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
    struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        die("mmap kvm_run");
    struct {
        struct kvm_cpuid2 h;
        struct kvm_cpuid_entry2 e[100];
    } cpuid = {.h.nent = 100};
    xioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid, "KVM_GET_SUPPORTED_CPUID");
    xioctl(vcpu, KVM_SET_CPUID2, &cpuid, "KVM_SET_CPUID2");
    struct kvm_sregs sregs;
    xioctl(vcpu, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
    struct kvm_segment code = {.base = 0, .limit = 0xffffffff, .selector = 0x08, .type = 9, .present = 1,
                               .s = 1, .l = 1, .g = 1};
    struct kvm_segment data = {.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 3, .present = 1,
                               .s = 1, .db = 1, .g = 1};
    sregs.cs = code;
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.tr = (struct kvm_segment){.type = 11, .present = 1};
    sregs.ldt.unusable = 1;
    sregs.gdt.base = 0x1000;
    sregs.gdt.limit = 23;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cr0 = 0x80010021;
    sregs.cr3 = 0x2000;
    sregs.cr4 = 0x620;
    sregs.efer = 0x500;
    sregs.cr2 = sregs.cr8 = 0;
    xioctl(vcpu, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
    struct kvm_regs regs = {.rip = eh->e_entry, .rsp = mem_size - 8, .rdi = 0x10000, .rflags = 2};
    xioctl(vcpu, KVM_SET_REGS, &regs, "KVM_SET_REGS");

    /* Run: WALLTIME (1), PUTS (2), HALT (8); anything else ends the run with status 1. */
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            die("KVM_RUN");
        }
        if (run->exit_reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 4) {
            fprintf(stderr, "kvmfloor: unhandled exit %u\n", run->exit_reason);
            return 1;
        }
        uint32_t gpa;
        memcpy(&gpa, (uint8_t *)run + run->io.data_offset, 4);
        switch (run->io.port) {
        case 0x501: {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
            memcpy(guest(mem, mem_size, gpa, 8), &ns, 8);
            break;
        }
        case 0x502: {
            uint64_t *p = guest(mem, mem_size, gpa, 16);
            (void)!write(1, guest(mem, mem_size, p[0], p[1]), p[1]);
            break;
        }
        case 0x508:
            return ((int32_t *)guest(mem, mem_size, gpa, 16))[2] & 0xff;
        default:
            fprintf(stderr, "kvmfloor: unhandled port 0x%x\n", run->io.port);
            return 1;
        }
    }
}
