// Machine.swift: the VM of one run over KVM, as modules see it (ModuleHost): memory, boot tables, ring kick, vCPU 0.
//
// Architecture-independent; what differs per architecture (the boot tables, the
// kick address, the trap frame) is `ArchGlue` in Monitor+ARCH.swift.

import SkiffCore
import SkiffBoot
import SkiffKVM
import SkiffModules
#if arch(x86_64)
import SkiffArchX86_64
#elseif arch(arm64)
import SkiffArchAArch64
#endif

/// What the boot protocol's machine emulates besides the vCPU (nothing for hvt).
struct PlatformDevices {
    var bus = MMIOBus()
    /// Port-I/O devices (x86).
    var ports = MMIOBus()
    /// The UART's output, flushed when the run ends.
    var console: ConsoleOutput?
    /// virtio-net devices: their receive threads stop when the run ends.
    var nets: [VirtioNet] = []

    /// The first fatal error of a receive thread.
    var fault: DeviceFault? {
        for n in nets where n.hasFailed { return n.fatal }
        return nil
    }

    /// Stops the receive threads and flushes the console; the first error.
    func finish() -> DeviceFault? {
        var first: DeviceFault? = nil
        for n in nets { if let f = n.stop(), first == nil { first = f } }
        do { try console?.flush() } catch { if first == nil { first = error } }
        return first
    }
}

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
            vm = try KVMVirtualMachine(memory: memory, physicalBase: boot.convention.ramBase)
            cpuCycleFrequency = try vm.cycleCounterFrequency()
        } catch { throw .backend(error) }
        guard boot.convention == .hvt else {
            try ArchGlue.prepare(vm, for: boot.convention)
            return
        }
        do { try ArchGlue.bootTables(allocationSize: memory.allocationSize).write(to: memory) } catch {
            throw .setup("Could not write the boot page tables: \(error.message)")
        }
    }

    /// The devices the boot protocol's machine emulates (none for hvt): the platform's, then the
    /// architecture's devices for the protocol's slots over the modules' opened files and taps.
    func platformDevices(modules: ModuleSet) throws(MonitorError) -> PlatformDevices {
        guard boot.convention != .hvt else { return PlatformDevices() }
        var devices = ArchGlue.platformDevices(for: boot.convention)
        try ArchGlue.attach(boot.deviceSlots, to: &devices, vm: vm, ram: GuestRAM(memory: memory, base: boot.convention.ramBase),
                            modules: modules, kick: { self.kickVCPU() })   // the Machine outlives the run (Monitor.run)
        return devices
    }

    func registerRingKick(eventFD: Int32) -> Bool {
        guard vm.supportsDoorbells else { return false }
        return (try? vm.registerDoorbell(ArchGlue.ringKick, eventFD: eventFD)) != nil
    }

    func kickVCPU() { vcpu?.kick() }

    var stopRequested: Bool { pendingTerminationSignal() != nil }

    var debugCPU: (any DebuggableCPU)? { vcpu }

    var memoryBase: UInt64 { boot.convention.ramBase }

    func faultRegisters(cookie: GuestAddress, halt: CPURegisters) -> CPURegisters? {
        ArchGlue.faultRegisters(cookie: cookie, in: memory, halt: halt)
    }

    /// vCPU 0 in the hvt boot state, made the target of termination signals.
    func makeVCPU(hypercallLimit: UInt32?) throws(MonitorError) -> KVMVCPU {
        let v: KVMVCPU
        do {
            if boot.convention == .hvt {
                v = try KVMVCPU(vm: vm, state: BootCPUState(entry: boot.entry, guestMemSize: boot.memorySize.guest))
            } else {
                v = try ArchGlue.makeVCPU(vm, for: boot.convention)
            }
        } catch { throw .backend(error) }
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
