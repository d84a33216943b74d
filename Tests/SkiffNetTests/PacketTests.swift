// PacketTests.swift: the parsers (Ethernet, ARP, IPv4, UDP, TCP options), checksums and address parsing, including malformed input.

import Testing
@testable import SkiffNetCore

@Test func addressParsing() {
    #expect(IPv4Address("10.77.0.2") == IPv4Address(10, 77, 0, 2))
    #expect(IPv4Address("10.77.0.2")?.description == "10.77.0.2")
    for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "a.b.c.d", "1.2.3.4 ", "1234.1.1.1"] {
        #expect(IPv4Address(bad) == nil, "accepted \(bad)")
    }
    #expect(MACAddress(raw: 0x0200_0000_00ab).description == "02:00:00:00:00:ab")
}

@Test func configFromCommandLine() {
    let d = NetConfig(address: IPv4Address(10, 0, 0, 2))
    let r = NetConfig.parse(["ip=10.1.2.3/16", "gw=10.1.0.1", "port=80"], default: d)
    #expect(r.config == NetConfig(address: IPv4Address(10, 1, 2, 3), prefixLength: 16, gateway: IPv4Address(10, 1, 0, 1)))
    #expect(r.rest == ["port=80"])
    #expect(NetConfig.parse(["ip=10.1.2"], default: d).error != nil)
    #expect(NetConfig.parse(["ip=10.1.2.3/33"], default: d).error != nil)
    #expect(NetConfig.parse(["gw=x"], default: d).error != nil)
    #expect(NetConfig(address: IPv4Address(10, 1, 2, 3), prefixLength: 16).isLocal(IPv4Address(10, 1, 200, 1)))
    #expect(!NetConfig(address: IPv4Address(10, 1, 2, 3), prefixLength: 16).isLocal(IPv4Address(10, 2, 0, 1)))
}

@Test func checksumKnownVector() {
    // RFC 1071's example bytes: sum 0xddf2 → checksum 0x220d.
    let b: [UInt8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]
    #expect(Checksum.finish(Checksum.sum(b, 0, b.count)) == 0x220d)
    // Odd length pads with a zero byte; ranges past the end are clipped.
    #expect(Checksum.sum([0x12], 0, 1) == 0x1200)
    #expect(Checksum.sum([0x12], 0, 100) == 0x1200)
    #expect(Checksum.sum([0x12], -5, 3) == 0)
}

@Test func ipv4Validation() {
    let good = ipFrame(proto: IPProtocol.udp, [UInt8](repeating: 0, count: 8))
    guard case .success(let p) = IPv4Packet.parse(good, at: 14, end: good.count) else { Issue.record("rejected"); return }
    #expect(p.source == clientIP && p.destination == serverIP && p.ttl == 64 && !p.isFragment)
    #expect(p.payloadStart == 34 && p.payloadEnd == 42)

    var bad = good; bad[24] ^= 0xff
    #expect(IPv4Packet.parse(bad, at: 14, end: bad.count).isChecksumFailure)
    var v6 = good; v6[14] = 0x65
    if case .failure(let e) = IPv4Packet.parse(v6, at: 14, end: v6.count) { #expect(e == .version) } else { Issue.record("v6 accepted") }
    #expect(IPv4Packet.parse(good, at: 14, end: 30).isFailure)               // truncated
    var long = good; long.put16(16, 2000); long.put16(24, 0); long.put16(24, Checksum.finish(Checksum.sum(long, 14, 20)))
    #expect(IPv4Packet.parse(long, at: 14, end: long.count).isFailure)       // total length past the frame
    var frag = good; frag.put16(20, 0x2000); frag.put16(24, 0); frag.put16(24, Checksum.finish(Checksum.sum(frag, 14, 20)))
    if case .success(let q) = IPv4Packet.parse(frag, at: 14, end: frag.count) { #expect(q.isFragment) } else { Issue.record("fragment rejected") }
}

@Test func tcpOptionsAndChecksum() {
    let f = tcpSegment(seq: 5, flags: .syn, mss: 1200)
    guard case .success(let ip) = IPv4Packet.parse(f, at: 14, end: f.count),
          let s = TCPSegment.parse(f, at: ip.payloadStart, end: ip.payloadEnd, source: ip.source, destination: ip.destination)
    else { Issue.record("rejected"); return }
    #expect(s.mss == 1200 && s.flags.has(.syn) && s.sequence == 5 && s.sequenceLength == 1)
    var bad = f; bad[f.count - 1] ^= 1
    #expect(TCPSegment.parse(bad, at: 34, end: bad.count, source: clientIP, destination: serverIP) == nil)
    // An option whose length runs past the header is refused.
    var opt = tcpSegment(seq: 5, flags: .syn, mss: 1200)
    opt[34 + 21] = 40
    #expect(TCPSegment.parse(opt, at: 34, end: opt.count, source: clientIP, destination: serverIP) == nil)
    // A data offset below 5 words, or past the segment.
    var off = f; off[34 + 12] = 0x40
    #expect(TCPSegment.parse(off, at: 34, end: off.count, source: clientIP, destination: serverIP) == nil)
    off[34 + 12] = 0xf0
    #expect(TCPSegment.parse(off, at: 34, end: off.count, source: clientIP, destination: serverIP) == nil)
}

@Test func sequenceArithmeticWraps() {
    #expect(seqLT(0xffff_fff0, 0x10))
    #expect(seqGT(0x10, 0xffff_fff0))
    #expect(seqLE(5, 5) && seqGE(5, 5) && !seqLT(5, 5))
}

@Test func randomFramesNeverTrap() {
    // A quick in-process version of the fuzz target (Fuzz/NetFuzz): mutated real frames and random bytes.
    var rng: UInt64 = 0x1234_5678
    func next() -> UInt64 { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng }
    let stack = makeStack()
    _ = try? stack.listen(port: 80)
    let seeds = [tcpSegment(seq: 1, flags: .syn, mss: 1460), ipFrame(proto: IPProtocol.udp, [0, 7, 0, 7, 0, 12, 0, 0, 1, 2, 3, 4]),
                 ipFrame(proto: IPProtocol.icmp, [8, 0, 0, 0, 0, 1, 0, 1])]
    for i in 0..<20000 {
        var f = seeds[i % seeds.count]
        let flips = Int(next() % 6)
        for _ in 0..<flips { f[Int(next() % UInt64(f.count))] = UInt8(truncatingIfNeeded: next()) }
        let len = next() % 4 == 0 ? Int(next() % UInt64(f.count + 1)) : f.count
        stack.input(f, length: len, now: UInt64(i) * ms)
        if i % 100 == 0 { stack.tick(now: UInt64(i) * ms) }
        _ = stack.takeOutput()
    }
    #expect(stack.stats.framesIn == 20000)
}

extension Result where Failure == IPv4Packet.Failure {
    var isFailure: Bool { if case .failure = self { return true } else { return false } }
    var isChecksumFailure: Bool { if case .failure(.checksum) = self { return true } else { return false } }
}
