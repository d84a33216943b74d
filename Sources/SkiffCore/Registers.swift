// Registers.swift: a vCPU's general registers per architecture, for core dumps and debuggers (the backend reads them, SkiffDebug encodes them).
//
// Pure data: no backend, no layout of any hypervisor's structs. The backend
// fills these from its own register interface (KVM: KVMVCPU+ARCH.swift);
// core files (NT_PRSTATUS) and the gdb stub (its register file) are
// encodings of them.

/// The x86_64 state a debugger shows: the general registers, segments, bases and control registers.
public struct X86_64Registers: Equatable, Sendable {
    public var rax: UInt64 = 0, rbx: UInt64 = 0, rcx: UInt64 = 0, rdx: UInt64 = 0
    public var rsi: UInt64 = 0, rdi: UInt64 = 0, rbp: UInt64 = 0, rsp: UInt64 = 0
    public var r8: UInt64 = 0, r9: UInt64 = 0, r10: UInt64 = 0, r11: UInt64 = 0
    public var r12: UInt64 = 0, r13: UInt64 = 0, r14: UInt64 = 0, r15: UInt64 = 0
    public var rip: UInt64 = 0, rflags: UInt64 = 0
    /// Segment selectors.
    public var cs: UInt16 = 0, ss: UInt16 = 0, ds: UInt16 = 0, es: UInt16 = 0, fs: UInt16 = 0, gs: UInt16 = 0
    public var fsBase: UInt64 = 0, gsBase: UInt64 = 0
    public var cr0: UInt64 = 0, cr2: UInt64 = 0, cr3: UInt64 = 0, cr4: UInt64 = 0, efer: UInt64 = 0

    public init() {}
}

/// The aarch64 state a debugger shows: x0–x30, the current stack pointer, pc and PSTATE.
public struct AArch64Registers: Equatable, Sendable {
    /// x0–x30 (always 31 entries).
    public private(set) var x: [UInt64] = [UInt64](repeating: 0, count: 31)
    /// The stack pointer in use (SP_EL0 or SP_EL1, by PSTATE.SPSel).
    public var sp: UInt64 = 0
    public var pc: UInt64 = 0
    public var pstate: UInt64 = 0

    public init() {}

    /// x`n`, or 0 for n outside 0...30.
    public func x(_ n: Int) -> UInt64 { n >= 0 && n < 31 ? x[n] : 0 }
    /// Sets x`n` (ignored for n outside 0...30).
    public mutating func setX(_ n: Int, _ value: UInt64) { if n >= 0 && n < 31 { x[n] = value } }
}

/// One vCPU's registers, in the terms of the architecture it runs.
public enum CPURegisters: Equatable, Sendable {
    case x86_64(X86_64Registers)
    case aarch64(AArch64Registers)

    public var architecture: GuestArchitecture {
        switch self {
        case .x86_64: return .x86_64
        case .aarch64: return .aarch64
        }
    }

    public var programCounter: UInt64 {
        switch self {
        case .x86_64(let r): return r.rip
        case .aarch64(let r): return r.pc
        }
    }

    public var stackPointer: UInt64 {
        switch self {
        case .x86_64(let r): return r.rsp
        case .aarch64(let r): return r.sp
        }
    }
}

/// A vCPU whose state core dumps and debuggers can read and change (the backend's `Debugging` side).
public protocol DebuggableCPU: AnyObject {
    /// The registers now (the corresponding KVM ioctls: `KVM_GET_REGS`/`KVM_GET_SREGS`, `KVM_GET_ONE_REG`).
    func readRegisters() throws(BackendError) -> CPURegisters
    /// Changes the registers (general registers, pc, flags; the rest as the backend can).
    func writeRegisters(_ registers: CPURegisters) throws(BackendError)
    /// What it can do for a debugger (GuestDebug.swift; default: nothing).
    var debugCapabilities: DebugCapabilities { get }
    /// What to trap on from the next entry (default: refuses anything but an empty control).
    /// The corresponding KVM ioctl is `KVM_SET_GUEST_DEBUG`.
    func setGuestDebug(_ control: GuestDebugControl) throws(BackendError)
}
