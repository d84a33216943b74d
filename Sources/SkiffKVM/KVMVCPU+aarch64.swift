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

    /// Creates the in-kernel GICv3 (KVM's vGIC) with its distributor and redistributor at the given
    /// addresses and `interrupts` interrupt lines; `finishInterruptController` after the vCPUs exist.
    public func createInterruptController(distributor: UInt64, redistributor: UInt64, interrupts: UInt32) throws(BackendError) {
        var dev = kvm_create_device()
        dev.type = KVM_DEV_TYPE_ARM_VGIC_V3.rawValue
        try kvmIoctl(vmFD, CSKIFF_KVM_CREATE_DEVICE, &dev, "KVM_CREATE_DEVICE (GICv3)")
        gicFD = Int32(bitPattern: dev.fd)
        var dist = distributor, redist = redistributor, count = interrupts
        try setGICAttribute(group: UInt32(KVM_DEV_ARM_VGIC_GRP_ADDR), attr: UInt64(KVM_VGIC_V3_ADDR_TYPE_DIST), &dist, "distributor")
        try setGICAttribute(group: UInt32(KVM_DEV_ARM_VGIC_GRP_ADDR), attr: UInt64(KVM_VGIC_V3_ADDR_TYPE_REDIST), &redist, "redistributor")
        try setGICAttribute(group: UInt32(KVM_DEV_ARM_VGIC_GRP_NR_IRQS), attr: 0, &count, "interrupts")
    }

    /// Sets shared peripheral interrupt `spi` (GIC INTID 32 + spi) to `raised` (KVM_IRQ_LINE, level-sensitive).
    /// A failure cannot be reported to the guest; the device stays quiet and the guest times out.
    public func setInterruptLine(spi: UInt32, raised: Bool) {
        var line = kvm_irq_level()
        line.irq = UInt32(KVM_ARM_IRQ_TYPE_SPI) << UInt32(KVM_ARM_IRQ_TYPE_SHIFT) | (32 + spi)
        line.level = raised ? 1 : 0
        _ = try? kvmIoctl(vmFD, CSKIFF_KVM_IRQ_LINE, &line, "KVM_IRQ_LINE")
    }

    /// KVM_DEV_ARM_VGIC_CTRL_INIT: after every vCPU is created, before the first run.
    public func finishInterruptController() throws(BackendError) {
        var none: UInt64 = 0
        try setGICAttribute(group: UInt32(KVM_DEV_ARM_VGIC_GRP_CTRL), attr: UInt64(KVM_DEV_ARM_VGIC_CTRL_INIT), &none, "init")
    }

    private func setGICAttribute<T>(group: UInt32, attr: UInt64, _ value: inout T, _ what: StaticString) throws(BackendError) {
        try withUnsafeMutablePointer(to: &value) { (p) throws(BackendError) in
            // SAFETY: `addr` points at `value`, alive for the ioctl; KVM reads sizeof(T) bytes as the attribute defines.
            var a = kvm_device_attr(flags: 0, group: group, attr: attr, addr: UInt64(UInt(bitPattern: p)))
            try kvmIoctl(gicFD, CSKIFF_KVM_SET_DEVICE_ATTR, &a, "KVM_SET_DEVICE_ATTR (GICv3)")
        }
    }

    /// Registers `eventFD` for 4-byte stores to the MMIO address `address` (spec §11: 0x100000100).
    public func registerDoorbell(_ address: UInt64, eventFD: Int32) throws(BackendError) {
        try registerIOEvent(address: address, flags: 0, eventFD: eventFD)
    }

}

/// vCPU 0 of an aarch64 KVM VM.
public final class KVMVCPU: KVMVCPUBase, VirtualCPU {
    public let programCounterName = "pc"
    /// The debugger's traps (KVMVCPU+debug_aarch64.swift).
    var debug = GuestDebugControl()
    /// The MMIO twins of the ignored bench ports (HypercallMMIO.address(ofPort:)), mapped once.
    private var ignoredAddresses: [UInt64] = []
    public override var ignoredPorts: [UInt32] {
        didSet { ignoredAddresses = ignoredPorts.map { HypercallMMIO.address(ofPort: $0) } }
    }

