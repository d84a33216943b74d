// GDBTargetTests.swift: the gdb stub's KVM-side pieces without KVM: GDBVCPUTarget over a fake vCPU and real guest memory (breakpoints in read-only text, hardware slots, detach), and GDBModule over a fake VM driven by a socket client.

import Testing
import Foundation
import SkiffCore
import SkiffDebug
import SkiffModules
import SkiffArchX86_64

/// A vCPU that records the guest-debug controls it is given and refuses more hardware than it has.
final class FakeDebugCPU: DebuggableCPU {
    var registers: CPURegisters
    var controls: [GuestDebugControl] = []
    let debugCapabilities: DebugCapabilities
    init(_ r: CPURegisters, capabilities: DebugCapabilities) { registers = r; debugCapabilities = capabilities }
    func readRegisters() throws(BackendError) -> CPURegisters { registers }
    func writeRegisters(_ r: CPURegisters) throws(BackendError) { registers = r }
    func setGuestDebug(_ c: GuestDebugControl) throws(BackendError) {
        guard c.hardware.count <= 4 else { throw BackendError("4 debug registers") }
        guard c.hardware.allSatisfy({ $0.kind == .execute || $0.address % $0.length == 0 }) else { throw BackendError("unaligned") }
        controls.append(c)
    }
    var last: GuestDebugControl { controls.last ?? GuestDebugControl() }
}

let x86Capabilities = DebugCapabilities(hardwareBreakpoints: 4, watchpoints: 4, breakpointInstruction: [0xcc], stepping: true)
let brk = [UInt8]([0x00, 0x00, 0x20, 0xd4])

func x86Target(_ mem: GuestMemory, capabilities: DebugCapabilities = x86Capabilities, base: UInt64 = 0) -> (GDBVCPUTarget, FakeDebugCPU) {
    var r = X86_64Registers()
    r.rip = 0x1000
    let cpu = FakeDebugCPU(.x86_64(r), capabilities: capabilities)
    return (GDBVCPUTarget(cpu: cpu, memory: mem, memoryBase: base, architecture: .x86_64), cpu)
}

@Test func softwareBreakpointsGoThroughReadOnlyText() throws {
    let mem = try GuestMemory(size: 1 << 20)
    try mem.write([0x55, 0x48, 0x89, 0xe5], at: GuestAddress(0x4000))
    #expect(mem.protect(at: GuestAddress(0x4000), count: 0x1000, writable: false, readable: true))
    let (t, cpu) = x86Target(mem)
    try t.insertBreakpoint(GDBBreakpoint(kind: .software, address: 0x4001, length: 1))
    #expect(try mem.read(at: GuestAddress(0x4000), count: 4) == [0x55, 0xcc, 0x89, 0xe5])
    #expect(try t.readMemory(at: 0x4000, count: 4) == [0x55, 0x48, 0x89, 0xe5], "reads show the guest's bytes")
    #expect(cpu.last.softwareBreakpoints && !cpu.last.singleStep)
    #expect(!mem.hostAllows(GuestAddress(0x4000), 1, write: true), "the text is read-only again")
    #expect(throws: GDBTargetError.memory) { try mem.debuggerWrite([1], at: 0x4000) }
    // A write over the breakpoint changes the saved byte; the breakpoint stays.
    try t.writeMemory([0x90, 0x91], at: 0x4000)
    #expect(try mem.read(at: GuestAddress(0x4000), count: 2) == [0x90, 0xcc])
    #expect(t.original(at: 0x4001) == [0x91])
    try t.insertBreakpoint(GDBBreakpoint(kind: .software, address: 0x4001, length: 1))   // again: no-op
    try t.removeBreakpoint(GDBBreakpoint(kind: .software, address: 0x4001, length: 1))
    #expect(try mem.read(at: GuestAddress(0x4000), count: 4) == [0x90, 0x91, 0x89, 0xe5])
    #expect(!cpu.last.softwareBreakpoints && !mem.hostAllows(GuestAddress(0x4000), 1, write: true))
    try t.removeBreakpoint(GDBBreakpoint(kind: .software, address: 0x4001, length: 1))   // not there: fine
    // Outside guest memory, or past its end: nothing written, E14.
    #expect(throws: GDBTargetError.memory) { try t.insertBreakpoint(GDBBreakpoint(kind: .software, address: 1 << 20, length: 1)) }
    #expect(throws: GDBTargetError.memory) { try t.insertBreakpoint(GDBBreakpoint(kind: .software, address: .max, length: 1)) }
    #expect(throws: GDBTargetError.memory) { try t.writeMemory([1, 2], at: (1 << 20) - 1) }
    #expect(t.softwareBreakpoints.isEmpty)
}

