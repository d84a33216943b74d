// GDBFuzz/main.swift: libFuzzer target for the gdb stub's packet reader, command decoder and session, with a hostile debugger.
//
// The GDBFuzz target of Fuzz/Package.swift; scripts/fuzz builds it with -sanitize=fuzzer,address.
//
// Input: byte 0 picks the architecture (bit 0) and how the rest is split into
// reads (bits 1-7: a chunk size, 0 = byte by byte); the rest is what the
// debugger sends. It goes to a GDBSession whose target reads and writes a
// 1 MiB guest (PROT_NONE guard pages around it; its page 0x4000 read-only
// and page 0x5000 unreadable on the host, as the loader protects text) with
// GuestMemory's debugger accessors; after every resume the guest "stops"
// with a trap at once. The same bytes then drive a session over the real
// target (GDBVCPUTarget: software breakpoints written into the guest, through
// the read-only page too; hardware slots) on a fake vCPU, which is then
// detached. Checked, besides "no trap, no sanitizer report":
//   - everything the session sends is acks and well-formed packets;
//   - the reader yields the same events fed whole as fed in chunks;
//   - the target is never asked for more than GDBSession.maxMemoryRead bytes;
//   - every packet the session could send decodes back (encode/decode round trip of the input);
//   - the real target never hands the vCPU more hardware than it has, and after the detach no
//     breakpoint is left and the vCPU traps on nothing.

import Glibc
import FuzzSupport
import SkiffCore
import SkiffDebug

let guestSize: UInt64 = 1 << 20
let memory: GuestMemory = {
    let m = try! GuestMemory(size: guestSize)
    addGuardPages(around: m)
    _ = m.protect(at: GuestAddress(0x4000), count: 0x1000, writable: false, readable: true)
    _ = m.protect(at: GuestAddress(0x5000), count: 0x1000, writable: false, readable: false)
    return m
}()

final class Target: GDBTarget {
    let architecture: GuestArchitecture
    var registers: CPURegisters
    var breakpoints: [GDBBreakpoint] = []
    init(_ a: GuestArchitecture) {
        architecture = a
        registers = a == .x86_64 ? .x86_64(X86_64Registers()) : .aarch64(AArch64Registers())
    }
    func readRegisters() throws(GDBTargetError) -> CPURegisters { registers }
    func writeRegisters(_ r: CPURegisters) throws(GDBTargetError) {
        invariant(r.architecture == architecture, "registers of the other architecture written")
        registers = r
    }
    func readMemory(at address: UInt64, count: Int) throws(GDBTargetError) -> [UInt8] {
        invariant(count > 0 && count <= GDBSession.maxMemoryRead, "memory read of \(count) bytes")
        let b = try memory.debuggerRead(at: address, count: count)
        invariant(b.count <= count && address < guestSize, "read past the request or outside")
        return b
    }
    func writeMemory(_ bytes: [UInt8], at address: UInt64) throws(GDBTargetError) {
        try memory.debuggerWrite(bytes, at: address)
        invariant(address + UInt64(bytes.count) <= guestSize, "write outside guest memory accepted")
    }
    func insertBreakpoint(_ b: GDBBreakpoint) throws(GDBTargetError) {
        guard b.kind == .software || b.kind == .hardware, breakpoints.count < 64 else { throw .unsupported }
        breakpoints.append(b)
    }
    func removeBreakpoint(_ b: GDBBreakpoint) throws(GDBTargetError) {
        guard let i = breakpoints.firstIndex(of: b) else { throw .failed("none") }
        breakpoints.remove(at: i)
    }
    func resume(_ mode: GDBResume) throws(GDBTargetError) {}
    func interrupt() {}
    func detach() {}
    func kill() {}
}

