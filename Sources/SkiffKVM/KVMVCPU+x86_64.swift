// KVMVCPU+x86_64.swift: the KVM backend's x86_64 part: the hvt boot CPU state, CPUID, TSC frequency, port-I/O exits.

#if arch(x86_64)
import CSkiffLinux
import CSkiffKVM
import SkiffCore
import SkiffArchX86_64

extension KVMVirtualMachine {
    /// x86 needs a TSS region below 4 GiB for Intel's real-mode emulation (harmless elsewhere).
    func prepareArchitecture() throws(BackendError) {
        try kvmIoctl(vmFD, CSKIFF_KVM_SET_TSS_ADDR, 0xfffb_d000, "KVM_SET_TSS_ADDR")
    }

    /// The guest's cycle counter frequency in Hz (spec §6.5: the TSC, `KVM_GET_TSC_KHZ`).
    public func cycleCounterFrequency() throws(BackendError) -> UInt64 {
        guard hasCapability(KVM_CAP_GET_TSC_KHZ) else {
            throw BackendError("KVM: host does not support KVM_CAP_GET_TSC_KHZ")
        }
        let r = cskiff_ioctl(vmFD, CSKIFF_KVM_GET_TSC_KHZ, 0)
        if r < 0 && errno == EIO { throw BackendError("KVM: host TSC is unstable, cannot continue") }
        guard r > 0 else { throw BackendError("KVM: ioctl (KVM_GET_TSC_KHZ) failed: \(errnoString())") }
        return UInt64(r) * 1000
    }

    /// The PVH machine's interrupt controllers in the kernel (LAPIC with its timer, IOAPIC, 8259s):
    /// before the vCPU exists.
    public func createInterruptController() throws(BackendError) {
        try kvmIoctl(vmFD, CSKIFF_KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP")
    }

    /// Registers `eventFD` for 4-byte OUTs to I/O port `port`.
    public func registerDoorbell(_ port: UInt64, eventFD: Int32) throws(BackendError) {
        try registerIOEvent(address: port, flags: UInt32(CSKIFF_KVM_IOEVENTFD_FLAG_PIO), eventFD: eventFD)
    }

}

/// vCPU 0 of an x86_64 KVM VM.
public final class KVMVCPU: KVMVCPUBase, VirtualCPU {
    public let programCounterName = "rip"
    /// True for the PVH machine: port I/O goes to the device bus, no hypercall ports.
    private var devicesOnBus = false
    /// The debugger's traps (KVMVCPU+debug_x86_64.swift).
    var debug = X86GuestDebug()

    /// Creates vCPU 0 of `vm` in the hvt boot state `boot`.
    public init(vm: KVMVirtualMachine, state boot: BootCPUState) throws(BackendError) {
        try super.init(vm: vm)
        try setCPUID(vm: vm, tscHz: nil)
        try setState(boot)
    }

    /// Creates vCPU 0 of `vm` in the PVH entry state (BootCPUState.pvh); CPUID leaf 0x15 gives the TSC rate
    /// `tscHz` (the guest then needs no PIT to calibrate).
    public init(vm: KVMVirtualMachine, pvh boot: BootCPUState, tscHz: UInt64) throws(BackendError) {
        try super.init(vm: vm)
        try setCPUID(vm: vm, tscHz: tscHz)
        try setState(boot)
        devicesOnBus = true
    }

    /// Installs KVM's supported CPUID table (spec §6.4: unmodified for hvt); with `tscHz`, leaf 0x15
    /// (TSC/crystal ratio 1/1, crystal = the TSC rate) replaced or added, and the maximum leaf raised to it.
    private func setCPUID(vm: KVMVirtualMachine, tscHz: UInt64?) throws(BackendError) {
        let n = 100
        let header = MemoryLayout<kvm_cpuid2>.size, stride = MemoryLayout<kvm_cpuid_entry2>.stride
        var buf = [UInt64](repeating: 0, count: (header + (n + 1) * stride + 7) / 8)
        buf[0] = UInt64(n)  // kvm_cpuid2.nent (UInt32) in the first word; padding stays 0
        try kvmIoctl(vm.kvmFD, CSKIFF_KVM_GET_SUPPORTED_CPUID, &buf, "GET_SUPPORTED_CPUID")
        if let hz = tscHz {
            // SAFETY: `buf` holds a kvm_cpuid2 header and n + 1 entries; nent ≤ n after the ioctl.
            buf.withUnsafeMutableBytes { raw in
                let nent = Int(raw.load(as: UInt32.self))
                let entries = raw.baseAddress!.advanced(by: header).assumingMemoryBound(to: kvm_cpuid_entry2.self)
                var leaf15 = kvm_cpuid_entry2()
                leaf15.function = 0x15
                leaf15.eax = 1; leaf15.ebx = 1; leaf15.ecx = UInt32(truncatingIfNeeded: hz)
                var found = false
                for i in 0..<nent {
                    if entries[i].function == 0 && entries[i].index == 0 { entries[i].eax = max(entries[i].eax, 0x15) }
                    if entries[i].function == 0x15 { entries[i] = leaf15; found = true }
                }
                if !found {
                    entries[nent] = leaf15
                    raw.storeBytes(of: UInt32(nent + 1), as: UInt32.self)
                }
            }
        }
        try kvmIoctl(state.fd, CSKIFF_KVM_SET_CPUID2, &buf, "SET_CPUID2")
    }