@Test func aarch64BreakpointsAndAMemoryBase() throws {
    let mem = try GuestMemory(size: 1 << 20)
    let cpu = FakeDebugCPU(.aarch64(AArch64Registers()),
                           capabilities: DebugCapabilities(hardwareBreakpoints: 6, watchpoints: 4, readWatchpoints: true,
                                                           breakpointInstruction: brk, stepping: true))
    let base: UInt64 = 0x4000_0000
    let t = GDBVCPUTarget(cpu: cpu, memory: mem, memoryBase: base, architecture: .aarch64)
    try mem.write([1, 2, 3, 4, 5, 6, 7, 8], at: GuestAddress(0x100))
    try t.insertBreakpoint(GDBBreakpoint(kind: .software, address: base + 0x100, length: 4))
    #expect(try mem.read(at: GuestAddress(0x100), count: 8) == brk + [5, 6, 7, 8])
    #expect(try t.readMemory(at: base + 0x102, count: 4) == [3, 4, 5, 6])
    #expect(throws: GDBTargetError.memory) { try t.readMemory(at: 0x100, count: 4) }   // below the base
    try t.insertBreakpoint(GDBBreakpoint(kind: .readWatch, address: base + 0x200, length: 4))
    #expect(cpu.last.hardware == [HardwareBreakpoint(kind: .read, address: base + 0x200, length: 4)])
    #expect(t.stop(for: DebugEvent(kind: .watchpoint(index: 0, address: base + 0x202), programCounter: 0)) == .watchpoint(.readWatch, address: base + 0x202))
    #expect(t.stop(for: DebugEvent(kind: .watchpoint(index: 0, address: base + 0x1f8), programCounter: 0)) == .watchpoint(.readWatch, address: base + 0x200),
            "an access that starts below the watched bytes is reported at them")
    #expect(t.stop(for: DebugEvent(kind: .softwareBreakpoint, programCounter: base + 0x100)) == .softwareBreakpoint)
    t.detach()
    #expect(try mem.read(at: GuestAddress(0x100), count: 4) == [1, 2, 3, 4] && cpu.last.isEmpty && t.detached)
}

