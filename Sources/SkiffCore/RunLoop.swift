// RunLoop.swift: the exit loop: run the vCPU, dispatch hypercalls through the table, end on HALT or a fault.

import CSkiffABI

/// How a run ended without a monitor error.
public struct HaltStatus: Equatable, Sendable {
    /// The guest's exit status (`exit_status & 0xff` is the process status).
    public var exitStatus: Int32
    /// The HALT cookie (GPA of a trap frame on abort), or nil.
    public var cookie: GuestAddress?
    public var processStatus: Int32 { exitStatus & 0xff }

    public init(exitStatus: Int32, cookie: GuestAddress? = nil) {
        self.exitStatus = exitStatus
        self.cookie = cookie
    }
}

/// Why a run ended abnormally. Each case prints as one line; the process exits 1.
public enum RunError: Error, Equatable, Sendable {
    case invalidPortAccess(UInt32)
    case invalidMMIOAccess(UInt64, Int?)
    case invalidHypercall(UInt32)
    case fault(HypercallFault)
    /// The guest cannot continue; the backend wrote the message.
    case guest(GuestFault)
    case signal(Int32)
    case backend(BackendError)
    /// An emulated device could not carry out a guest's request.
    case device(DeviceFault)
    /// The debugger ended the run (gdb's `kill`): the one-line reason.
    case killed(String)

    public var message: String {
        switch self {
        case .invalidPortAccess(let p): return "Invalid guest port access: port=\(hex(p))"
        case .invalidMMIOAccess(let a, let l): return "Invalid guest mmio access: mmio=\(hex(a))" + (l.map { " len=\($0)" } ?? "")
        case .invalidHypercall(let n): return "Invalid guest hypercall: num=\(n)"
        case .fault(let f): return f.message
        case .guest(let f): return f.message
        case .signal(let s): return "Exiting on signal \(s)"
        case .backend(let e): return e.message
        case .device(let f): return f.message
        case .killed(let m): return m
        }
    }
}

/// Something to do when the guest halts (a core dump, stop I/O threads, flush disks), in registration order.
public typealias HaltHook = (_ halt: HaltStatus) -> Void

/// The exit loop of one vCPU. Owns nothing but the dispatch: memory, table and
/// hooks are handed in by whoever built the VM.
public struct RunLoop {
    public let memory: GuestMemory
    public let vcpu: any VirtualCPU
    public var table: HypercallTable
    /// The emulated MMIO devices (empty for hvt).
    public var mmio = MMIOBus()
    /// The emulated port-I/O devices (x86; empty for hvt).
    public var ports = MMIOBus()
    public var haltHooks: [HaltHook] = []
    /// Called with a fault before the run ends with it (core dumps, diagnostics).
    public var faultHooks: [(GuestFault) -> Void] = []
    /// Polled after every interrupted run: why the run must stop (a SIGINT/SIGTERM,
    /// a fatal error on an I/O thread), or nil to resume the guest.
    public var stopReason: () -> RunError? = { nil }
    /// The debugger attached to the run (`--gdb`), if any: it has the guest before its first
    /// instruction, at every debug exit and whenever it interrupted the run.
    public var debugger: (any RunDebugger)? = nil

    public init(memory: GuestMemory, vcpu: any VirtualCPU, table: HypercallTable) {
        self.memory = memory
        self.vcpu = vcpu
        self.table = table
    }

    /// Runs until the guest halts (returns its status) or something fatal happens (throws).
    public func run() throws(RunError) -> HaltStatus {
        if let d = debugger { try verdict(d.runStarting()) }
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
                if let v = debugger?.interrupted() { try verdict(v) }
            case .debug(let event):
                guard let d = debugger else {
                    throw .guest(GuestFault(kind: .unhandled, message: "debug exit without a debugger",
                                            programCounter: event.programCounter))
                }
                try verdict(d.debugStop(event))
            case .ignored:
                continue
            case .invalidPortAccess(let port, _, _):
                throw .invalidPortAccess(port)
            case .invalidMMIOAccess(let a, let l, _):
                throw .invalidMMIOAccess(a, l)
            case .mmio(let access):
                if let status = try deviceAccess(access, on: mmio, complete: vcpu.completeMMIORead,
                                                 elsewhere: .invalidMMIOAccess(access.address, access.length)) { return finish(status) }
            case .port(let access):
                if let status = try deviceAccess(access, on: ports, complete: vcpu.completePortRead,
                                                 elsewhere: .invalidPortAccess(UInt32(truncatingIfNeeded: access.address))) {
                    return finish(status)
                }
            case .systemEvent(let event):
                switch event {
                case .shutdown, .reset: return finish(0)
                case .crash: return finish(255)
                }
            case .fault(let f):
                for hook in faultHooks { hook(f) }
                throw .guest(f)
            }
        }
    }

    /// Goes on after the debugger had the guest, or ends the run as it decided.
    private func verdict(_ v: DebuggerVerdict) throws(RunError) {
        if case .kill(let message) = v { throw .killed(message) }
    }

    /// An access for a device bus (MMIO or ports): a read answered, a write carried out; a status when the
    /// write ends the run; `elsewhere` when no device covers it.
    private func deviceAccess(_ a: MMIOAccess, on bus: MMIOBus, complete: (UInt64) -> Void,
                              elsewhere: RunError) throws(RunError) -> Int32? {
        guard let (device, offset) = bus.device(at: a.address, length: a.length) else { throw elsewhere }
        guard a.isWrite else {
            complete(device.read(offset: offset, length: a.length))
            return nil
        }
        let effect: MMIOWriteEffect
        do { effect = try device.write(offset: offset, length: a.length, value: a.value) } catch { throw .device(error) }
        if case .halt(let status) = effect { return status }
        return nil
    }

    /// Ends the run with `status` (no cookie) after the halt hooks.
    private func finish(_ status: Int32) -> HaltStatus {
        let h = HaltStatus(exitStatus: status, cookie: nil)
        for hook in haltHooks { hook(h) }
        return h
    }

    private func halt(_ arg: GuestAddress) throws(RunError) -> HaltStatus {
        let h: hvt_hc_halt
        do { h = try memory.load(hvt_hc_halt.self, at: arg) } catch { throw .fault(error.fault()) }
        var cookie: GuestAddress? = nil
        if h.cookie != 0 {
            do { try memory.check(GuestAddress(h.cookie), UInt64(HVT_HALT_COOKIE_MAX)) } catch { throw .fault(error.fault()) }
            cookie = GuestAddress(h.cookie)
        }
        let status = HaltStatus(exitStatus: h.exit_status, cookie: cookie)
        for hook in haltHooks { hook(status) }
        return status
    }
}
