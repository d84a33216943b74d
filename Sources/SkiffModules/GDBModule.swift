// GDBModule.swift: `--gdb` / `--gdb-port=N`: a GDB remote stub on 127.0.0.1 that has the guest before its first instruction; SkiffDebug's session over a GDBVCPUTarget of vCPU 0.
//
// Upstream's solo5-hvt-debug `--gdb` (default port 1234). The flow, all on the
// vCPU thread except one watcher:
//
// - set-up (`make`): listen on 127.0.0.1:PORT (a bad or busy port ends the run
//   before anything starts; port 0 lets the kernel choose, and the line says
//   which); `attach`: print `gdb: waiting for a debugger on 127.0.0.1:PORT`,
//   accept one connection (SIGINT/SIGTERM end the wait), stop listening.
//   So the seccomp filter, installed after, needs no socket call: only
//   read/write/poll on the connection and the watcher's eventfds.
// - the run loop's `RunDebugger` hooks: `runStarting` (before the first
//   instruction), `debugStop` (a breakpoint, watchpoint or step exit) and
//   `interrupted`: the stub answers the debugger with blocking reads while
//   the guest is stopped, and returns when it resumes it.
// - while the guest runs, a watcher thread polls the connection and kicks
//   the vCPU out of KVM_RUN when bytes arrive (gdb's Ctrl-C, 0x03); the vCPU
//   thread then reads them itself. Two eventfds hand the watch back and forth
//   (`go` when the guest resumes for the debugger, `stop` when the vCPU thread
//   has it again), so the watcher never polls while the vCPU thread reads.
// - `guestFaulted`: a stop with the fault's signal (T0b…), so `bt` shows where;
//   whatever the debugger does next, the run ends with the fault (X0b).
//   `guestHalted`: an abort (status 255) first stops with SIGABRT, showing the
//   registers of its trap frame (the faulting function); then W with the status.
// - `D` (detach) and a lost connection: breakpoints out, no traps, the guest
//   runs on to its end; `k`: the run ends, status 1 ("gdb: the debugger killed
//   the guest"). A connection that breaks is one line, never a crash.

import CSkiffLinux
import SkiffCore
import SkiffDebug

public final class GDBModule: MonitorModule, RunDebugger {
    /// Upstream's default.
    public static let defaultPort: UInt16 = 1234

    public static let descriptor = ModuleDescriptor(
        name: "gdb",
        usage: """
              --gdb                        wait for a debugger on 127.0.0.1:1234 before the guest starts
                                           (gdb IMAGE -ex 'target remote :1234')
              --gdb-port=N                 the same on port N (0: any free port, printed)
            """,
        parseOption: { (a, o) throws(OptionError) in
            let given = o.moduleSettings.last { $0.name == "gdb" }?.value
            let port: String
            if a == "--gdb" {
                port = given ?? String(GDBModule.defaultPort)
            } else if a.hasPrefix("--gdb-port=") {
                guard let p = UInt16(a.dropFirst("--gdb-port=".count)) else { throw .invalidOption(a) }
                port = String(p)
            } else {
                return false
            }
            o.moduleSettings.removeAll { $0.name == "gdb" }
            o.moduleSettings.append(RunOptions.NamedValue(name: "gdb", value: port))
            return true
        },
        make: { (setup) throws(DeviceError) in try GDBModule(setup: setup) })

    /// The port listened on (the kernel's choice when 0 was asked for).
    public let port: UInt16
    private var listener: Int32
    private var connection: Int32 = -1
    private let inform: (String) -> Void
    private var host: (any ModuleHost)?
    private var target: GDBVCPUTarget?
    private var session: GDBSession?
    /// The watcher and its two eventfds.
    private var watcher: HostThread?
    private var goFD: Int32 = -1, stopFD: Int32 = -1
    private var armed = false

    /// Listens on 127.0.0.1:PORT; nil when `--gdb` is not given.
    init?(setup: ModuleSetup) throws(DeviceError) {
        guard let value = setup.options.moduleSettings.last(where: { $0.name == "gdb" })?.value, let asked = UInt16(value) else {
            return nil
        }
        let fd = cskiff_tcp_listen_loopback(asked)
        guard fd >= 0 else { throw .cannotListen(option: "--gdb", address: "127.0.0.1:\(asked)", error: errnoString()) }
        listener = fd
        port = UInt16(truncatingIfNeeded: cskiff_tcp_local_port(fd))
        inform = setup.inform
    }

