// KVMVCPU+debug_x86_64.swift: the KVM backend's x86_64 debugging side: the registers by KVM_GET_REGS/SREGS (and back).

#if arch(x86_64)
import CSkiffLinux
import CSkiffKVM
import SkiffCore

extension KVMVCPU: DebuggableCPU {
    /// The general registers, segment selectors and bases, control registers.
    /// The corresponding KVM ioctls are `KVM_GET_REGS` and `KVM_GET_SREGS`.
    public func readRegisters() throws(BackendError) -> CPURegisters {
        var k = kvm_regs()
        try kvmIoctl(state.fd, CSKIFF_KVM_GET_REGS, &k, "KVM_GET_REGS")
        var s = kvm_sregs()
        try kvmIoctl(state.fd, CSKIFF_KVM_GET_SREGS, &s, "KVM_GET_SREGS")
        var r = X86_64Registers()
        r.rax = k.rax; r.rbx = k.rbx; r.rcx = k.rcx; r.rdx = k.rdx
        r.rsi = k.rsi; r.rdi = k.rdi; r.rbp = k.rbp; r.rsp = k.rsp
        r.r8 = k.r8; r.r9 = k.r9; r.r10 = k.r10; r.r11 = k.r11
        r.r12 = k.r12; r.r13 = k.r13; r.r14 = k.r14; r.r15 = k.r15
        r.rip = k.rip; r.rflags = k.rflags
        r.cs = s.cs.selector; r.ss = s.ss.selector; r.ds = s.ds.selector
        r.es = s.es.selector; r.fs = s.fs.selector; r.gs = s.gs.selector
        r.fsBase = s.fs.base; r.gsBase = s.gs.base
        r.cr0 = s.cr0; r.cr2 = s.cr2; r.cr3 = s.cr3; r.cr4 = s.cr4; r.efer = s.efer
        return .x86_64(r)
    }

    /// Writes the general registers, rip and rflags (`KVM_SET_REGS`) and the FS/GS bases
    /// (`KVM_SET_SREGS`); selectors and control registers are left as they are.
    public func writeRegisters(_ registers: CPURegisters) throws(BackendError) {
        guard case .x86_64(let r) = registers else { throw BackendError("KVM: x86_64 registers expected") }
        var k = kvm_regs()
        k.rax = r.rax; k.rbx = r.rbx; k.rcx = r.rcx; k.rdx = r.rdx
        k.rsi = r.rsi; k.rdi = r.rdi; k.rbp = r.rbp; k.rsp = r.rsp
        k.r8 = r.r8; k.r9 = r.r9; k.r10 = r.r10; k.r11 = r.r11
        k.r12 = r.r12; k.r13 = r.r13; k.r14 = r.r14; k.r15 = r.r15
        k.rip = r.rip; k.rflags = r.rflags
        try kvmIoctl(state.fd, CSKIFF_KVM_SET_REGS, &k, "KVM_SET_REGS")
        var s = kvm_sregs()
        try kvmIoctl(state.fd, CSKIFF_KVM_GET_SREGS, &s, "KVM_GET_SREGS")
        if s.fs.base != r.fsBase || s.gs.base != r.gsBase {
            s.fs.base = r.fsBase; s.gs.base = r.gsBase
            try kvmIoctl(state.fd, CSKIFF_KVM_SET_SREGS, &s, "KVM_SET_SREGS")
        }
    }
}
#endif