@Test func hardwareSlotsAndKinds() throws {
    let mem = try GuestMemory(size: 1 << 20)
    let (t, cpu) = x86Target(mem)
    try t.insertBreakpoint(GDBBreakpoint(kind: .hardware, address: 0x1234, length: 1))
    try t.insertBreakpoint(GDBBreakpoint(kind: .writeWatch, address: 0x2000, length: 8))
    try t.insertBreakpoint(GDBBreakpoint(kind: .accessWatch, address: 0x2010, length: 4))
    #expect(cpu.last.hardware.map { $0.kind } == [.execute, .write, .access])
    // x86 has no read watchpoints; an unaligned one is refused by the backend and leaves nothing behind.
    #expect(throws: GDBTargetError.unsupported) { try t.insertBreakpoint(GDBBreakpoint(kind: .readWatch, address: 0x3000, length: 4)) }
    #expect(throws: GDBTargetError.unsupported) { try t.insertBreakpoint(GDBBreakpoint(kind: .writeWatch, address: 0x3001, length: 4)) }
    #expect(cpu.last.hardware.count == 3 && t.hardware.count == 3)
    try t.insertBreakpoint(GDBBreakpoint(kind: .hardware, address: 0x5000, length: 1))
    #expect(throws: GDBTargetError.unsupported) { try t.insertBreakpoint(GDBBreakpoint(kind: .hardware, address: 0x6000, length: 1)) }
    #expect(t.stop(for: DebugEvent(kind: .hardwareBreakpoint(index: 0), programCounter: 0x1234)) == .hardwareBreakpoint)
    #expect(t.stop(for: DebugEvent(kind: .watchpoint(index: 1, address: 0x2000), programCounter: 0x1240)) == .watchpoint(.writeWatch, address: 0x2000))
    #expect(t.stop(for: DebugEvent(kind: .watchpoint(index: 9, address: nil), programCounter: 0)) == .trap)
    #expect(t.stop(for: DebugEvent(kind: .softwareBreakpoint, programCounter: 0x9999)) == .trap, "an int3 we did not write")
    try t.removeBreakpoint(GDBBreakpoint(kind: .writeWatch, address: 0x2000, length: 8))
    #expect(cpu.last.hardware.map { $0.address } == [0x1234, 0x2010, 0x5000])
    try t.resume(.step)
    #expect(cpu.last.singleStep && t.stepping)
    try t.resume(.continue)
    #expect(!cpu.last.singleStep)
    // A vCPU without hardware slots (PVM): every kind is unsupported, software breakpoints still work.
    let pvm = DebugCapabilities(breakpointInstruction: [0xcc], stepping: true, limitation: "PVM")
    let (p, _) = x86Target(mem, capabilities: pvm)
    #expect(throws: GDBTargetError.unsupported) { try p.insertBreakpoint(GDBBreakpoint(kind: .hardware, address: 0x1234, length: 1)) }
    #expect(throws: GDBTargetError.unsupported) { try p.insertBreakpoint(GDBBreakpoint(kind: .writeWatch, address: 0x2000, length: 8)) }
    try p.insertBreakpoint(GDBBreakpoint(kind: .software, address: 0x1234, length: 1))
    // A backend that cannot debug at all.
    let (n, _) = x86Target(mem, capabilities: .none)
    #expect(throws: GDBTargetError.unsupported) { try n.insertBreakpoint(GDBBreakpoint(kind: .software, address: 0x1000, length: 1)) }
}

@Test func registersOfAnEndedGuestAreReadOnly() throws {
    let mem = try GuestMemory(size: 1 << 20)
    let (t, cpu) = x86Target(mem)
    var frame = X86_64Registers()
    frame.rip = 0x777
    t.registerOverride = .x86_64(frame)
    #expect(try t.readRegisters().programCounter == 0x777)
    #expect(throws: GDBTargetError.self) { try t.writeRegisters(.x86_64(frame)) }
    try t.resume(.continue)
    #expect(cpu.controls.isEmpty, "an ended guest is not resumed")
}

@Test func sessionOverTheTarget() throws {
    let mem = try GuestMemory(size: 1 << 20)
    try mem.write([0xaa, 0xbb], at: GuestAddress(0x3000))
    let (t, cpu) = x86Target(mem)
    let s = GDBSession(target: t)
    #expect(ask(s, "Z0,3000,1") == "OK" && ask(s, "m3000,2") == "aabb")
    #expect(ask(s, "Z1,3100,1") == "OK" && ask(s, "Z2,3201,4") == "" && ask(s, "Z3,3200,4") == "")
    #expect(ask(s, "mffffffffffff0000,10") == "E14" && ask(s, "Z0,ffffffffffff0000,1") == "E14")
    #expect(ask(s, "s") == "<nothing>" && cpu.last.singleStep && cpu.last.softwareBreakpoints)
    #expect(reply(s.stopped(t.stop(for: DebugEvent(kind: .step, programCounter: 0x1001))), acked: false) == "T05thread:1;")
    #expect(ask(s, "c") == "<nothing>" && !cpu.last.singleStep)
    #expect(reply(s.stopped(t.stop(for: DebugEvent(kind: .softwareBreakpoint, programCounter: 0x3000))), acked: false) == "T05swbreak:;thread:1;")
    #expect(ask(s, "c") == "<nothing>")
    #expect(reply(s.stopped(t.stop(for: DebugEvent(kind: .hardwareBreakpoint(index: 0), programCounter: 0x3100))), acked: false) == "T05hwbreak:;thread:1;")
    #expect(ask(s, "Z2,3208,8") == "OK" && ask(s, "c") == "<nothing>")
    #expect(reply(s.stopped(t.stop(for: DebugEvent(kind: .watchpoint(index: 1, address: 0x3208), programCounter: 0x1200))), acked: false)
            == "T05watch:3208;thread:1;")
    #expect(ask(s, "D") == "OK" && s.state == .detached && cpu.last.isEmpty)
    #expect(try mem.read(at: GuestAddress(0x3000), count: 2) == [0xaa, 0xbb])
}

