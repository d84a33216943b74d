// RunLoop.swift: the exit loop: run the vCPU, dispatch hypercalls through the table, end on HALT or a fault.

import CSkiffABI

/// How a run ended without a monitor error.
public struct HaltStatus: Equatable, Sendable {
    /// The guest's exit status (`exit_status & 0xff` is the process status).
    public var exitStatus: Int32
    /// The HALT cookie (GPA of a trap frame on abort), or nil.
    public var cookie: GuestAddress?
    public var processStatus: Int32 { exitStatus & 0xff }
}

/// Why a run ended abnormally. Each case prints as one line; the process exits 1.
public enum RunError: Error, Equatable, Sendable {
    case invalidPortAccess(UInt32)
    case invalidMMIOAccess(UInt64, Int)
    case invalidHypercall(UInt32)
    case fault(HypercallFault)
    case translationFault(pcName: String, pc: UInt64)
    case unhandledExit(reason: UInt32, pcName: String, pc: UInt64, detail: String)
    case failedEntry(UInt64)
    case internalError(UInt32, pcName: String, pc: UInt64)
    case signal(Int32)
    case backend(BackendError)

    public var message: String {
        switch self {
        case .invalidPortAccess(let p): return "Invalid guest port access: port=\(hex(p))"
        case .invalidMMIOAccess(let a, let l): return "Invalid guest mmio access: mmio=\(hex(a)) len=\(l)"
        case .invalidHypercall(let n): return "Invalid guest hypercall: num=\(n)"
        case .fault(let f): return f.message
        case .translationFault(let n, let pc): return "KVM: host/guest translation fault: \(n)=\(hex(pc))"
        case .unhandledExit(let r, let n, let pc, let d):
            return "KVM: unhandled exit: exit_reason=\(hex(r)), \(n)=\(hex(pc))" + (d.isEmpty ? "" : " (\(d))")
        case .failedEntry(let r): return "KVM: entry failure: hw_entry_failure_reason=\(hex(r))"
        case .internalError(let s, let n, let pc): return "KVM: internal error exit: suberror=\(hex(s)), \(n)=\(hex(pc))"
        case .signal(let s): return "Exiting on signal \(s)"
        case .backend(let e): return e.message
        }
    }
}

/// Something to do when the guest halts (stop I/O threads, flush disks), in registration order.
public typealias HaltHook = (_ status: Int32) -> Void

/// The exit loop of one vCPU. Owns nothing but the dispatch: memory, table and
/// hooks are handed in by whoever built the VM.
public struct RunLoop {
    public let memory: GuestMemory
    public let vcpu: any VirtualCPU
    public var table: HypercallTable
    public var haltHooks: [HaltHook] = []
    /// Polled after every interrupted run: why the run must stop (a SIGINT/SIGTERM,
    /// a fatal error on an I/O thread), or nil to resume the guest.
    public var stopReason: () -> RunError? = { nil }

    public init(memory: GuestMemory, vcpu: any VirtualCPU, table: HypercallTable) {
        self.memory = memory
        self.vcpu = vcpu
        self.table = table
    }

    /// Runs until the guest halts (returns its status) or something fatal happens (throws).
    public func run() throws(RunError) -> HaltStatus {
        while true {
            let exit: VCPUExit
            do { exit = try vcpu.run() } catch { throw .backend(error) }
            switch exit {
            case .hypercall(let nr, let arg):
                if nr == Hypercall.halt.rawValue { return try halt(arg) }
                guard let h = table.handler(for: nr) else { throw .invalidHypercall(nr) }
                do { try h(arg) } catch { throw .fault(error) }
            case .interrupted:
                if let reason = stopReason() { throw reason }
            case .ignored:
                continue
            default:
                try fail(exit)
            }
        }
    }

    /// Dispatches one exit; exposed for tests driving the loop with synthetic exits.
    func fail(_ exit: VCPUExit) throws(RunError) {
        let pcn = vcpu.programCounterName
        switch exit {
        case .invalidPortAccess(let port, _, _): throw .invalidPortAccess(port)
        case .invalidMMIOAccess(let a, let l, _): throw .invalidMMIOAccess(a, l)
        case .protectionFault: throw .translationFault(pcName: pcn, pc: vcpu.programCounter())
        case .mmio(let a, let w):
            throw .unhandledExit(reason: 6, pcName: pcn, pc: vcpu.programCounter(),
                                 detail: "MMIO \(w ? "write" : "read") at \(hex(a)) outside guest memory")
        case .hlt: throw .unhandledExit(reason: 5, pcName: pcn, pc: vcpu.programCounter(), detail: "HLT")
        case .shutdown: throw .unhandledExit(reason: 8, pcName: pcn, pc: vcpu.programCounter(), detail: "triple fault")
        case .failedEntry(let r): throw .failedEntry(r)
        case .internalError(let s): throw .internalError(s, pcName: pcn, pc: vcpu.programCounter())
        case .unhandled(let r): throw .unhandledExit(reason: r, pcName: pcn, pc: vcpu.programCounter(), detail: "")
        case .hypercall, .interrupted, .ignored: break
        }
    }

    private func halt(_ arg: GuestAddress) throws(RunError) -> HaltStatus {
        let h: hvt_hc_halt
        do { h = try memory.load(hvt_hc_halt.self, at: arg) } catch { throw .fault(error.fault()) }
        var cookie: GuestAddress? = nil
        if h.cookie != 0 {
            do { try memory.check(GuestAddress(h.cookie), UInt64(HVT_HALT_COOKIE_MAX)) } catch { throw .fault(error.fault()) }
            cookie = GuestAddress(h.cookie)
        }
        for hook in haltHooks { hook(h.exit_status) }
        return HaltStatus(exitStatus: h.exit_status, cookie: cookie)
    }
}
