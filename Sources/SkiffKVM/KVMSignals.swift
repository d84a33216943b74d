// KVMSignals.swift: SIGINT/SIGTERM end a running guest cleanly (immediate_exit + EINTR); SIGUSR1 kicks the vCPU out of KVM_RUN.

import SkiffHost
import CSkiffKVM
import SkiffHost

// SAFETY: both are written by set-up code and signal handlers on the vCPU's
// thread and read there; `signalTargetRun` points at a live kvm_run mapping
// (KVMRunState clears it before unmapping).
/// The pending termination signal, set by the signal handler (0 = none).
nonisolated(unsafe) var pendingSignalNumber: Int32 = 0
/// The running vCPU's `kvm_run`, so the signal handler can set `immediate_exit`.
nonisolated(unsafe) var signalTargetRun: UnsafeMutablePointer<kvm_run>? = nil

/// Installs SIGINT/SIGTERM handlers that stop `KVM_RUN` (via `immediate_exit`) and record the signal.
public func installTerminationHandlers() {
    let terminate: @convention(c) (Int32) -> Void = { sig in
        pendingSignalNumber = sig
        // SAFETY: signalTargetRun is nil or the live mapping (cleared before munmap); one byte, async-signal-safe.
        signalTargetRun?.pointee.immediate_exit = 1
    }
    // No SA_RESTART: KVM_RUN must return EINTR.
    cskiff_set_signal(SIGINT, terminate, 0, nil)
    cskiff_set_signal(SIGTERM, terminate, 0, nil)
    // SIGUSR1 only interrupts KVM_RUN (sent by `KVMVCPU.kick` from I/O threads).
    // SAFETY: as above.
    cskiff_set_signal(SIGUSR1, { _ in signalTargetRun?.pointee.immediate_exit = 1 }, 0, nil)
}

/// The termination signal received so far, if any.
public func pendingTerminationSignal() -> Int32? { pendingSignalNumber == 0 ? nil : pendingSignalNumber }

/// The thread running a vCPU, so I/O threads can interrupt its `KVM_RUN`.
final class VCPUThread {
    private var owner = HostThread.current

    /// Records the calling thread as the vCPU's.
    func claim() { owner = HostThread.current }

    /// Interrupts the owner's `KVM_RUN` (the caller set `immediate_exit` first).
    func kick() { owner.signal(SIGUSR1) }
}
