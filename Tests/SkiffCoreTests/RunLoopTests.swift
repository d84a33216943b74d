// RunLoopTests.swift: the run loop driven by a scripted vCPU: dispatch, halt, cookies, fatal exits, signals.

import Testing
import CSkiffABI
@testable import SkiffCore
import SkiffModules
import SkiffTestSupport


// MARK: Run loop with synthetic exits

@Test func runLoopDispatchesAndHalts() throws {
    let mem = try makeGuest()
    let p = Pipe()
    try mem.write(Array("x".utf8), at: GuestAddress(0x300000))
    try mem.store(hvt_hc_puts(data: 0x300000, len: 1), at: argAt)
    try mem.store(hvt_hc_halt(cookie: 0, exit_status: 300), at: GuestAddress(0x201000))
    let vcpu = ScriptedVCPU([.hypercall(number: 2, argument: argAt), .interrupted,
                             .hypercall(number: 8, argument: GuestAddress(0x201000))])
    var hooked: Int32 = -1
    var loop = RunLoop(memory: mem, vcpu: vcpu, table: coreTable(mem, console: p.w))
    loop.haltHooks.append { hooked = $0.exitStatus }
    let h = try loop.run()
    #expect(h.exitStatus == 300 && h.processStatus == 44 && h.cookie == nil)
    #expect(hooked == 300)
    #expect(p.drain() == [0x78])
}

@Test func runLoopHaltCookieIsChecked() throws {
    let mem = try makeGuest()
    try mem.store(hvt_hc_halt(cookie: memSize - 100, exit_status: 255), at: argAt)
    let loop = RunLoop(memory: mem, vcpu: ScriptedVCPU([.hypercall(number: 8, argument: argAt)]), table: HypercallTable())
    #expect(throws: RunError.self) { try loop.run() }
    try mem.store(hvt_hc_halt(cookie: 0x300000, exit_status: -1), at: argAt)
    let ok = RunLoop(memory: mem, vcpu: ScriptedVCPU([.hypercall(number: 8, argument: argAt)]), table: HypercallTable())
    let h = try ok.run()
    #expect(h.processStatus == 255 && h.cookie == GuestAddress(0x300000))
}

@Test(arguments: [
    (VCPUExit.hypercall(number: 4, argument: GuestAddress(0)), "Invalid guest hypercall: num=4"),
    (.hypercall(number: 0, argument: GuestAddress(0)), "Invalid guest hypercall: num=0"),
    (.invalidPortAccess(port: 0x502, size: 1, isWrite: true), "Invalid guest port access: port=0x502"),
    (.invalidMMIOAccess(address: 0x1_0000_0008, length: 8, isWrite: true), "Invalid guest mmio access: mmio=0x100000008 len=8"),
    (.invalidMMIOAccess(address: 0x1_0000_0200, length: nil, isWrite: true), "Invalid guest mmio access: mmio=0x100000200"),
    (.fault(GuestFault(kind: .shutdown, message: "BACKEND: triple fault at pc")), "BACKEND: triple fault at pc"),
] as [(VCPUExit, String)])
func runLoopFatalExits(_ exit: VCPUExit, _ message: String) throws {
    let mem = try makeGuest()
    let loop = RunLoop(memory: mem, vcpu: ScriptedVCPU([exit]), table: coreTable(mem, console: -1))
    do {
        _ = try loop.run()
        Issue.record("no error")
    } catch {
        #expect(error.message.contains(message), "\(error.message)")
    }
}

@Test func runLoopEndsOnSignal() throws {
    let mem = try makeGuest()
    var loop = RunLoop(memory: mem, vcpu: ScriptedVCPU([.interrupted]), table: HypercallTable())
    loop.stopReason = { .signal(15) }
    #expect(throws: RunError.signal(15)) { try loop.run() }
    #expect(RunError.signal(15).message == "Exiting on signal 15")
}

@Test func runLoopSkipsIgnoredExits() throws {
    let mem = try makeGuest()
    try mem.store(hvt_hc_halt(cookie: 0, exit_status: 3), at: argAt)
    let loop = RunLoop(memory: mem, vcpu: ScriptedVCPU([.ignored, .ignored, .hypercall(number: 8, argument: argAt)]),
                       table: HypercallTable())
    #expect(try loop.run().exitStatus == 3)
}

@Test func runLoopRunsFaultHooksBeforeEnding() throws {
    let mem = try makeGuest()
    let f = GuestFault(kind: .protection, message: "m", programCounter: 0x1234)
    var loop = RunLoop(memory: mem, vcpu: ScriptedVCPU([.fault(f)]), table: HypercallTable())
    var seen: [GuestFault] = []
    loop.faultHooks.append { seen.append($0) }
    #expect(throws: RunError.guest(f)) { try loop.run() }
    #expect(seen == [f])
}

// MARK: The debugger hook

/// A debugger that records what the run loop handed it and answers from a script.
final class RecordingDebugger: RunDebugger {
    var log: [String] = []
    var onStop: DebuggerVerdict = .resume
    var wanted = false
    func runStarting() -> DebuggerVerdict { log.append("start"); return .resume }
    func debugStop(_ e: DebugEvent) -> DebuggerVerdict { log.append("stop \(e.kind) \(hex(e.programCounter))"); return onStop }
    func interrupted() -> DebuggerVerdict? { log.append("interrupted"); return wanted ? .resume : nil }
}

@Test func runLoopHandsTheGuestToItsDebugger() throws {
    let mem = try makeGuest()
    try mem.store(hvt_hc_halt(cookie: 0, exit_status: 0), at: argAt)
    let d = RecordingDebugger()
    var loop = RunLoop(memory: mem, vcpu: ScriptedVCPU([.debug(DebugEvent(kind: .softwareBreakpoint, programCounter: 0x1234)),
                                                        .interrupted, .debug(DebugEvent(kind: .step, programCounter: 0x1235)),
                                                        .hypercall(number: 8, argument: argAt)]),
                       table: HypercallTable())
    loop.debugger = d
    #expect(try loop.run().exitStatus == 0)
    #expect(d.log == ["start", "stop softwareBreakpoint 0x1234", "interrupted", "stop step 0x1235"])
    // A signal is the run's stop reason before the debugger is asked.
    var signalled = RunLoop(memory: mem, vcpu: ScriptedVCPU([.interrupted]), table: HypercallTable())
    signalled.debugger = RecordingDebugger()
    signalled.stopReason = { .signal(2) }
    #expect(throws: RunError.signal(2)) { try signalled.run() }
    // The debugger ends the run (gdb's kill).
    d.onStop = .kill("gdb: the debugger killed the guest")
    var killed = RunLoop(memory: mem, vcpu: ScriptedVCPU([.debug(DebugEvent(kind: .step, programCounter: 1))]), table: HypercallTable())
    killed.debugger = d
    #expect(throws: RunError.killed("gdb: the debugger killed the guest")) { try killed.run() }
    // A debug exit without a debugger is a fault.
    let lone = RunLoop(memory: mem, vcpu: ScriptedVCPU([.debug(DebugEvent(kind: .step, programCounter: 1))]), table: HypercallTable())
    #expect(throws: RunError.self) { try lone.run() }
}
