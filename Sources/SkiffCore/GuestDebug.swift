// GuestDebug.swift: what a debugger asks of the backend (traps on breakpoints, single step, hardware breakpoints) and what it gets back (debug stops); the run loop's debugger hook.
//
// Pure data and protocols, like Registers.swift: the backend maps a
// `GuestDebugControl` onto its hypervisor (KVM: `KVM_SET_GUEST_DEBUG`,
// KVMVCPU+debug_ARCH.swift) and decodes its debug exits into `DebugEvent`s
// (`VCPUExit.debug`); the `--gdb` module (SkiffModules) drives both and is
// the run loop's `RunDebugger`.

/// A hardware breakpoint or watchpoint (x86 DR0-DR3; arm64 DBGBVR/DBGWVR).
public struct HardwareBreakpoint: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// Stop before executing the instruction at `address`.
        case execute
        /// Stop on a write to `[address, address + length)`.
        case write
        /// Stop on a read (arm64 only: x86 has no read-only watchpoints).
        case read
        /// Stop on a read or a write.
        case access
    }
    public var kind: Kind
    public var address: UInt64
    /// Bytes watched (1, 2, 4 or 8, aligned to itself); 1 for `.execute`.
    public var length: UInt64

    public init(kind: Kind, address: UInt64, length: UInt64) {
        self.kind = kind
        self.address = address
        self.length = length
    }
}

/// What the vCPU traps on while a debugger is attached.
/// The corresponding KVM ioctl is `KVM_SET_GUEST_DEBUG`.
public struct GuestDebugControl: Equatable, Sendable {
    /// Stop after one instruction.
    public var singleStep = false
    /// Stop on the architecture's breakpoint instruction (`int3`, `brk #0`) instead of letting the guest take it.
    public var softwareBreakpoints = false
    /// At most `DebugCapabilities.hardwareBreakpoints` executes and `.watchpoints` data kinds.
    public var hardware: [HardwareBreakpoint] = []

    public init(singleStep: Bool = false, softwareBreakpoints: Bool = false, hardware: [HardwareBreakpoint] = []) {
        self.singleStep = singleStep
        self.softwareBreakpoints = softwareBreakpoints
        self.hardware = hardware
    }

    /// Nothing to trap: the guest runs as without a debugger.
    public var isEmpty: Bool { !singleStep && !softwareBreakpoints && hardware.isEmpty }
}

/// What a backend's vCPU can do for a debugger.
public struct DebugCapabilities: Equatable, Sendable {
    /// Hardware execution breakpoints available.
    public var hardwareBreakpoints: Int
    /// Hardware watchpoints available.
    public var watchpoints: Int
    /// True if a watchpoint can trap reads alone (arm64), not only writes or any access (x86).
    public var readWatchpoints: Bool
    /// The breakpoint instruction written for a software breakpoint (empty: none).
    public var breakpointInstruction: [UInt8]
    /// Single step and software breakpoints work.
    public var stepping: Bool
    /// Why something is missing, for the user (one line), e.g. the PVM limits; nil when nothing is.
    public var limitation: String?

    public init(hardwareBreakpoints: Int = 0, watchpoints: Int = 0, readWatchpoints: Bool = false,
                breakpointInstruction: [UInt8] = [], stepping: Bool = false, limitation: String? = nil) {
        self.hardwareBreakpoints = hardwareBreakpoints
        self.watchpoints = watchpoints
        self.readWatchpoints = readWatchpoints
        self.breakpointInstruction = breakpointInstruction
        self.stepping = stepping
        self.limitation = limitation
    }

    /// A backend that cannot debug.
    public static let none = DebugCapabilities(limitation: "this backend cannot debug its guests")
}

/// Why the vCPU stopped for the debugger (the decoded debug exit).
public struct DebugEvent: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// One instruction was executed (single step).
        case step
        /// The breakpoint instruction at `programCounter` was reached (not executed).
        case softwareBreakpoint
        /// Hardware breakpoint `index` of `GuestDebugControl.hardware` was reached.
        case hardwareBreakpoint(index: Int)
        /// Watchpoint `index` of `GuestDebugControl.hardware` triggered; `address` is the access, when known.
        case watchpoint(index: Int, address: UInt64?)
        /// A debug exit the backend cannot attribute.
        case unknown
    }
    public var kind: Kind
    public var programCounter: UInt64

    public init(kind: Kind, programCounter: UInt64) {
        self.kind = kind
        self.programCounter = programCounter
    }
}

extension DebuggableCPU {
    public var debugCapabilities: DebugCapabilities { .none }
    public func setGuestDebug(_ control: GuestDebugControl) throws(BackendError) {
        if !control.isEmpty { throw BackendError("this backend cannot debug its guests") }
    }
}

/// What the run loop does after the debugger had the stopped guest.
public enum DebuggerVerdict: Equatable, Sendable {
    /// Run the guest on.
    case resume
    /// End the run now (the debugger killed the guest): the run fails with this one-line message.
    case kill(String)
}

/// A debugger attached to the run loop (`RunLoop.debugger`): it gets the stopped guest at the
/// start, at every debug exit and when it interrupted the run, and decides how the run goes on.
/// Faults and halts reach it through its module's `guestFaulted`/`guestHalted`.
public protocol RunDebugger: AnyObject {
    /// Before the guest's first instruction (the debugger may set breakpoints, step, or leave).
    func runStarting() -> DebuggerVerdict
    /// The vCPU stopped for the debugger (`VCPUExit.debug`).
    func debugStop(_ event: DebugEvent) -> DebuggerVerdict
    /// The run was interrupted and no stop reason applied: nil if the debugger did not ask for it
    /// (the run resumes), else what it decided after having the guest stopped.
    func interrupted() -> DebuggerVerdict?
}
