// VirtualCPU.swift: the backend protocol: a vCPU that runs until an exit, decoded into `VCPUExit`.

/// Why `VirtualCPU.run()` returned, decoded by the backend from its
/// hypervisor's exit structure. The monitor core dispatches on these only.
public enum VCPUExit: Equatable, Sendable {
    /// A well-formed hypercall: number and 32-bit argument address.
    case hypercall(number: UInt32, argument: GuestAddress)
    /// An I/O port access that is not a hypercall (x86): wrong port or size, or a read.
    case invalidPortAccess(port: UInt32, size: Int, isWrite: Bool)
    /// An MMIO access in the hypercall window that is malformed (aarch64).
    case invalidMMIOAccess(address: UInt64, length: Int, isWrite: Bool)
    /// A guest access to RAM the host mapped read-only (PVM reports these as MMIO
    /// exits, hardware KVM as `KVM_RUN` EFAULT).
    case protectionFault(address: UInt64?)
    /// An MMIO access outside guest RAM and outside any emulated device.
    case mmio(address: UInt64, isWrite: Bool)
    /// The guest executed HLT (the hvt ABI has no use for it).
    case hlt
    /// Triple fault.
    case shutdown
    case failedEntry(reason: UInt64)
    case internalError(suberror: UInt32)
    /// `KVM_RUN` returned early because of a signal.
    case interrupted
    /// An access to a port the configuration ignores (benchmarks).
    case ignored
    /// Anything else, with the hypervisor's exit code.
    case unhandled(reason: UInt32)
}

/// Errors from the hypervisor interface itself (not the guest).
public struct BackendError: Error, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// A virtual CPU of some backend (KVM today; FreeBSD vmm, Hypervisor.framework later).
public protocol VirtualCPU: AnyObject {
    /// Runs the guest until the next exit that needs the monitor.
    func run() throws(BackendError) -> VCPUExit
    /// The guest's program counter, for diagnostics (`rip=` / `pc=`).
    func programCounter() -> UInt64
    /// Name of the program counter register in messages ("rip" or "pc").
    var programCounterName: String { get }
}
