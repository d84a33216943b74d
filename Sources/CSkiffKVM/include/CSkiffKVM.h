/*
 * CSkiffKVM.h: the Linux KVM interface for the Swift backend: ioctl request numbers and kvm_run accessors.
 *
 * KVM's request numbers are function-like macros (_IOW...) Swift cannot
 * import, so each is re-exported as a constant. Requests that exist on every
 * architecture come first; then one block per architecture (the x86-only
 * ones use structs such as kvm_cpuid2 that arm64 headers do not have).
 */
#ifndef CSKIFF_KVM_H
#define CSKIFF_KVM_H
#include <linux/kvm.h>
#include <stdint.h>

/* Every architecture. */
static const unsigned long CSKIFF_KVM_GET_API_VERSION = KVM_GET_API_VERSION;
static const unsigned long CSKIFF_KVM_CREATE_VM = KVM_CREATE_VM;
static const unsigned long CSKIFF_KVM_CHECK_EXTENSION = KVM_CHECK_EXTENSION;
static const unsigned long CSKIFF_KVM_GET_VCPU_MMAP_SIZE = KVM_GET_VCPU_MMAP_SIZE;
static const unsigned long CSKIFF_KVM_SET_USER_MEMORY_REGION = KVM_SET_USER_MEMORY_REGION;
static const unsigned long CSKIFF_KVM_CREATE_VCPU = KVM_CREATE_VCPU;
static const unsigned long CSKIFF_KVM_RUN = KVM_RUN;
static const unsigned long CSKIFF_KVM_IOEVENTFD = KVM_IOEVENTFD;
static const unsigned long CSKIFF_KVM_SET_ONE_REG = KVM_SET_ONE_REG;
static const unsigned long CSKIFF_KVM_GET_ONE_REG = KVM_GET_ONE_REG;
/* A debugger's traps (KVMVCPU+debug_ARCH.swift); the registers are in the per-architecture blocks. */
static const unsigned long CSKIFF_KVM_SET_GUEST_DEBUG = KVM_SET_GUEST_DEBUG;

#if defined(__x86_64__)
static const unsigned long CSKIFF_KVM_GET_SUPPORTED_CPUID = KVM_GET_SUPPORTED_CPUID;
static const unsigned long CSKIFF_KVM_SET_TSS_ADDR = KVM_SET_TSS_ADDR;
static const unsigned long CSKIFF_KVM_GET_REGS = KVM_GET_REGS;
static const unsigned long CSKIFF_KVM_SET_REGS = KVM_SET_REGS;
static const unsigned long CSKIFF_KVM_GET_SREGS = KVM_GET_SREGS;
static const unsigned long CSKIFF_KVM_SET_SREGS = KVM_SET_SREGS;
static const unsigned long CSKIFF_KVM_SET_CPUID2 = KVM_SET_CPUID2;
static const unsigned long CSKIFF_KVM_GET_TSC_KHZ = KVM_GET_TSC_KHZ;
static const unsigned int CSKIFF_KVM_IOEVENTFD_FLAG_PIO = KVM_IOEVENTFD_FLAG_PIO;
/* The PVH machine's in-kernel LAPIC, IOAPIC and 8259s (SkiffArchX86_64/PVHLayout.swift). */
static const unsigned long CSKIFF_KVM_CREATE_IRQCHIP = KVM_CREATE_IRQCHIP;
/* The hypervisor this process runs under, by CPUID leaf 0x40000000 ("KVMKVMKVM", "TCGTCGTCGTCG" for QEMU's
 * emulator, ...): 12 bytes into `vendor` (zeros when there is no hypervisor leaf). */
#include <cpuid.h>
static inline void cskiff_hypervisor_vendor(char vendor[12]) {
    unsigned a = 0, b = 0, c = 0, d = 0;
    __builtin_memset(vendor, 0, 12);
    __cpuid(1, a, b, c, d);
    if (!(c & (1u << 31))) return;   /* CPUID.1:ECX.hypervisor */
    __cpuid(0x40000000, a, b, c, d);
    __builtin_memcpy(vendor, &b, 4);
    __builtin_memcpy(vendor + 4, &c, 4);
    __builtin_memcpy(vendor + 8, &d, 4);
}
/* kvm_guest_debug_arch.debugreg[i]: DR0-DR3 addresses, DR7 (index 7) enables. */
static inline void cskiff_guest_debug_set_dr(struct kvm_guest_debug *d, unsigned i, uint64_t v) {
    if (i < 8) d->arch.debugreg[i] = v;
}
#endif