@Test func x86DescriptorsDecode() {
    // Skiff's user code and data segments (Guest/arch/x86_64/start.S).
    let code = Segment(descriptor: 0x00af_fb00_0000_ffff, selector: 0x33)
    #expect(code == Segment(base: 0, limit: 0xffff_ffff, selector: 0x33, type: 0xb, dpl: 3, db: false, l: true))
    let data = Segment(descriptor: 0x00cf_f300_0000_ffff, selector: 0x2b)
    #expect(data == Segment(base: 0, limit: 0xffff_ffff, selector: 0x2b, type: 3, dpl: 3, db: true, l: false))
    #expect(Segment(descriptor: 0x00af_7b00_0000_ffff, selector: 0x33) == nil, "not present")
    let based = Segment(descriptor: 0x1200_9312_3456_0fff, selector: 0x10)
    #expect(based?.base == 0x1212_3456 && based?.limit == 0x0fff && based?.g == false)
    // The #BP gate: handler 0x100830, kernel code, present, DPL3.
    let handler: UInt64 = 0x0000_0001_0010_0830
    let low = handler & 0xffff | UInt64(0x10) << 16 | UInt64(0xee) << 40 | ((handler >> 16) & 0xffff) << 48
    let gate = InterruptGate(low: low, high: handler >> 32)
    #expect(gate == InterruptGate(low: low, high: 1) && gate.handler == handler && gate.selector == 0x10 && gate.present && gate.dpl == 3)
    #expect(!InterruptGate(low: 0, high: 0).present)
}

@Test func gdbOptionSpelling() throws {
    #expect(try RunOptions.parse(["--gdb", "k"]).moduleSettings == [.init(name: "gdb", value: "1234")])
    #expect(try RunOptions.parse(["--gdb-port=4321", "k"]).moduleSettings == [.init(name: "gdb", value: "4321")])
    #expect(try RunOptions.parse(["--gdb-port=4321", "--gdb", "k"]).moduleSettings == [.init(name: "gdb", value: "4321")])
    #expect(try RunOptions.parse(["--gdb", "--gdb-port=0", "k"]).moduleSettings == [.init(name: "gdb", value: "0")])
    for bad in ["--gdb-port=", "--gdb-port=65536", "--gdb-port=-1", "--gdb-port=12ab", "--gdb=1"] {
        #expect(throws: OptionError.invalidOption(bad)) { try RunOptions.parse([bad, "k"]) }
    }
    #expect(RunOptions.usage().contains("--gdb-port=N"))
}

@Test func gdbListensOnLoopbackOnlyAndSaysSoWhenItCannot() throws {
    var o = RunOptions(kernel: "k")
    o.moduleSettings = [.init(name: "gdb", value: "0")]
    let set = try ModuleSet(setup: ModuleSetup(options: o, manifest: Manifest(devices: [])))
    let m = try #require(set.modules.compactMap { $0 as? GDBModule }.first)
    #expect(m.port != 0)
    #expect(set.syscalls.contains(Int(SYS_read)) && !set.syscalls.contains(Int(SYS_accept)) && !set.syscalls.contains(Int(SYS_socket)),
            "the connection is accepted before the filter: no socket calls in it")
    // The same port again: busy.
    o.moduleSettings = [.init(name: "gdb", value: String(m.port))]
    #expect(throws: DeviceError.cannotListen(option: "--gdb", address: "127.0.0.1:\(m.port)", error: "Address already in use")) {
        try ModuleSet(setup: ModuleSetup(options: o, manifest: Manifest(devices: [])))
    }
    let none = try ModuleSet(setup: ModuleSetup(options: RunOptions(kernel: "k"), manifest: Manifest(devices: [])))
    #expect(!none.modules.contains { $0 is GDBModule })
}

// MARK: The module over a fake VM, with a real socket client