    /// True for the Linux-Image machine: MMIO outside RAM goes to the device bus, no hypercall window.
    private var devicesOnBus = false

    /// Creates vCPU 0 of `vm` in the hvt boot state `boot`.
    public init(vm: KVMVirtualMachine, state boot: BootCPUState) throws(BackendError) {
        try super.init(vm: vm)
        // No extra features: no PSCI 0.2, PMU, SVE or pointer authentication (spec §7.3).
        try initialize(vm: vm, features: 0)
        let cpacr = try getRegister(OneRegID.cpacrEL1, "KVM_GET_ONE_REG (CPACR_EL1)")
        try setRegister(OneRegID.cpacrEL1, BootCPUState.cpacr(from: cpacr), "KVM_SET_ONE_REG (CPACR_EL1)")
        for w in boot.registerWrites { try setRegister(w.id, w.value, "KVM_SET_ONE_REG") }
    }

    /// Creates vCPU 0 of `vm` for the arm64 Linux boot protocol: KVM's reset state (EL1h, MMU and
    /// caches off) with PSCI 0.2+ in the kernel, then PC = `entry`, x0 = `deviceTree`, x1-x3 = 0 and
    /// PSTATE with D, A, I, F masked (booting.rst).
    public init(vm: KVMVirtualMachine, linuxEntry entry: UInt64, deviceTree: UInt64) throws(BackendError) {
        try super.init(vm: vm)
        try initialize(vm: vm, features: 1 << UInt32(KVM_ARM_VCPU_PSCI_0_2))
        devicesOnBus = true
        for w in LinuxBootRegisters(entry: entry, deviceTree: deviceTree).registerWrites {
            try setRegister(w.id, w.value, "KVM_SET_ONE_REG")
        }
    }

    private func initialize(vm: KVMVirtualMachine, features: UInt32) throws(BackendError) {
        var initArg = kvm_vcpu_init()
        try kvmIoctl(vm.vmFD, CSKIFF_KVM_ARM_PREFERRED_TARGET, &initArg, "KVM_ARM_PREFERRED_TARGET")
        initArg.features = (features, 0, 0, 0, 0, 0, 0)
        try kvmIoctl(state.fd, CSKIFF_KVM_ARM_VCPU_INIT, &initArg, "KVM_ARM_VCPU_INIT")
    }

    public func completeMMIORead(_ value: UInt64) {
        // SAFETY: the vCPU thread, between KVM_RUN calls: KVM reads the data at the next entry.
        cskiff_run_set_mmio_value(state.run, value)
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
        if Int32(r.exit_reason) == KVM_EXIT_DEBUG { return debugExit(r) }
        if Int32(r.exit_reason) == KVM_EXIT_MMIO, devicesOnBus {
            let m = r.mmio
            let inRAM = m.phys_addr >= memoryBase && m.phys_addr - memoryBase < memorySize
            if !inRAM {
                return .mmio(MMIOAccess(address: m.phys_addr, length: Int(m.len), isWrite: m.is_write != 0,
                                        value: m.is_write != 0 ? cskiff_run_mmio_value(state.run) : 0))
            }
        } else if Int32(r.exit_reason) == KVM_EXIT_SYSTEM_EVENT {
            switch r.system_event.type {
            case UInt32(KVM_SYSTEM_EVENT_SHUTDOWN): return .systemEvent(.shutdown)
            case UInt32(KVM_SYSTEM_EVENT_RESET): return .systemEvent(.reset)
            case UInt32(KVM_SYSTEM_EVENT_CRASH): return .systemEvent(.crash)
            default: break
            }
        } else if Int32(r.exit_reason) == KVM_EXIT_MMIO {
            let m = r.mmio
            if HypercallMMIO.inWindow(m.phys_addr) {
                return HypercallMMIO.decode(address: m.phys_addr, length: Int(m.len), isWrite: m.is_write != 0,
                                            value: { state.mmioValue }, limit: hypercallLimit,
                                            ignored: ignoredAddresses)
            }
        }
        if let exit = KVMRunState.decodeCommonExit(r, memoryBase: memoryBase, memorySize: memorySize,
                                                   pcName: programCounterName, pc: programCounter) {
            return exit
        }
        return KVMRunState.unhandled(r, pcName: programCounterName, pc: programCounter())
    }
}
#endif