#if defined(__aarch64__)
static const unsigned long CSKIFF_KVM_ARM_PREFERRED_TARGET = KVM_ARM_PREFERRED_TARGET;
static const unsigned long CSKIFF_KVM_ARM_VCPU_INIT = KVM_ARM_VCPU_INIT;
/* The in-kernel GICv3 of the Linux-Image machine (SkiffArchAArch64/VirtLayout.swift). */
static const unsigned long CSKIFF_KVM_CREATE_DEVICE = KVM_CREATE_DEVICE;
static const unsigned long CSKIFF_KVM_SET_DEVICE_ATTR = KVM_SET_DEVICE_ATTR;
static const unsigned long CSKIFF_KVM_IRQ_LINE = KVM_IRQ_LINE;
/* kvm_guest_debug_arch: breakpoint i (DBGBCRn/DBGBVRn) and watchpoint i (DBGWCRn/DBGWVRn), i < KVM_ARM_MAX_DBG_REGS. */
static inline void cskiff_guest_debug_set_bp(struct kvm_guest_debug *d, unsigned i, uint64_t bcr, uint64_t bvr) {
    if (i < KVM_ARM_MAX_DBG_REGS) { d->arch.dbg_bcr[i] = bcr; d->arch.dbg_bvr[i] = bvr; }
}
static inline void cskiff_guest_debug_set_wp(struct kvm_guest_debug *d, unsigned i, uint64_t wcr, uint64_t wvr) {
    if (i < KVM_ARM_MAX_DBG_REGS) { d->arch.dbg_wcr[i] = wcr; d->arch.dbg_wvr[i] = wvr; }
}
/* The generic timer's frequency (CNTFRQ_EL0; Linux lets EL0 read it): the guest's cpu_cycle_freq. */
static inline uint64_t cskiff_read_cntfrq(void) {
    uint64_t v;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(v));
    return v;
}
#endif

/* kvm_run accessors for the anonymous union, kept here so Swift never does
 * pointer arithmetic on kvm_run itself. */
static inline uint32_t cskiff_run_io_u32(const struct kvm_run *run) {
    uint32_t v;
    __builtin_memcpy(&v, (const uint8_t *)run + run->io.data_offset, sizeof v);
    return v;
}
/* A port-I/O exit's data (size bytes, count 1) as a value, and the answer to an IN. */
static inline uint64_t cskiff_run_io_value(const struct kvm_run *run) {
    uint64_t v = 0;
    uint32_t n = run->io.size <= 8 ? run->io.size : 8;
    __builtin_memcpy(&v, (const uint8_t *)run + run->io.data_offset, n);
    return v;
}
static inline void cskiff_run_set_io_value(struct kvm_run *run, uint64_t v) {
    uint32_t n = run->io.size <= 8 ? run->io.size : 8;
    __builtin_memcpy((uint8_t *)run + run->io.data_offset, &v, n);
}
static inline uint32_t cskiff_run_mmio_u32(const struct kvm_run *run) {
    uint32_t v;
    __builtin_memcpy(&v, run->mmio.data, sizeof v);
    return v;
}
/* An MMIO exit's data as a little-endian value of its length (1-8 bytes), and the answer to a read. */
static inline uint64_t cskiff_run_mmio_value(const struct kvm_run *run) {
    uint64_t v = 0;
    uint32_t n = run->mmio.len <= 8 ? run->mmio.len : 8;
    __builtin_memcpy(&v, run->mmio.data, n);
    return v;
}
static inline void cskiff_run_set_mmio_value(struct kvm_run *run, uint64_t v) {
    uint32_t n = run->mmio.len <= 8 ? run->mmio.len : 8;
    __builtin_memcpy(run->mmio.data, &v, n);
}
#endif /* CSKIFF_KVM_H */
