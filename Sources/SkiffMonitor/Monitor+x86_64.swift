// Monitor+x86_64.swift: what the monitor's Machine needs from x86_64: the low tables, the ring kick port 0x600, the abort trap frame.

#if arch(x86_64)
import SkiffCore
import SkiffBoot
import SkiffKVM
import SkiffModules
import SkiffArchX86_64

enum ArchGlue {
    /// GDT and identity page tables at 0x1000–0x8FFF (spec §6.1).
    static func bootTables(allocationSize: UInt64) -> SetupImage { LowTables.image(allocationSize: allocationSize) }

    /// The net ring's kick: 4-byte OUTs to port 0x600 (spec §8).
    static let ringKick = UInt64(HypercallPorts.ringKick)

    /// The PVH machine (PVHLayout): the in-kernel irqchip before the vCPU.
    static func prepare(_ vm: KVMVirtualMachine, for convention: EntryConvention) throws(MonitorError) {
        guard case .pvh = convention else { throw .setup("this boot protocol is not supported on x86_64") }
        do { try vm.createInterruptController() } catch { throw .backend(error) }
    }

    /// vCPU 0 in the PVH entry state, told the TSC rate by CPUID leaf 0x15.
    static func makeVCPU(_ vm: KVMVirtualMachine, for convention: EntryConvention) throws(BackendError) -> KVMVCPU {
        guard case .pvh(let entry, let startInfo) = convention else { throw BackendError("this boot protocol is not supported on x86_64") }
        return try KVMVCPU(vm: vm, pvh: .pvh(entry: entry, startInfo: startInfo), tscHz: try vm.cycleCounterFrequency())
    }

    /// The 16550, the CMOS clock and the exit port at PVHLayout's ports.
    static func platformDevices(for convention: EntryConvention) -> PlatformDevices {
        var d = PlatformDevices()
        let uart = Serial16550()
        d.ports.add(uart, at: UInt64(PVHLayout.com1), size: UInt64(PVHLayout.com1Size))
        d.ports.add(CMOSClock(), at: UInt64(PVHLayout.cmosIndex), size: UInt64(PVHLayout.cmosSize))
        d.ports.add(DebugExit(), at: UInt64(PVHLayout.debugExit), size: 4)
        d.console = uart.output
        return d
    }

    /// PVH's machine has port devices only: no boot protocol on x86_64 has device slots.
    static func attach(_ slots: [DeviceSlot], to devices: inout PlatformDevices, vm: KVMVirtualMachine, ram: GuestRAM,
                       modules: ModuleSet, kick: @escaping () -> Void) throws(MonitorError) {
        if let slot = slots.first { throw .setup("device '\(slot.name)': this boot protocol has no devices on x86_64") }
    }

    /// The trap frame an aborting guest points at (cr2, ec, rip, cs, rflags, rsp, ss), if readable.
    static func trapFrame(_ cookie: GuestAddress?, in memory: GuestMemory) -> [UInt64]? {
        guard let c = cookie else { return nil }
        return (0..<7).compactMap { i in try? memory.load(UInt64.self, at: GuestAddress(c.rawValue + 8 * UInt64(i))) }
    }

    /// The registers at the trap: those at the HALT with the frame's rip, cs, rflags, rsp, ss (and cr2).
    static func faultRegisters(cookie: GuestAddress, in memory: GuestMemory, halt: CPURegisters) -> CPURegisters? {
        guard case .x86_64(let h) = halt, let f = TrapFrame.read(at: cookie, in: memory) else { return nil }
        return .x86_64(f.registers(over: h))
    }
}
#endif