    public func completePortRead(_ value: UInt64) {
        // SAFETY: the vCPU thread, between KVM_RUN calls: KVM copies the data into the guest at the next entry.
        cskiff_run_set_io_value(state.run, value)
    }

    private func setState(_ s: BootCPUState) throws(BackendError) {
        var sregs = kvm_sregs()
        try kvmIoctl(state.fd, CSKIFF_KVM_GET_SREGS, &sregs, "KVM_GET_SREGS")
        func seg(_ g: Segment) -> kvm_segment {
            var k = kvm_segment()
            k.base = g.base; k.limit = g.limit; k.selector = g.selector; k.type = g.type
            k.present = g.present ? 1 : 0; k.dpl = g.dpl; k.db = g.db ? 1 : 0; k.s = g.s ? 1 : 0
            k.l = g.l ? 1 : 0; k.g = g.g ? 1 : 0; k.unusable = g.unusable ? 1 : 0
            return k
        }
        sregs.cs = seg(s.cs)
        sregs.ds = seg(s.data); sregs.es = seg(s.data); sregs.fs = seg(s.data)
        sregs.gs = seg(s.data); sregs.ss = seg(s.data)
        sregs.tr = seg(s.tr)
        sregs.ldt.unusable = 1
        sregs.gdt.base = s.gdtBase; sregs.gdt.limit = s.gdtLimit
        sregs.idt.base = 0; sregs.idt.limit = 0
        sregs.cr0 = s.cr0; sregs.cr3 = s.cr3; sregs.cr4 = s.cr4; sregs.efer = s.efer
        sregs.cr2 = 0; sregs.cr8 = 0
        try kvmIoctl(state.fd, CSKIFF_KVM_SET_SREGS, &sregs, "KVM_SET_SREGS")
        var regs = kvm_regs()
        regs.rip = s.rip; regs.rsp = s.rsp; regs.rdi = s.rdi; regs.rbx = s.rbx; regs.rflags = s.rflags
        try kvmIoctl(state.fd, CSKIFF_KVM_SET_REGS, &regs, "KVM_SET_REGS")
    }

    public func programCounter() -> UInt64 {
        var regs = kvm_regs()
        guard (try? kvmIoctl(state.fd, CSKIFF_KVM_GET_REGS, &regs, "KVM_GET_REGS")) != nil else { return 0 }
        return regs.rip
    }

    public func run() throws(BackendError) -> VCPUExit {
        var r: kvm_run
        while true {
            if let e = state.enter() { return try state.decodeRunError(e, pcName: programCounterName, pc: programCounter) }
            r = state.exit
            settleRetiredTrampolines()
            // The debugger's exits (KVMVCPU+debug_x86_64.swift); nil: a step or trap of the monitor's own.
            if Int32(r.exit_reason) == KVM_EXIT_DEBUG {
                if let exit = try debugExit(r) { return exit }
                continue
            }
            if Int32(r.exit_reason) == KVM_EXIT_IO,
               let trap = try trampolineExit(port: UInt32(r.io.port), size: Int(r.io.size), isOut: r.io.direction == UInt8(KVM_EXIT_IO_OUT)) {
                if let exit = trap { return exit }
                continue
            }
            break
        }
        if Int32(r.exit_reason) == KVM_EXIT_IO, devicesOnBus {
            let io = r.io
            guard io.count == 1 else {
                return .invalidPortAccess(port: UInt32(io.port), size: Int(io.size), isWrite: io.direction == UInt8(KVM_EXIT_IO_OUT))
            }
            let out = io.direction == UInt8(KVM_EXIT_IO_OUT)
            return .port(MMIOAccess(address: UInt64(io.port), length: Int(io.size), isWrite: out,
                                    value: out ? cskiff_run_io_value(state.run) : 0))
        }
        if Int32(r.exit_reason) == KVM_EXIT_IO {
            let io = r.io
            return HypercallPorts.decode(port: UInt32(io.port), size: Int(io.size), count: Int(io.count),
                                         isOut: io.direction == UInt8(KVM_EXIT_IO_OUT), value: { state.ioValue },
                                         limit: hypercallLimit, ignoredPorts: ignoredPorts)
        }
        if let exit = KVMRunState.decodeCommonExit(r, memorySize: memorySize, pcName: programCounterName, pc: programCounter) {
            return exit
        }
        return KVMRunState.unhandled(r, pcName: programCounterName, pc: programCounter())
    }
}
#endif
