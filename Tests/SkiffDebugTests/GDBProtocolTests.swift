// GDBProtocolTests.swift: the gdb stub's framing, command decoding, register files and session against a fake target over real GuestMemory; hostile input.

import Testing
import SkiffCore
import SkiffDebug

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

// MARK: Framing

@Test func packetsAcksAndInterrupts() {
    var r = GDBPacketReader()
    #expect(r.feed(bytes("+$g#67-")) == [.ack, .packet(bytes("g")), .nack])
    #expect(r.feed([0x03]) == [.interrupt])
    #expect(r.feed(bytes("junk$?#3f")) == [.packet(bytes("?"))])
    // Split across reads, in every place.
    let whole = packet("m100,4")
    #expect(text(whole) == "$m100,4#5e")
    for cut in 0...whole.count {
        var s = GDBPacketReader()
        #expect(s.feed(whole[..<cut]) + s.feed(whole[cut...]) == [.packet(bytes("m100,4"))], "cut at \(cut)")
    }
    // Upper-case checksum digits are accepted.
    #expect(GDBPacketReader().feedAll("$qC#B4") == [.packet(bytes("qC"))])
}

extension GDBPacketReader {
    func feedAll(_ s: String) -> [GDBInput] { var r = self; return r.feed(bytes(s)) }
}

@Test func badChecksumsAndRestarts() {
    #expect(GDBPacketReader().feedAll("$g#00") == [.corrupt])
    #expect(GDBPacketReader().feedAll("$g#6") == [])                 // incomplete: waits
    #expect(GDBPacketReader().feedAll("$g#zz") == [.corrupt])
    #expect(GDBPacketReader().feedAll("$g#6z") == [.corrupt])
    #expect(GDBPacketReader().feedAll("$gar$g#67") == [.packet(bytes("g"))])   // a '$' restarts the packet
    #expect(GDBPacketReader().feedAll("$#00") == [.packet([])])
}

@Test func runLengthAndEscapes() {
    // "0* " = '0' repeated 1 + (32 - 29) = 4 times.
    #expect(GDBPacketReader.runLengthDecode(bytes("0* ")) == bytes("0000"))
    #expect(GDBPacketReader.runLengthDecode(bytes("ab*\"c")) == bytes("abbbbbbc"))
    #expect(GDBPacketReader.runLengthDecode(bytes("*a")) == nil)        // nothing to repeat
    #expect(GDBPacketReader.runLengthDecode(bytes("a*")) == nil)        // no count
    #expect(GDBPacketReader.runLengthDecode([0x61, 0x2a, 0x1f]) == nil) // count below 32
    #expect(GDBPacketReader.runLengthDecode([0x61, 0x2a, 0x7f]) == nil) // count above 126
    let encoded = GDBPacket.encode([0x24, 0x23, 0x7d, 0x2a, 0x41])
    #expect(text(encoded) == "$}\u{04}}\u{03}}]}\u{0a}A#" + text(GDBPacket.hexByte(checksum(Array(encoded[1..<(encoded.count - 3)])))))
    var r = GDBPacketReader()
    guard case .packet(let p)? = r.feed(encoded).first else { Issue.record("no packet"); return }
    #expect(GDBPacket.unescape(p) == [0x24, 0x23, 0x7d, 0x2a, 0x41])
    #expect(GDBPacket.unescape(bytes("ab}")) == nil)
}

func checksum(_ b: [UInt8]) -> UInt8 { b.reduce(0, &+) }

func packet(_ payload: String) -> [UInt8] {
    bytes("$" + payload + "#") + GDBPacket.hexByte(checksum(bytes(payload)))
}

@Test func oversizedPacketsAreRejectedNotStored() {
    var r = GDBPacketReader()
    let big = String(repeating: "a", count: GDBPacketReader.maxPayload + 1000)
    #expect(r.feed(packet(big)) == [.tooLong])
    #expect(r.feed(packet("g")) == [.packet(bytes("g"))])
    // Run-length expansion past the limit.
    let expanding = String(repeating: "a*~", count: GDBPacketReader.maxPayload / 97 + 10)
    #expect(r.feed(packet(expanding)) == [.malformed])
}

// MARK: Commands

