// KVMVCPU+aarch64.swift: the KVM backend's aarch64 part: vCPU init, the hvt entry state by ONE_REG, MMIO hypercall exits.
//
// Spec §7.3: KVM_ARM_PREFERRED_TARGET → KVM_ARM_VCPU_INIT (no features), CPACR_EL1 read-modify-write,
// then the writes of `BootCPUState.registerWrites` (SkiffArchAArch64, unit-tested as data). Hypercalls
// are 32-bit stores into the MMIO window at 0x100000000 (§8), decoded by `HypercallMMIO.decode`.

#if arch(arm64)
import CSkiffLinux
import CSkiffKVM
import SkiffCore
import SkiffArchAArch64

extension KVMVirtualMachine {
    /// arm64 needs no VM-wide set-up before the memory slot is registered.
    func prepareArchitecture() throws(BackendError) {}

    /// The guest's cycle counter frequency in Hz (spec §7.3: the host's CNTFRQ_EL0, readable at EL0).
    public func cycleCounterFrequency() throws(BackendError) -> UInt64 {
        let f = cskiff_read_cntfrq()
        guard f > 0 else { throw BackendError("KVM: the host's CNTFRQ_EL0 reads 0") }
        return f
    }

    /// Registers `eventFD` for 4-byte stores to the MMIO address `address` (spec §11: 0x100000100).
    public func registerDoorbell(_ address: UInt64, eventFD: Int32) throws(BackendError) {
        try registerIOEvent(address: address, flags: 0, eventFD: eventFD)
    }

}

/// vCPU 0 of an aarch64 KVM VM.
public final class KVMVCPU: KVMVCPUBase, VirtualCPU {
    public let programCounterName = "pc"

    /// Creates vCPU 0 of `vm` in the hvt boot state `boot`.
    public init(vm: KVMVirtualMachine, state boot: BootCPUState) throws(BackendError) {
        try super.init(vm: vm)
        var initArg = kvm_vcpu_init()
        try kvmIoctl(vm.vmFD, CSKIFF_KVM_ARM_PREFERRED_TARGET, &initArg, "KVM_ARM_PREFERRED_TARGET")
        // No extra features: no PSCI 0.2, PMU, SVE or pointer authentication (spec §7.3).
        initArg.features = (0, 0, 0, 0, 0, 0, 0)
        try kvmIoctl(state.fd, CSKIFF_KVM_ARM_VCPU_INIT, &initArg, "KVM_ARM_VCPU_INIT")
        let cpacr = try getRegister(OneRegID.cpacrEL1, "KVM_GET_ONE_REG (CPACR_EL1)")
        try setRegister(OneRegID.cpacrEL1, BootCPUState.cpacr(from: cpacr), "KVM_SET_ONE_REG (CPACR_EL1)")
        for w in boot.registerWrites { try setRegister(w.id, w.value, "KVM_SET_ONE_REG") }
    }

    /// `KVM_SET_ONE_REG` of a 64-bit register.
    func setRegister(_ id: UInt64, _ value: UInt64, _ name: StaticString) throws(BackendError) {
        var v = value
        // SAFETY: KVM reads the 8-byte register value through `addr` during the ioctl; `v` outlives it.
        try withUnsafeMutablePointer(to: &v) { (p) throws(BackendError) in
            var reg = kvm_one_reg(id: id, addr: UInt64(UInt(bitPattern: p)))
            try kvmIoctl(state.fd, CSKIFF_KVM_SET_ONE_REG, &reg, name)
        }
    }

    /// `KVM_GET_ONE_REG` of a 64-bit register.
    func getRegister(_ id: UInt64, _ name: StaticString) throws(BackendError) -> UInt64 {
        var v: UInt64 = 0
        // SAFETY: KVM writes the 8-byte register value through `addr` during the ioctl; `v` outlives it.
        try withUnsafeMutablePointer(to: &v) { (p) throws(BackendError) in
            var reg = kvm_one_reg(id: id, addr: UInt64(UInt(bitPattern: p)))
            try kvmIoctl(state.fd, CSKIFF_KVM_GET_ONE_REG, &reg, name)
        }
        return v
    }

    public func programCounter() -> UInt64 {
        (try? getRegister(OneRegID.pc, "KVM_GET_ONE_REG (PC)")) ?? 0
    }

    public func run() throws(BackendError) -> VCPUExit {
        if let e = state.enter() { return try state.decodeRunError(e, pcName: programCounterName, pc: programCounter) }
        let r = state.exit
        if Int32(r.exit_reason) == KVM_EXIT_MMIO {
            let m = r.mmio
            if HypercallMMIO.inWindow(m.phys_addr) {
                return HypercallMMIO.decode(address: m.phys_addr, length: Int(m.len), isWrite: m.is_write != 0,
                                            value: { state.mmioValue }, limit: hypercallLimit)
            }
        }
        if let exit = KVMRunState.decodeCommonExit(r, memorySize: memorySize, pcName: programCounterName, pc: programCounter) {
            return exit
        }
        return KVMRunState.unhandled(r, pcName: programCounterName, pc: programCounter())
    }
}
#endif