/// A vCPU with x86's four debug registers, checking what the target asks of it.
final class FuzzCPU: DebuggableCPU {
    var registers: CPURegisters
    var last = GuestDebugControl()
    let debugCapabilities: DebugCapabilities
    init(_ a: GuestArchitecture) {
        registers = a == .x86_64 ? .x86_64(X86_64Registers()) : .aarch64(AArch64Registers())
        debugCapabilities = a == .x86_64
            ? DebugCapabilities(hardwareBreakpoints: 4, watchpoints: 4, breakpointInstruction: [0xcc], stepping: true)
            : DebugCapabilities(hardwareBreakpoints: 6, watchpoints: 4, readWatchpoints: true,
                                breakpointInstruction: [0x00, 0x00, 0x20, 0xd4], stepping: true)
    }
    func readRegisters() throws(BackendError) -> CPURegisters { registers }
    func writeRegisters(_ r: CPURegisters) throws(BackendError) {
        invariant(r.architecture == registers.architecture, "registers of the other architecture written")
        registers = r
    }
    func setGuestDebug(_ c: GuestDebugControl) throws(BackendError) {
        let executes = c.hardware.filter { $0.kind == .execute }.count
        invariant(executes <= debugCapabilities.hardwareBreakpoints && c.hardware.count - executes <= debugCapabilities.watchpoints,
                  "more hardware than the vCPU has")
        guard c.hardware.count <= 4 else { throw BackendError("4 slots") }
        last = c
    }
}

/// Checks `out` is only acks and well-formed packets.
func checkOutput(_ out: [UInt8]) {
    var r = GDBPacketReader()
    for e in r.feed(out) {
        switch e {
        case .ack, .nack, .packet: break
        default: invariant(false, "the session sent a broken packet: \(e)")
        }
    }
}

func fuzzGDB(_ bytes: [UInt8]) {
    guard let head = bytes.first else { return }
    let stream = Array(bytes.dropFirst())
    let chunk = Int(head >> 1)
    // Reader: whole vs. in chunks.
    var whole = GDBPacketReader(), pieces = GDBPacketReader()
    let a = whole.feed(stream)
    var b: [GDBInput] = []
    var i = 0
    while i < stream.count {
        let n = max(1, chunk)
        b += pieces.feed(stream[i..<min(stream.count, i + n)])
        i += n
    }
    invariant(a == b, "reader events differ between one read and chunks")
    // Every decoded packet survives encode → decode.
    for case .packet(let p) in a {
        var r = GDBPacketReader()
        invariant(r.feed(GDBPacket.encode(p)).map { e -> [UInt8]? in
            if case .packet(let q) = e { return GDBPacket.unescape(q) } else { return nil }
        } == [p], "encode/decode round trip")
        _ = GDBCommand.parse(p)
    }
    // The session.
    let s = GDBSession(target: Target(head & 1 == 0 ? .x86_64 : .aarch64))
    i = 0
    while i < stream.count {
        let n = max(1, chunk)
        checkOutput(s.receive(stream[i..<min(stream.count, i + n)]))
        if s.state == .running { checkOutput(s.stopped(.trap)) }
        i += n
    }
    // The real target over a fake vCPU; the guest memory is shared by every input: detach puts it back.
    let cpu = FuzzCPU(head & 1 == 0 ? .x86_64 : .aarch64)
    let target = GDBVCPUTarget(cpu: cpu, memory: memory, architecture: head & 1 == 0 ? .x86_64 : .aarch64)
    let v = GDBSession(target: target)
    i = 0
    while i < stream.count {
        let n = max(1, chunk)
        checkOutput(v.receive(stream[i..<min(stream.count, i + n)]))
        if v.state == .running { checkOutput(v.stopped(target.stop(for: DebugEvent(kind: .softwareBreakpoint, programCounter: 0x1000)))) }
        i += n
    }
    target.detach()
    invariant(target.softwareBreakpoints.isEmpty && target.hardware.isEmpty && cpu.last.isEmpty, "breakpoints left after detach")
}

@_cdecl("GDBFuzz_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    libFuzzerMain(argc, argv, fuzzOne)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size > 0 ? Array(UnsafeBufferPointer(start: data!, count: size)) : []
    fuzzGDB(bytes)
    return 0
}
