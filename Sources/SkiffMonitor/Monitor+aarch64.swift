// Monitor+aarch64.swift: the monitor's aarch64 × KVM glue: VM and page tables, ring kick at MMIO 0x100000100, the vCPU.

#if arch(arm64)
import SkiffCore
import SkiffBoot
import SkiffArchAArch64
import SkiffKVM

/// The VM of one run, as modules see it (`ModuleHost`).
final class Machine: ModuleHost {
    let memory: GuestMemory
    let vm: KVMVirtualMachine
    let boot: any BootProtocol
    let ignoredPorts: [UInt32]
    let cpuCycleFrequency: UInt64
    private var vcpu: KVMVCPU?

    /// Creates the VM over `memory` and writes the aarch64 page tables (spec §7.2).
    init(memory: GuestMemory, boot: any BootProtocol, ignoredPorts: [UInt32]) throws(MonitorError) {
        self.memory = memory
        self.boot = boot
        self.ignoredPorts = ignoredPorts
        do {
            vm = try KVMVirtualMachine(memory: memory)
            cpuCycleFrequency = try vm.cycleCounterFrequency()
        } catch { throw .backend(error) }
        do { try PageTables.image(allocationSize: memory.allocationSize).write(to: memory) } catch {
            throw .setup("Could not write the aarch64 page tables")
        }
    }

    func registerRingKick(eventFD: Int32) -> Bool {
        guard vm.supportsDoorbells else { return false }
        return (try? vm.registerDoorbell(HypercallMMIO.ringKick, eventFD: eventFD)) != nil
    }

    func kickVCPU() { vcpu?.kick() }

    /// vCPU 0 in the hvt boot state (spec §7.3), made the target of termination signals.
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

    /// aarch64 hvt guests abort with cookie 0 (no trap frame is defined for them).
    static func trapFrame(_ cookie: GuestAddress?, in memory: GuestMemory) -> [UInt64]? { nil }
}
#endif