    deinit {
        finishWatcher()
        if listener >= 0 { close(listener) }
        closeConnection()
        if goFD >= 0 { close(goFD) }
        if stopFD >= 0 { close(stopFD) }
    }

    /// The connection's reads and writes, the watcher's poll and eventfds (all opened before the filter).
    public var syscalls: [Int] {
        #if arch(x86_64)
        return [Int(SYS_read), Int(SYS_write), Int(SYS_close), Int(SYS_ppoll), Int(SYS_poll)]
        #else
        return [Int(SYS_read), Int(SYS_write), Int(SYS_close), Int(SYS_ppoll)]
        #endif
    }

    /// Waits for the debugger to connect, then starts the watcher; the session starts with the run.
    public func attach(table: inout HypercallTable, host: any ModuleHost, setup: ModuleSetup) -> ModuleAttachment {
        self.host = host
        var attachment = ModuleAttachment()
        attachment.debugger = self
        inform("gdb: waiting for a debugger on 127.0.0.1:\(port) (gdb: target remote :\(port))")
        while connection < 0 {
            connection = cskiff_tcp_accept(listener)
            if connection < 0 && (errno != EINTR || host.stopRequested) {
                // A signal ends the run at the guest's first entry; another failure is reported and the guest runs.
                if !host.stopRequested { inform("gdb: cannot accept a connection: \(errnoString()); the guest runs without a debugger") }
                break
            }
        }
        close(listener)
        listener = -1
        guard connection >= 0 else { return attachment }
        goFD = eventfd(0, Int32(EFD_CLOEXEC))
        stopFD = eventfd(0, Int32(EFD_CLOEXEC))
        let fd = connection, go = goFD, stop = stopFD
        if go >= 0, stop >= 0 {
            watcher = Host.startThread { GDBModule.watch(connection: fd, go: go, stop: stop, kick: { host.kickVCPU() }) }
        }
        if watcher == nil { inform("gdb: no watcher thread: Ctrl-C cannot interrupt the running guest") }
        return attachment
    }

    // MARK: The run loop's hooks

    public func runStarting() -> DebuggerVerdict {
        guard connection >= 0, let host, let cpu = host.debugCPU else { return .resume }
        let t = GDBVCPUTarget(cpu: cpu, memory: host.memory, memoryBase: host.memoryBase, architecture: .host)
        target = t
        session = GDBSession(target: t)
        if let why = t.capabilities.limitation { inform("gdb: " + why) }
        return serve()
    }

    public func debugStop(_ event: DebugEvent) -> DebuggerVerdict {
        disarm()
        guard let session, let target, session.state == .running else { return .resume }
        guard send(session.stopped(target.stop(for: event))) else { return .resume }
        return serve()
    }

    public func interrupted() -> DebuggerVerdict? {
        guard let session, let target, session.state == .running else { return nil }
        disarm()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !Host.waitReadable([connection], timeoutMilliseconds: 0).isEmpty {
            let n = Host.readOnce(connection, into: &buffer)
            guard n > 0 else { lost(n == 0 ? "the debugger closed the connection" : errnoString()); return .resume }
            guard send(session.receive(buffer[0..<n])) else { return .resume }
        }
        guard target.interruptRequested else { arm(); return nil }
        target.interruptRequested = false
        guard send(session.stopped(.interrupted)) else { return .resume }
        return serve()
    }

    public func guestFaulted(_ fault: GuestFault) {
        guard let session, session.state == .running else { return }
        disarm()
        let signal = Self.signal(for: fault)
        guard send(session.stopped(.fault(signal: signal))) else { return }
        guard answer() else { return }
        // The guest cannot go on: whatever the debugger asked, the run ends with the fault.
        if session.state == .running { _ = send(session.stopped(.terminated(signal: signal))) }
        end()
    }

    public func guestHalted(_ halt: HaltStatus) {
        guard let session, let target, session.state == .running else { return }
        disarm()
        if halt.processStatus == 255, let host, let cpu = host.debugCPU {
            // An abort: stop where the guest trapped (its trap frame's registers), then report the exit.
            if let cookie = halt.cookie, let atHalt = try? cpu.readRegisters() {
                target.registerOverride = host.faultRegisters(cookie: cookie, halt: atHalt)
            }
            target.registerOverride = target.registerOverride ?? (try? cpu.readRegisters())
            guard send(session.stopped(.fault(signal: Self.sigABRT))) else { return }
            guard answer() else { return }
        }
        if session.state == .running { _ = send(session.stopped(.exited(status: UInt8(truncatingIfNeeded: halt.processStatus)))) }
        end()
    }