/// A ModuleHost over real memory and a fake vCPU; counts kicks.
final class FakeDebugHost: ModuleHost {
    let memory: GuestMemory
    let cpu: FakeDebugCPU
    var kicks = 0
    init(memory: GuestMemory, cpu: FakeDebugCPU) { self.memory = memory; self.cpu = cpu }
    func registerRingKick(eventFD: Int32) -> Bool { false }
    func kickVCPU() { kicks += 1 }
    var debugCPU: (any DebuggableCPU)? { cpu }
    func faultRegisters(cookie: GuestAddress, halt: CPURegisters) -> CPURegisters? {
        var r = X86_64Registers()
        r.rip = 0xabc
        return .x86_64(r)
    }
}

/// A blocking TCP client speaking the remote protocol (acks on).
final class TestClient {
    let fd: Int32
    private init(fd: Int32) { self.fd = fd }

    static func connect(port: UInt16, address: String = "127.0.0.1", tries: Int = 1) -> TestClient? {
        for _ in 0..<tries {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            inet_pton(AF_INET, address, &a.sin_addr)
            let r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            if r == 0 { return TestClient(fd: fd) }
            close(fd)
            usleep(20_000)
        }
        return nil
    }

    func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
    func send(packet p: String) { send(packet(p)) }

    /// The next reply packet's payload (skipping acks), or nil at end of stream.
    func reply() -> String? {
        var got: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1)
        while true {
            guard read(fd, &buf, 1) == 1 else { return nil }
            if got.isEmpty && buf[0] != UInt8(ascii: "$") { continue }   // acks, naks
            got.append(buf[0])
            if got.count >= 3 && got[got.count - 3] == UInt8(ascii: "#") {
                send([UInt8(ascii: "+")])
                return String(decoding: got.dropFirst().dropLast(3), as: UTF8.self)
            }
        }
    }

    func ask(_ p: String) -> String? { send(packet: p); return reply() }
    deinit { close(fd) }
}

/// A run with `--gdb-port=0` attached to a fake host while `script` plays the debugger on a thread;
/// returns the module, the host and the lines it printed. `script` gets the client (nil: could not connect).
func gdbRun(_ script: @escaping @Sendable (TestClient?) -> Void) throws -> (GDBModule, FakeDebugHost, ModuleSet, () -> [String], Thread) {
    var o = RunOptions(kernel: "k")
    o.moduleSettings = [.init(name: "gdb", value: "0")]
    final class Lines: @unchecked Sendable { var all: [String] = [] }
    let lines = Lines()
    let set = try ModuleSet(setup: ModuleSetup(options: o, manifest: Manifest(devices: []), inform: { lines.all.append($0) }),
                            descriptors: [GDBModule.descriptor])
    let m = try #require(set.modules.first as? GDBModule)
    let mem = try GuestMemory(size: 1 << 20)
    try mem.write([0x90, 0x90, 0x90, 0x90], at: GuestAddress(0x1000))
    var r = X86_64Registers()
    r.rip = 0x1000
    let host = FakeDebugHost(memory: mem, cpu: FakeDebugCPU(.x86_64(r), capabilities: x86Capabilities))
    let port = m.port
    let client = Thread { script(TestClient.connect(port: port, tries: 100)) }
    client.start()
    var table = HypercallTable()
    let a = set.attach(table: &table, host: host)
    #expect(a.debugger === m)
    return (m, host, set, { lines.all }, client)
}

func waitFor(_ thread: Thread) {
    for _ in 0..<500 where !thread.isFinished { usleep(10_000) }
}

