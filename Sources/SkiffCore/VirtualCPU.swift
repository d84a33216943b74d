// VirtualCPU.swift: the backend protocol: a vCPU that runs until an exit, decoded into `VCPUExit`.

/// Why `VirtualCPU.run()` returned, decoded by the backend from its
/// hypervisor's exit structure. The monitor core dispatches on these only;
/// anything fatal arrives as a `GuestFault` the backend has already described.
public enum VCPUExit: Equatable, Sendable {
    /// A well-formed hypercall: number and 32-bit argument address.
    case hypercall(number: UInt32, argument: GuestAddress)
    /// An I/O port access that is not a hypercall (x86): wrong port or size, or a read.
    case invalidPortAccess(port: UInt32, size: Int, isWrite: Bool)
    /// An MMIO access in the hypercall window that is malformed (aarch64); the length is
    /// reported when it (or the direction) was the fault.
    case invalidMMIOAccess(address: UInt64, length: Int?, isWrite: Bool)
    /// The run returned early (a signal, a kick from an I/O thread).
    case interrupted
    /// An access to a port the configuration ignores (benchmarks).
    case ignored
    /// An MMIO access outside guest RAM and outside the hypercall window: for the emulated devices
    /// (MMIOBus), when the boot protocol has any.
    case mmio(MMIOAccess)
    /// A port I/O access (x86) for the emulated devices, when the boot protocol has any (`address` = the port).
    case port(MMIOAccess)
    /// A power request through the firmware interface (PSCI SYSTEM_OFF/RESET).
    case systemEvent(SystemEvent)
    /// The vCPU stopped for the debugger (a breakpoint, a watchpoint, a single step; GuestDebug.swift).
    case debug(DebugEvent)
    /// The guest cannot continue.
    case fault(GuestFault)
}

/// A guest state the run cannot continue from, classified for modules (core
/// dumps, debuggers) and described by the backend in its own terms.
public struct GuestFault: Error, Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// A write to memory the host mapped read-only, or another host/guest translation failure.
        case protection
        /// An MMIO access outside guest RAM and outside any emulated device.
        case unexpectedMMIO
        /// The guest stopped its CPU (x86 HLT; the hvt ABI has no use for it).
        case halted
        /// Triple fault / system reset request.
        case shutdown
        /// The hypervisor refused to enter the guest.
        case entryFailure
        /// The hypervisor could not emulate what the guest did.
        case internalError
        /// Any other exit the backend does not handle.
        case unhandled
    }
    public var kind: Kind
    /// One line, e.g. `KVM: host/guest translation fault: rip=0x100004`.
    public var message: String
    /// The program counter when it was read (nil if it could not be).
    public var programCounter: UInt64?

    public init(kind: Kind, message: String, programCounter: UInt64? = nil) {
        self.kind = kind
        self.message = message
        self.programCounter = programCounter
    }
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
    /// The value of the MMIO read the last `run()` returned (`.mmio`), delivered at the next entry.
    func completeMMIORead(_ value: UInt64)
    /// The value of the port read (IN) the last `run()` returned (`.port`), delivered at the next entry.
    func completePortRead(_ value: UInt64)
}

extension VirtualCPU {
    /// Backends whose guests make no MMIO reads the monitor serves.
    public func completeMMIORead(_ value: UInt64) {}
    public func completePortRead(_ value: UInt64) {}
}
