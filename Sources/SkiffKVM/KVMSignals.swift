// KVMSignals.swift: SIGINT/SIGTERM end a running guest cleanly (immediate_exit + EINTR); SIGUSR1 kicks the vCPU out of KVM_RUN.

#if os(Linux)
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSkiffKVM

// SAFETY: both are written by set-up code and signal handlers on the vCPU's
// thread and read there; `signalTargetRun` points at a live kvm_run mapping
// (KVMRunState clears it before unmapping).
/// The pending termination signal, set by the signal handler (0 = none).
nonisolated(unsafe) var pendingSignalNumber: Int32 = 0
/// The running vCPU's `kvm_run`, so the signal handler can set `immediate_exit`.
nonisolated(unsafe) var signalTargetRun: UnsafeMutablePointer<kvm_run>? = nil

/// Installs SIGINT/SIGTERM handlers that stop `KVM_RUN` (via `immediate_exit`) and record the signal.
public func installTerminationHandlers() {
    var sa = sigaction()
    sa.__sigaction_handler.sa_handler = { sig in
        pendingSignalNumber = sig
        signalTargetRun?.pointee.immediate_exit = 1
    }
    sigemptyset(&sa.sa_mask)
    sa.sa_flags = 0  // no SA_RESTART: KVM_RUN must return EINTR
    sigaction(SIGINT, &sa, nil)
    sigaction(SIGTERM, &sa, nil)
    // SIGUSR1 only interrupts KVM_RUN (sent by `KVMVCPU.kick` from I/O threads).
    var kick = sigaction()
    kick.__sigaction_handler.sa_handler = { _ in signalTargetRun?.pointee.immediate_exit = 1 }
    sigemptyset(&kick.sa_mask)
    kick.sa_flags = 0
    sigaction(SIGUSR1, &kick, nil)
}

/// The termination signal received so far, if any.
public func pendingTerminationSignal() -> Int32? { pendingSignalNumber == 0 ? nil : pendingSignalNumber }

/// The thread running a vCPU, so I/O threads can interrupt its `KVM_RUN`.
final class VCPUThread {
    private var owner = pthread_self()

    /// Records the calling thread as the vCPU's.
    func claim() { owner = pthread_self() }

    /// Interrupts the owner's `KVM_RUN` (the caller set `immediate_exit` first).
    func kick() { pthread_kill(owner, SIGUSR1) }
}
#endif