@Test func commandDecoding() {
    func c(_ s: String) -> GDBCommand { GDBCommand.parse(bytes(s)) }
    #expect(c("?") == .haltReason && c("g") == .readRegisters)
    #expect(c("G0102xx") == .writeRegisters([1, 2, 0]))
    #expect(c("p10") == .readRegister(16) && c("P1f=0100000000000000") == .writeRegister(31, [1, 0, 0, 0, 0, 0, 0, 0]))
    #expect(c("m100000,40") == .readMemory(address: 0x100000, length: 0x40))
    #expect(c("mffffffffffffffff,ffffffff") == .readMemory(address: .max, length: 0xffff_ffff))
    #expect(c("M2000,2:abcd") == .writeMemory(address: 0x2000, data: [0xab, 0xcd]))
    #expect(GDBCommand.parse(bytes("X2000,3:") + [0x7d, 0x03, 0x00, 0x41]) == .writeMemory(address: 0x2000, data: [0x23, 0, 0x41]))
    #expect(c("X2000,0:") == .writeMemory(address: 0x2000, data: []))
    #expect(c("c") == .resume(.continue, address: nil) && c("s100") == .resume(.step, address: 0x100))
    #expect(c("C0b") == .resume(.continue, address: nil) && c("S05;1234") == .resume(.step, address: 0x1234))
    #expect(c("vCont?") == .vContQuery)
    #expect(c("vCont;s:1;c") == .resume(.step, address: nil) && c("vCont;c") == .resume(.continue, address: nil))
    #expect(c("vCont;s:2;c:-1") == .resume(.continue, address: nil) && c("vCont;C05") == .resume(.continue, address: nil))
    #expect(c("Z0,100010,1") == .insertBreakpoint(GDBBreakpoint(kind: .software, address: 0x100010, length: 1)))
    #expect(c("z1,100010,4") == .removeBreakpoint(GDBBreakpoint(kind: .hardware, address: 0x100010, length: 4)))
    #expect(c("Z2,2000,8;X1,0") == .insertBreakpoint(GDBBreakpoint(kind: .writeWatch, address: 0x2000, length: 8)))
    #expect(c("qSupported:multiprocess+;swbreak+") == .querySupported(["multiprocess+", "swbreak+"]))
    #expect(c("qXfer:features:read:target.xml:0,ffb") == .readFeatures(annex: "target.xml", offset: 0, length: 0xffb))
    #expect(c("qAttached:1") == .queryAttached && c("qC") == .queryCurrentThread)
    #expect(c("qfThreadInfo") == .threadInfo(first: true) && c("qsThreadInfo") == .threadInfo(first: false))
    #expect(c("Hg0") == .setThread && c("Hc-1") == .setThread && c("T1") == .threadAlive(1))
    #expect(c("D") == .detach && c("D;1") == .detach && c("k") == .kill && c("vKill;1") == .kill)
    #expect(c("QStartNoAckMode") == .startNoAckMode && c("qSymbol::") == .symbolLookupDone)
    #expect(c("") == .unsupported && c("qTStatus") == .unsupported && c("vMustReplyEmpty") == .unsupported && c("!") == .unsupported)
}

