// Monitor+x86_64.swift: the monitor's x86_64 × KVM glue: VM and low tables, ring kick on port 0x600, the vCPU, the abort trap frame.

#if arch(x86_64)
import SkiffCore
import SkiffBoot
import SkiffArchX86_64
import SkiffKVM

/// The VM of one run, as modules see it (`ModuleHost`).
final class Machine: ModuleHost {
    let memory: GuestMemory
    let vm: KVMVirtualMachine
    let boot: any BootProtocol
    let ignoredPorts: [UInt32]
    let cpuCycleFrequency: UInt64
    private var vcpu: KVMVCPU?

    /// Creates the VM over `memory` and writes the x86_64 low tables (GDT, page tables).
    init(memory: GuestMemory, boot: any BootProtocol, ignoredPorts: [UInt32]) throws(MonitorError) {
        self.memory = memory
        self.boot = boot
        self.ignoredPorts = ignoredPorts
        do {
            vm = try KVMVirtualMachine(memory: memory)
            cpuCycleFrequency = try vm.cycleCounterFrequency()
        } catch { throw .backend(error) }
        try? LowTables.image(allocationSize: memory.allocationSize).write(to: memory)
    }

    func registerRingKick(eventFD: Int32) -> Bool {
        guard vm.supportsDoorbells else { return false }
        return (try? vm.registerDoorbell(UInt64(HypercallPorts.ringKick), eventFD: eventFD)) != nil
    }

    func kickVCPU() { vcpu?.kick() }

    var stopRequested: Bool { pendingTerminationSignal() != nil }

    /// vCPU 0 in the hvt boot state, made the target of termination signals.
    func makeVCPU(hypercallLimit: UInt32?) throws(MonitorError) -> KVMVCPU {
        let v: KVMVCPU
        do { v = try vm.makeVCPU(state: BootCPUState(entry: boot.entry, guestMemSize: boot.memorySize.guest)) } catch {
            throw .backend(error)
        }
        v.ignoredPorts = ignoredPorts
        if let l = hypercallLimit { v.hypercallLimit = l }
        v.becomeSignalTarget()
        vcpu = v
        return v
    }

    /// The x86_64 trap frame an aborting guest points at (cr2, ec, rip, cs, rflags, rsp, ss), if readable.
    static func trapFrame(_ cookie: GuestAddress?, in memory: GuestMemory) -> [UInt64]? {
        guard let c = cookie else { return nil }
        return (0..<7).compactMap { i in try? memory.load(UInt64.self, at: GuestAddress(c.rawValue + 8 * UInt64(i))) }
    }
}
#endif
