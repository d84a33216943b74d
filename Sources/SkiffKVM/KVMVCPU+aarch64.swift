// KVMVCPU+aarch64.swift: the KVM backend's aarch64 part: VM-wide set-up only so far; the hvt vCPU (MMIO hypercalls) is the next step.

#if arch(arm64)
import SkiffCore

extension KVMVirtualMachine {
    /// arm64 needs no VM-wide set-up before the memory slot is registered.
    func prepareArchitecture() throws(BackendError) {}
}
#endif