    public func finish() -> HypercallFault? {
        finishWatcher()
        closeConnection()
        return nil
    }

    // MARK: Serving

    /// Answers the debugger while the guest is stopped; false when the connection was lost.
    private func answer() -> Bool {
        guard let session else { return false }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while session.state == .stopped {
            let n = Host.readOnce(connection, into: &buffer)
            guard n > 0 else { lost(n == 0 ? "the debugger closed the connection" : errnoString()); return false }
            guard send(session.receive(buffer[0..<n])) else { return false }
        }
        return true
    }

    /// `answer`, then how the run goes on: resumed (the watcher armed), detached, or killed.
    private func serve() -> DebuggerVerdict {
        guard answer(), let session, let target else { return .resume }
        switch session.state {
        case .running:
            arm()
            return .resume
        case .detached:
            inform("gdb: the debugger detached; the guest runs on")
            end()
            return .resume
        case .ended, .stopped:
            let killed = target.killed
            end()
            return killed ? .kill("gdb: the debugger killed the guest") : .resume
        }
    }

    /// Sends `bytes` (nothing if empty); false (the connection lost) if it cannot.
    private func send(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty else { return true }
        guard connection >= 0, Host.writeAll(connection, bytes) else {
            lost(errnoString())
            return false
        }
        return true
    }

    /// The connection broke: one line, breakpoints out, the guest runs on without the debugger.
    private func lost(_ why: String) {
        guard session != nil else { return }
        inform("gdb: connection lost (\(why)); the guest runs on without the debugger")
        target?.detach()
        end()
    }

    /// The session is over: the watcher stopped, the connection closed.
    private func end() {
        session = nil
        finishWatcher()
        closeConnection()
    }

    private func closeConnection() {
        if connection >= 0 { close(connection) }
        connection = -1
    }

    // MARK: The watcher

    /// The guest resumed for the debugger: the watcher may poll the connection.
    private func arm() {
        guard watcher != nil, !armed else { return }
        armed = true
        Self.post(goFD)
    }

    /// The vCPU thread has the guest again: the watcher stops polling (and, after a kick, waits for this).
    private func disarm() {
        guard armed else { return }
        armed = false
        Self.post(stopFD)
    }

    private func finishWatcher() {
        guard let w = watcher else { return }
        watcher = nil
        disarm()
        Self.post(goFD, Self.quit)
        w.join()
    }

    /// Adds `value` to an eventfd's counter: 1 on `go` and `stop`, `quit` on `go` to end the watcher.
    private static func post(_ eventFD: Int32, _ value: UInt8 = 1) {
        Host.writeAll(eventFD, [value, 0, 0, 0, 0, 0, 0, 0])
    }

    private static let quit: UInt8 = 2

    /// The watcher thread: wait for `go` (a count of `quit` or more: return); poll the connection and
    /// `stop`; bytes from the debugger kick the vCPU, which reads them and posts `stop` when it has the
    /// guest again.
    private static func watch(connection: Int32, go: Int32, stop: Int32, kick: () -> Void) {
        var token = [UInt8](repeating: 0, count: 8)
        while true {
            guard Host.readOnce(go, into: &token) == 8, token[0] < quit, token[1...].allSatisfy({ $0 == 0 }) else { return }
            let ready = Host.waitReadable([connection, stop])
            if !ready.contains(stop) {
                guard ready.contains(connection) else { return }
                kick()
            }
            guard Host.readOnce(stop, into: &token) == 8 else { return }
        }
    }

    // MARK: Signals

    static let sigILL: UInt8 = 4, sigTRAP: UInt8 = 5, sigABRT: UInt8 = 6, sigBUS: UInt8 = 7, sigSEGV: UInt8 = 11

    /// The signal gdb shows for a fault (gdb's numbering, which is Linux's for these).
    static func signal(for fault: GuestFault) -> UInt8 {
        switch fault.kind {
        case .protection, .shutdown: return sigSEGV
        case .unexpectedMMIO: return sigBUS
        case .halted, .entryFailure, .internalError, .unhandled: return sigILL
        }
    }
}
