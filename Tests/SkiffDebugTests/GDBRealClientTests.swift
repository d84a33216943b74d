// GDBRealClientTests.swift: the gdb stub's protocol layer against Debian's real gdb (and gdb-multiarch) over a loopback socket, with a fake target.
//
// No KVM: the target is registers in memory and a 1 MiB GuestMemory; a
// resume "executes" at once (a step advances the pc by one byte, a continue
// jumps to the first breakpoint). What this checks is what only a real
// client can: that gdb accepts the target descriptions, reads and writes
// registers by its own numbering, reads memory, gets E14 outside guest
// memory, and inserts breakpoints, steps, continues and detaches with these
// replies. Skipped (with the reason) where gdb is not installed.

import Testing
import Foundation
import Glibc
import SkiffCore
import SkiffDebug

func executable(_ name: String) -> String? {
    ["/usr/bin/", "/usr/local/bin/", "/bin/"].map { $0 + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// Serves one gdb connection on 127.0.0.1 (an ephemeral port) from a thread; returns the port.
final class LoopbackStub: @unchecked Sendable {
    let session: GDBSession
    let target: FakeTarget
    let listener: Int32
    let port: UInt16
    var transcript: [UInt8] = []

    init(target: FakeTarget) {
        self.target = target
        session = GDBSession(target: target)
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, len) } }
        _ = listen(listener, 1)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) } }
        self.listener = listener
        port = UInt16(bigEndian: addr.sin_port)
    }

    /// Accepts one connection and serves it until the session ends or gdb hangs up.
    func serve() {
        let fd = accept(listener, nil, nil)
        close(listener)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buf, buf.count)
            guard n > 0 else { return }
            transcript += buf[0..<n]
            var out = session.receive(buf[0..<n])
            if session.state == .running {
                // The fake guest runs: a step moves one byte, a continue goes to the first breakpoint.
                let pcReg = target.architecture == .x86_64 ? 16 : 32
                var r = target.registers
                let next = target.log.last == "step" ? r.programCounter + 1 : (target.breakpoints.first?.address ?? r.programCounter)
                r = session.registerFile.setting(pcReg, to: next, in: r)
                target.registers = r
                out += session.stopped(.trap)
            }
            if !out.isEmpty { _ = out.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
            if session.state == .detached || session.state == .ended { return }
        }
    }
}

/// Runs `gdb -batch` with `commands` against a stub serving `target`; gdb's output.
func runGDB(_ gdb: String, target: FakeTarget, commands: [String]) throws -> (String, LoopbackStub) {
    let stub = LoopbackStub(target: target)
    let server = Thread { stub.serve() }
    server.start()
    let p = Process()
    p.executableURL = URL(fileURLWithPath: gdb)
    p.arguments = ["-batch", "-nx", "-ex", "set remotetimeout 10", "-ex", "target remote 127.0.0.1:\(stub.port)"]
        + commands.flatMap { ["-ex", $0] }
    let pipe = Foundation.Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (String(decoding: data, as: UTF8.self), stub)
}

/// The client's path, or nil after saying loudly that the test is skipped.
func client(_ name: String) -> String? {
    if let p = executable(name) { return p }
    print("SKIPPED: \(name) is not installed (scripts/setup installs it): the real-client gdb test did not run")
    return nil
}

@Test func realGDBDrivesAnX86Session() throws {
    guard let gdb = client("gdb") else { return }
    let mem = try GuestMemory(size: 1 << 20)
    try mem.write([0x90, 0x90, 0x0f, 0x0b, 0xde, 0xad, 0xbe, 0xef], at: GuestAddress(0x10000))
    let t = FakeTarget(memory: mem)
    var r = X86_64Registers()
    r.rip = 0x10000; r.rsp = 0x80000; r.rflags = 0x202; r.cs = 0x33; r.ss = 0x2b; r.rax = 0x1122334455667788; r.fsBase = 0x7000
    t.registers = .x86_64(r)
    let (out, stub) = try runGDB(gdb, target: t, commands: [
        "info registers rip rsp rax eflags cs fs_base",
        "x/4xb 0x10004",
        "x/xb 0x100000",
        "set var $rbx = 0xabcdef",
        "p/x $rbx",
        "stepi",
        "p/x $pc",
        "break *0x10002",
        "continue",
        "p/x $pc",
        "detach",
    ])
    #expect(out.contains("rip            0x10000"), "\(out)")
    #expect(out.contains("rsp            0x80000"))
    #expect(out.contains("rax            0x1122334455667788"))
    #expect(out.contains("cs             0x33"))
    #expect(out.contains("fs_base        0x7000"))
    #expect(out.contains("0x10004:\t0xde\t0xad\t0xbe\t0xef"))
    #expect(out.contains("Cannot access memory at address 0x100000"))
    #expect(out.contains("$1 = 0xabcdef"))
    if case .x86_64(let now) = t.registers { #expect(now.rbx == 0xabcdef) }
    #expect(out.contains("$2 = 0x10001"))
    #expect(out.contains("Breakpoint 1 at 0x10002"))
    #expect(out.contains("$3 = 0x10002"))
    #expect(t.log.contains("step") && t.log.contains("continue") && t.log.last == "detach")
    #expect(String(decoding: stub.transcript, as: UTF8.self).contains("$qXfer:features:read:target.xml:0,"),
            "gdb fetched the target description")
}

@Test func realGDBDrivesAnAArch64Session() throws {
    guard let gdb = client("gdb-multiarch") else { return }
    let mem = try GuestMemory(size: 1 << 20)
    try mem.write([0x1f, 0x20, 0x03, 0xd5], at: GuestAddress(0x20000))   // nop
    let t = FakeTarget(.aarch64, memory: mem)
    var r = AArch64Registers()
    r.pc = 0x20000; r.sp = 0x90000; r.pstate = 0x3c5; r.setX(0, 42); r.setX(30, 0x20010)
    t.registers = .aarch64(r)
    let (out, _) = try runGDB(gdb, target: t, commands: [
        "info registers pc sp x0 x30 cpsr",
        "x/i $pc",
        "set var $x1 = 7",
        "p $x1",
        "detach",
    ])
    #expect(out.contains("pc             0x20000"), "\(out)")
    #expect(out.contains("sp             0x90000"))
    #expect(out.contains("x0             0x2a"))
    #expect(out.contains("x30            0x20010"))
    #expect(out.contains("cpsr           0x3c5"))
    #expect(out.contains("nop"))
    #expect(out.contains("$1 = 7"))
    if case .aarch64(let now) = t.registers { #expect(now.x(1) == 7) }
}