@Test func gdbModuleStopsBreaksAndDetaches() throws {
    final class Log: @unchecked Sendable { var replies: [String?] = [] }
    let log = Log()
    let (m, host, set, lines, client) = try gdbRun { c in
        guard let c else { log.replies.append("no connection"); return }
        log.replies.append(c.ask("?"))                    // the stop before the first instruction
        log.replies.append(c.ask("Z0,1002,1"))
        log.replies.append(c.ask("m1000,4"))              // the guest's bytes, not the int3
        c.send(packet: "c")                                // -> runStarting returns; the test reports a breakpoint
        log.replies.append(c.reply())
        c.send(packet: "c")                                // -> resumed; then Ctrl-C while "running"
        usleep(100_000)
        c.send([0x03])
        log.replies.append(c.reply())
        log.replies.append(c.ask("D"))
    }
    #expect(m.runStarting() == .resume)
    #expect(try host.memory.read(at: GuestAddress(0x1000), count: 4) == [0x90, 0x90, 0xcc, 0x90])
    #expect(host.cpu.last.softwareBreakpoints)
    #expect(m.debugStop(DebugEvent(kind: .softwareBreakpoint, programCounter: 0x1002)) == .resume)
    // The watcher kicks the vCPU when the Ctrl-C arrives; the run loop then calls `interrupted`.
    for _ in 0..<300 where host.kicks == 0 { usleep(10_000) }
    #expect(host.kicks >= 1)
    #expect(m.interrupted() == .resume)
    waitFor(client)
    #expect(log.replies == ["T05thread:1;", "OK", "90909090", "T05swbreak:;thread:1;", "T02thread:1;", "OK"])
    #expect(try host.memory.read(at: GuestAddress(0x1000), count: 4) == [0x90, 0x90, 0x90, 0x90], "detach takes the breakpoints out")
    #expect(host.cpu.last.isEmpty)
    // After the detach the hooks leave the guest alone.
    #expect(m.interrupted() == nil && m.debugStop(DebugEvent(kind: .step, programCounter: 0)) == .resume)
    m.guestHalted(HaltStatus(exitStatus: 0))
    #expect(set.finish() == nil)
    #expect(lines().first == "gdb: waiting for a debugger on 127.0.0.1:\(m.port) (gdb: target remote :\(m.port))")
    #expect(lines().last == "gdb: the debugger detached; the guest runs on")
}

@Test func gdbModuleKill() throws {
    let (m, _, set, _, client) = try gdbRun { c in
        _ = c?.ask("?")
        c?.send(packet: "k")
        _ = c?.reply()   // end of stream
    }
    #expect(m.runStarting() == .kill("gdb: the debugger killed the guest"))
    waitFor(client)
    set.finish()
}

@Test func gdbModuleReportsFaultsAndExits() throws {
    final class Log: @unchecked Sendable { var replies: [String?] = [] }
    let log = Log()
    let (m, _, set, _, client) = try gdbRun { c in
        guard let c else { return }
        c.send(packet: "c")
        log.replies.append(c.reply())     // the abort: SIGABRT, at the trap frame's registers
        log.replies.append(c.ask("p10"))  // rip
        log.replies.append(c.ask("P10=0000000000000000"))
        c.send(packet: "c")
        log.replies.append(c.reply())     // then the exit
        log.replies.append(c.reply())     // closed
    }
    #expect(m.runStarting() == .resume)
    m.guestHalted(HaltStatus(exitStatus: 255, cookie: GuestAddress(0x2000)))
    waitFor(client)
    #expect(log.replies == ["T06thread:1;", "bc0a000000000000", "E01", "Wff", nil])
    set.finish()

    let log2 = Log()
    let (m2, _, set2, _, client2) = try gdbRun { c in
        guard let c else { return }
        c.send(packet: "c")
        log2.replies.append(c.reply())    // the fault
        c.send(packet: "s")
        log2.replies.append(c.reply())    // the run ends with it
    }
    #expect(m2.runStarting() == .resume)
    m2.guestFaulted(GuestFault(kind: .protection, message: "KVM: host/guest translation fault: rip=0x1000"))
    waitFor(client2)
    #expect(log2.replies == ["T0bthread:1;", "X0b"])
    set2.finish()
}

@Test func gdbModuleSurvivesAClosedConnectionAndGarbage() throws {
    let (m, host, set, lines, client) = try gdbRun { c in
        guard let c else { return }
        c.send(Array("$Z0,1001,1#xx+-$$$}}}#00".utf8) + [UInt8](repeating: 0x7d, count: 20000))
        _ = c.ask("Z0,1001,1")
        c.send(packet: "m" + String(repeating: "f", count: 40) + ",10")
        // Close without detaching.
    }
    #expect(m.runStarting() == .resume)
    waitFor(client)
    #expect(lines().last?.hasPrefix("gdb: connection lost (") == true)
    #expect(try host.memory.read(at: GuestAddress(0x1000), count: 4) == [0x90, 0x90, 0x90, 0x90], "breakpoints out when the connection breaks")
    #expect(host.cpu.last.isEmpty)
    set.finish()
}