@Test func malformedCommands() {
    let bad = ["g1", "?x", "G0", "Gzz", "p", "pzz", "p123456789", "P1f", "P1f=", "P=00", "m", "m100", "m100,", "m,4",
               "mzz,4", "m10000000000000000,1", "m1,100000000", "M100,2:ab", "M100,1:abcd", "M100,1", "X100,2:a",
               "X100,1:}", "s1g", "C", "Cxyz", "S05;", "Z9,1,1", "Z0,1", "Z0,,1", "Zx,1,1", "H", "Hx1", "Hg", "T",
               "D1", "D;", "vCont;", "vCont;x", "vCont;cc", "vCont;c:zz", "vCont;s:2",
               "qXfer:features:read:target.xml", "qXfer:features:read:target.xml:0", "qXfer:features:read:target.xml:x,1"]
    for s in bad { #expect(GDBCommand.parse(bytes(s)) == .malformed, "\(s)") }
}

// MARK: Register files

@Test func x86RegisterFileIsGdbsAmd64Layout() throws {
    let f = GDBRegisterFile(.x86_64)
    #expect(f.registers.count == 59 && f.registers[16].name == "rip" && f.registers[17].bits == 32)
    #expect(f.registers[24].name == "st0" && f.registers[24].bits == 80 && f.registers[40].name == "xmm0" && f.registers[56].name == "mxcsr")
    #expect(f.gPacketLength == 2 * (16 * 8 + 8 + 4 + 6 * 4 + 8 * 10 + 8 * 4 + 16 * 16 + 4 + 2 * 8))
    var r = X86_64Registers()
    r.rax = 0x1122334455667788; r.rip = 0x100000; r.rflags = 0x246; r.cs = 0x33; r.fsBase = 0xabc
    let g = f.encode(.x86_64(r))
    #expect(g.count == f.gPacketLength)
    #expect(text(Array(g[0..<16])) == "8877665544332211")
    #expect(text(Array(g[256..<272])) == "0000100000000000")     // rip
    #expect(text(Array(g[272..<280])) == "46020000")             // eflags, 32 bits
    #expect(text(Array(g[280..<288])) == "33000000")             // cs
    #expect(text(Array(g[328..<348])) == String(repeating: "x", count: 20))   // st0: unavailable
    #expect(text(f.encode(register: 57, of: .x86_64(r)) ?? []) == "bc0a000000000000")
    #expect(f.encode(register: 59, of: .x86_64(r)) == nil && f.encode(register: -1, of: .x86_64(r)) == nil)
    // G round trip (unavailable bytes come back as zeros and are ignored).
    let back = try #require(GDBPacket.bytes(fromHex: g.map { $0 == UInt8(ascii: "x") ? UInt8(ascii: "0") : $0 }))
    #expect(f.decode(all: back, over: .x86_64(X86_64Registers())) == .x86_64({ var z = r; z.cs = 0; return z }()))
    #expect(f.decode(all: Array(back.dropLast()), over: .x86_64(r)) == nil)
    #expect(f.decode(register: 0, value: [1, 2, 3], over: .x86_64(r)) == nil)
    #expect(f.decode(register: 17, value: [1, 0, 0, 0], over: .x86_64(r)) == .x86_64({ var z = r; z.rflags = 1; return z }()))
    let xml = f.targetXML
    #expect(xml.contains("<architecture>i386:x86-64</architecture>") && xml.contains("org.gnu.gdb.i386.core"))
    #expect(xml.contains("<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\" regnum=\"16\"/>"))
}

@Test func aarch64RegisterFileIsGdbsCoreLayout() {
    let f = GDBRegisterFile(.aarch64)
    #expect(f.registers.count == 34 && f.registers[31].name == "sp" && f.registers[32].name == "pc" && f.registers[33].bits == 32)
    #expect(f.gPacketLength == 2 * (33 * 8 + 4))
    #expect(GDBRegisterFile(.aarch64, fpu: true).registers.count == 68)
    var r = AArch64Registers()
    r.setX(30, 0x1e); r.pc = 0x100444; r.sp = 0x8000; r.pstate = 0x3c5
    let g = f.encode(.aarch64(r))
    #expect(text(Array(g[480..<496])) == "1e00000000000000" && text(Array(g[512..<528])) == "4404100000000000")
    #expect(text(Array(g[528..<536])) == "c5030000")
    #expect(f.targetXML.contains("org.gnu.gdb.aarch64.core") && !f.targetXML.contains("aarch64.fpu"))
    #expect(GDBRegisterFile(.aarch64, fpu: true).targetXML.contains("<reg name=\"v0\" bitsize=\"128\" type=\"aarch64v\" regnum=\"34\""))
}

// MARK: Session

/// A target over real guest memory, recording what the session asked of it.
final class FakeTarget: GDBTarget {
    let architecture: GuestArchitecture
    let memory: GuestMemory
    var registers: CPURegisters
    var breakpoints: [GDBBreakpoint] = []
    var log: [String] = []

    init(_ arch: GuestArchitecture = .x86_64, memory: GuestMemory) {
        architecture = arch
        self.memory = memory
        var x = X86_64Registers()
        x.rip = 0x100000; x.rsp = 0x200000
        registers = arch == .x86_64 ? .x86_64(x) : .aarch64(AArch64Registers())
    }
    func readRegisters() throws(GDBTargetError) -> CPURegisters { registers }
    func writeRegisters(_ r: CPURegisters) throws(GDBTargetError) { registers = r }
    func readMemory(at address: UInt64, count: Int) throws(GDBTargetError) -> [UInt8] {
        try memory.debuggerRead(at: address, count: count)
    }
    func writeMemory(_ bytes: [UInt8], at address: UInt64) throws(GDBTargetError) { try memory.debuggerWrite(bytes, at: address) }
    func insertBreakpoint(_ b: GDBBreakpoint) throws(GDBTargetError) {
        guard b.kind == .software || b.kind == .hardware else { throw .unsupported }
        breakpoints.append(b)
    }
    func removeBreakpoint(_ b: GDBBreakpoint) throws(GDBTargetError) {
        guard let i = breakpoints.firstIndex(of: b) else { throw .failed("no such breakpoint") }
        breakpoints.remove(at: i)
    }
    func resume(_ mode: GDBResume) throws(GDBTargetError) { log.append(mode == .step ? "step" : "continue") }
    func interrupt() { log.append("interrupt") }
    func detach() { log.append("detach") }
    func kill() { log.append("kill") }
}

/// Sends one packet, returns the reply payload (after the ack), checking its framing.
func ask(_ s: GDBSession, _ payload: String) -> String {
    let acked = !s.noAck
    return reply(s.receive(packet(payload)), acked: acked)
}

func reply(_ out: [UInt8], acked: Bool = true) -> String {
    var o = out
    if acked {
        guard o.first == UInt8(ascii: "+") else { return "<no ack: \(text(o))>" }
        o.removeFirst()
    }
    guard !o.isEmpty else { return "<nothing>" }
    var r = GDBPacketReader()
    guard let e = r.feed(o).first, case .packet(let p) = e else { return "<bad reply: \(text(o))>" }
    return text(GDBPacket.unescape(p) ?? [])
}

@Test func sessionRegistersAndMemory() throws {
    let mem = try GuestMemory(size: 1 << 20)
    try mem.write([0xde, 0xad, 0xbe, 0xef], at: GuestAddress(0x1000))
    let t = FakeTarget(memory: mem)
    let s = GDBSession(target: t)
    #expect(ask(s, "?") == "T05thread:1;")
    let g = ask(s, "g")
    #expect(g.count == s.registerFile.gPacketLength && g.hasPrefix("0000000000000000"))
    #expect(ask(s, "p10") == "0000100000000000")
    #expect(ask(s, "P0=efcdab8967452301") == "OK")
    #expect(t.registers.programCounter == 0x100000 && ask(s, "p0") == "efcdab8967452301")
    #expect(ask(s, "p3b") == "E22")
    #expect(ask(s, "G" + g) == "OK" && ask(s, "p0") == "0000000000000000")
    #expect(ask(s, "G00") == "E22")
    #expect(ask(s, "m1000,4") == "deadbeef")
    #expect(ask(s, "m1000,0") == "")
    #expect(ask(s, "mffffc,10") == "00000000")            // a short read at the end of memory
    #expect(ask(s, "m100000,1") == "E14")                  // first byte outside
    #expect(ask(s, "mfffffffffffffff0,20") == "E14")       // wraps
    #expect(ask(s, "m0,ffffffff").count == 2 * GDBSession.maxMemoryRead)   // clamped to one packet
    #expect(ask(s, "M2000,2:0102") == "OK")
    #expect(try mem.read(at: GuestAddress(0x2000), count: 2) == [1, 2])
    #expect(ask(s, "Mfffff,2:0102") == "E14" && ask(s, "M100000,1:01") == "E14")
    #expect(ask(s, "X3000,2:ab") == "OK")
    #expect(try mem.read(at: GuestAddress(0x3000), count: 2) == [0x61, 0x62])
    #expect(mem.protect(at: GuestAddress(0x4000), count: 0x1000, writable: false, readable: true))
    #expect(ask(s, "M4000,1:01") == "E14" && ask(s, "m4000,1") == "00")   // read-only on the host: readable, not writable
    #expect(mem.protect(at: GuestAddress(0x4000), count: 0x1000, writable: true, readable: true))
}

@Test func sessionRunStopAndBreakpoints() throws {
    let t = FakeTarget(memory: try GuestMemory(size: 1 << 20))
    let s = GDBSession(target: t)
    #expect(ask(s, "qSupported:swbreak+").hasPrefix("PacketSize=4000;qXfer:features:read+"))
    #expect(ask(s, "vCont?") == "vCont;c;C;s;S;t")
    #expect(ask(s, "Z0,100010,1") == "OK" && t.breakpoints.count == 1)
    #expect(ask(s, "Z2,2000,8") == "")                     // unsupported kind: empty, gdb falls back
    #expect(ask(s, "z0,100010,1") == "OK" && ask(s, "z0,100010,1") == "E01")
    #expect(ask(s, "c") == "<nothing>" && s.state == .running && t.log == ["continue"])
    #expect(s.receive(packet("g")) == bytes("+"))          // all-stop: ignored while running
    #expect(s.receive([0x03]).isEmpty && t.log.last == "interrupt")
    #expect(reply(s.stopped(.interrupted), acked: false) == "T02thread:1;" && s.state == .stopped)
    #expect(s.stopped(.trap).isEmpty)                      // already reported
    #expect(ask(s, "s100080") == "<nothing>" && t.registers.programCounter == 0x100080 && t.log.last == "step")
    #expect(reply(s.stopped(.trap), acked: false) == "T05thread:1;")
    #expect(ask(s, "vCont;c:1") == "<nothing>" && s.state == .running)
    #expect(reply(s.stopped(.fault(signal: 11)), acked: false) == "T0bthread:1;")
    #expect(ask(s, "?") == "T0bthread:1;")
    // A resent reply on '-'.
    let last = s.receive(packet("qC"))
    #expect(s.receive(bytes("-")) == Array(last.dropFirst()))
    #expect(ask(s, "D") == "OK" && s.state == .detached && t.log.last == "detach")
    #expect(s.receive(packet("g")) == bytes("+") + GDBPacket.encode("E01"))
}

@Test func sessionEnds() throws {
    let t = FakeTarget(.aarch64, memory: try GuestMemory(size: 1 << 20))
    let s = GDBSession(target: t)
    #expect(ask(s, "c") == "<nothing>")
    #expect(reply(s.stopped(.exited(status: 0)), acked: false) == "W00" && s.state == .ended)
    let k = GDBSession(target: t)
    #expect(k.receive(packet("k")) == bytes("+") && k.state == .ended && t.log.last == "kill")
    let f = GDBSession(target: t)
    #expect(reply(f.stopped(.terminated(signal: 11)), acked: false) == "X0b")
}

@Test func sessionTargetDescriptionInChunks() throws {
    let s = GDBSession(target: FakeTarget(memory: try GuestMemory(size: 1 << 20)))
    var xml = ""
    var offset = 0
    while true {
        let r = ask(s, "qXfer:features:read:target.xml:\(String(offset, radix: 16)),100")
        guard let kind = r.first, kind == "m" || kind == "l" else { Issue.record("bad chunk \(r)"); return }
        xml += r.dropFirst()
        offset += r.utf8.count - 1
        if kind == "l" { break }
    }
    #expect(xml == s.registerFile.targetXML)
    #expect(ask(s, "qXfer:features:read:other.xml:0,100") == "E00")
    #expect(ask(s, "qXfer:features:read:target.xml:ffffff,100") == "E22")
}

@Test func sessionNoAckMode() throws {
    let s = GDBSession(target: FakeTarget(memory: try GuestMemory(size: 1 << 20)))
    #expect(ask(s, "QStartNoAckMode") == "OK" && s.noAck)
    #expect(s.receive(packet("qC")) == GDBPacket.encode("QC1"))
    #expect(s.receive(bytes("$g#00")).isEmpty)            // a corrupt packet is dropped, no '-'
}

@Test func sessionRepliesToHostileBytes() throws {
    let s = GDBSession(target: FakeTarget(memory: try GuestMemory(size: 1 << 20)))
    #expect(s.receive(bytes("$g#00")) == bytes("-"))
    #expect(reply(s.receive(packet("m100,"))) == "E22")
    #expect(reply(s.receive(packet(String(repeating: "M", count: 20000)))) == "E22")
    #expect(reply(s.receive(packet("*!"))) == "E22")
}

/// Random and mutated packets never trap and never touch memory outside (GuestMemory would trap
/// on a bad host access; the guard is its checks). A deterministic generator keeps failures reproducible.
@Test func sessionSurvivesRandomInput() throws {
    var seed: UInt64 = 0x5eed
    func next() -> UInt64 { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return seed >> 33 }
    let mem = try GuestMemory(size: 1 << 20)
    let t = FakeTarget(memory: mem)
    let seeds = ["g", "G" + String(repeating: "0", count: 1072), "p10", "P10=0000000000000000", "m0,10", "mfffff,10",
                 "M0,2:0102", "X10,1:a", "c", "s", "Z0,0,1", "z0,0,1", "qXfer:features:read:target.xml:0,40",
                 "qSupported", "vCont;c", "D", "k", "H g0", "T1", "?"]
    let alphabet = bytes("0123456789abcdefxX,:;=$#}*-+mMgGpPcsZzqvD") + [0x03, 0x00, 0xff]
    for _ in 0..<20_000 {
        let s = GDBSession(target: t)
        for _ in 0..<4 {
            var p = bytes(seeds[Int(next() % UInt64(seeds.count))])
            for _ in 0..<Int(next() % 4) {
                let i = p.isEmpty ? 0 : Int(next() % UInt64(p.count))
                switch next() % 3 {
                case 0: p.insert(alphabet[Int(next() % UInt64(alphabet.count))], at: i)
                case 1: if !p.isEmpty { p.remove(at: i) }
                default: if !p.isEmpty { p[i] = alphabet[Int(next() % UInt64(alphabet.count))] }
                }
            }
            let framed = next() % 8 == 0 ? p : packet(text(p))
            _ = s.receive(framed)
            if s.state == .running { _ = s.stopped(.trap) }
        }
    }
}
