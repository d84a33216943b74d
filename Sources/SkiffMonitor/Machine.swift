// Machine.swift: the VM of one run over KVM, as modules see it (ModuleHost): memory, boot tables, ring kick, vCPU 0.
//
// Architecture-independent; what differs per architecture (the boot tables, the
// kick address, the trap frame) is `ArchGlue` in Monitor+ARCH.swift.

import SkiffCore
import SkiffBoot
import SkiffKVM
#if arch(x86_64)
import SkiffArchX86_64
#elseif arch(arm64)
import SkiffArchAArch64
#endif

final class Machine: ModuleHost {
    let memory: GuestMemory
    let vm: KVMVirtualMachine
    let boot: any BootProtocol
    let ignoredPorts: [UInt32]
    let cpuCycleFrequency: UInt64
    private var vcpu: KVMVCPU?

    /// Creates the VM over `memory` and writes the architecture's boot tables.
    init(memory: GuestMemory, boot: any BootProtocol, ignoredPorts: [UInt32]) throws(MonitorError) {
        self.memory = memory
        self.boot = boot
        self.ignoredPorts = ignoredPorts
        do {
            vm = try KVMVirtualMachine(memory: memory)
            cpuCycleFrequency = try vm.cycleCounterFrequency()
        } catch { throw .backend(error) }
        do { try ArchGlue.bootTables(allocationSize: memory.allocationSize).write(to: memory) } catch {
            throw .setup("Could not write the boot page tables: \(error.message)")
        }
    }

    func registerRingKick(eventFD: Int32) -> Bool {
        guard vm.supportsDoorbells else { return false }
        return (try? vm.registerDoorbell(ArchGlue.ringKick, eventFD: eventFD)) != nil
    }

    func kickVCPU() { vcpu?.kick() }

    var stopRequested: Bool { pendingTerminationSignal() != nil }

    var debugCPU: (any DebuggableCPU)? { vcpu }

    func faultRegisters(cookie: GuestAddress, halt: CPURegisters) -> CPURegisters? {
        ArchGlue.faultRegisters(cookie: cookie, in: memory, halt: halt)
    }

    /// vCPU 0 in the hvt boot state, made the target of termination signals.
    func makeVCPU(hypercallLimit: UInt32?) throws(MonitorError) -> KVMVCPU {
        let v: KVMVCPU
        do { v = try KVMVCPU(vm: vm, state: BootCPUState(entry: boot.entry, guestMemSize: boot.memorySize.guest)) } catch {
            throw .backend(error)
        }
        v.ignoredPorts = ignoredPorts
        if let l = hypercallLimit { v.hypercallLimit = l }
        v.becomeSignalTarget()
        vcpu = v
        return v
    }

    static func trapFrame(_ cookie: GuestAddress?, in memory: GuestMemory) -> [UInt64]? {
        ArchGlue.trapFrame(cookie, in: memory)
    }
}
