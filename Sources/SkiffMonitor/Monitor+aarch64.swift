// Monitor+aarch64.swift: the monitor's aarch64 × KVM glue: not there yet, so hvt images are refused with one line before any VM exists.

#if arch(arm64)
import SkiffCore
import SkiffBoot

/// The VM of one run. On aarch64 the KVM vCPU for hvt guests does not exist yet:
/// creating the machine fails with one line (exit status 1).
final class Machine: ModuleHost {
    let memory: GuestMemory
    let cpuCycleFrequency: UInt64 = 0

    init(memory: GuestMemory, boot: any BootProtocol, ignoredPorts: [UInt32]) throws(MonitorError) {
        self.memory = memory
        throw .setup("hvt guests are not supported on aarch64 yet (this tender has no aarch64 KVM vCPU)")
    }

    func registerRingKick(eventFD: Int32) -> Bool { false }
    func kickVCPU() {}

    func makeVCPU(hypercallLimit: UInt32?) throws(MonitorError) -> any VirtualCPU {
        throw .setup("hvt guests are not supported on aarch64 yet (this tender has no aarch64 KVM vCPU)")
    }

    static func trapFrame(_ cookie: GuestAddress?, in memory: GuestMemory) -> [UInt64]? { nil }
}
#endif
