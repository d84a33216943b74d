// NetFuzz/main.swift: libFuzzer target for the SkiffNet stack (Guest/Net/Core): hostile frames into a NetStack with a live TCP connection.
//
// The NetFuzz target of Fuzz/Package.swift; scripts/fuzz builds it with -sanitize=fuzzer,address.
//
// Input: byte 0 holds flags, the rest is frames, each a 2-byte big-endian
// length and that many bytes (a short last frame is used as it is). Flags:
//   bit 0: fix up the IPv4 header checksum and the TCP/UDP/ICMP checksum of each frame
//          (so the fuzzer reaches past the checksum checks);
//   bit 1: aim each frame at the stack (destination MAC and IPv4 address) from the client;
//   bit 2: TCP sequence and acknowledgment fields are offsets from the live connection's
//          RCV.NXT and SND.UNA (so the fuzzer reaches the in-window paths);
//   bit 3: the application writes 20 000 bytes before the frames; bit 4: it closes after them;
//   bit 5: a second stack running the DHCP client (no address yet) gets every frame too, and
//          frames that are UDP get ports 67 → 68 and the client's current transaction id;
//   bit 6: the stack also connects to 10.77.0.1:40000 from port 50000 (active open, SYN-SENT),
//          so frames can answer its SYN (the ISN is fixed by the seed and the clock).
// Before the frames the harness opens a connection (SYN, SYN-ACK, ACK from 10.77.0.1:40000 to
// port 80). Between frames the clock moves by 0-255 ms (the frame's first byte) and timers run.
// Checked, besides "no trap, no sanitizer report":
//   - every frame the stack sends parses back: Ethernet, then ARP or IPv4 with a valid header
//     checksum and a TCP/UDP/ICMP payload whose checksum verifies, never above the MTU;
//   - every connection keeps SND.UNA <= SND.NXT <= SND.MAX and a receive queue within its capacity;
//   - a listener never holds more than its backlog of half-open and unaccepted connections.

import FuzzSupport
import SkiffNetCore

let serverMAC = MACAddress(raw: 0x02_00_00_00_00_02)
let serverIP = IPv4Address(10, 77, 0, 2)
let clientMAC = MACAddress(raw: 0x02_00_00_00_00_01)
let clientIP = IPv4Address(10, 77, 0, 1)

func be16(_ f: [UInt8], _ i: Int) -> Int { Int(f[i]) << 8 | Int(f[i + 1]) }
func put16(_ f: inout [UInt8], _ i: Int, _ v: Int) { f[i] = UInt8(truncatingIfNeeded: v >> 8); f[i + 1] = UInt8(truncatingIfNeeded: v) }
func be32(_ f: [UInt8], _ i: Int) -> UInt32 { UInt32(be16(f, i)) << 16 | UInt32(be16(f, i + 2)) }
func put32(_ f: inout [UInt8], _ i: Int, _ v: UInt32) { put16(&f, i, Int(v >> 16)); put16(&f, i + 2, Int(v & 0xffff)) }
func putMAC(_ f: inout [UInt8], _ i: Int, _ m: MACAddress) { for k in 0..<6 { f[i + k] = UInt8(truncatingIfNeeded: m.raw >> UInt64(40 - 8 * k)) } }
func putIP(_ f: inout [UInt8], _ i: Int, _ a: IPv4Address) { put32(&f, i, a.raw) }

/// A client frame: Ethernet + IPv4 + TCP with valid checksums.
func tcp(seq: UInt32, ack: UInt32, flags: UInt8, data: [UInt8] = []) -> [UInt8] {
    var f = [UInt8](repeating: 0, count: 54) + data
    putMAC(&f, 0, serverMAC); putMAC(&f, 6, clientMAC); put16(&f, 12, 0x0800)
    f[14] = 0x45; put16(&f, 16, 40 + data.count); f[22] = 64; f[23] = 6
    putIP(&f, 26, clientIP); putIP(&f, 30, serverIP)
    put16(&f, 34, 40000); put16(&f, 36, 80); put32(&f, 38, seq); put32(&f, 42, ack)
    f[46] = 5 << 4; f[47] = flags; put16(&f, 48, 65535)
    fixChecksums(&f)
    return f
}

/// Recomputes the IPv4 header checksum and the transport checksum, where the lengths allow.
func fixChecksums(_ f: inout [UInt8]) {
    guard f.count >= 34, be16(f, 12) == 0x0800 else { return }
    let ihl = Int(f[14] & 15) * 4
    guard ihl >= 20, 14 + ihl <= f.count else { return }
    put16(&f, 24, 0)
    put16(&f, 24, Int(Checksum.finish(Checksum.sum(f, 14, ihl))))
    let total = be16(f, 16)
    guard total >= ihl, 14 + total <= f.count else { return }
    let o = 14 + ihl, n = total - ihl
    let src = IPv4Address(raw: be32(f, 26)), dst = IPv4Address(raw: be32(f, 30))
    switch f[23] {
    case 6 where n >= 20:
        put16(&f, o + 16, 0)
        put16(&f, o + 16, Int(Checksum.finish(Checksum.sum(f, o, n, initial: Checksum.pseudo(src: src, dst: dst, proto: 6, length: n)))))
    case 17 where n >= 8:
        put16(&f, o + 6, 0)
        put16(&f, o + 6, Int(Checksum.finish(Checksum.sum(f, o, n, initial: Checksum.pseudo(src: src, dst: dst, proto: 17, length: n)))))
    case 1 where n >= 4:
        put16(&f, o + 2, 0)
        put16(&f, o + 2, Int(Checksum.finish(Checksum.sum(f, o, n))))
    default: break
    }
}

/// Everything the stack sent must be well formed.
func checkOutput(_ frames: [[UInt8]], mtu: Int) {
    for f in frames {
        invariant(f.count >= 14 && f.count <= mtu + 14, "output frame of \(f.count) bytes")
        guard let e = EthernetFrame.parse(f, length: f.count) else { invariant(false, "unparsable output frame"); continue }
        invariant(e.source == serverMAC, "output from another MAC")
        if e.type == EtherType.arp {
            invariant(ARPPacket.parse(f, at: 14, end: f.count) != nil, "malformed ARP sent")
            continue
        }
        invariant(e.type == EtherType.ipv4, "output of ethertype \(e.type)")
        guard case .success(let ip) = IPv4Packet.parse(f, at: 14, end: f.count) else { invariant(false, "malformed IPv4 sent"); continue }
        invariant(!ip.isFragment && ip.source == serverIP && ip.ttl == 64, "bad IPv4 header sent")
        switch ip.proto {
        case IPProtocol.tcp:
            invariant(TCPSegment.parse(f, at: ip.payloadStart, end: ip.payloadEnd, source: ip.source, destination: ip.destination) != nil,
                      "TCP segment with a bad checksum or header sent")
        case IPProtocol.udp:
            invariant(UDPDatagram.parse(f, at: ip.payloadStart, end: ip.payloadEnd, source: ip.source, destination: ip.destination) != nil,
                      "bad UDP datagram sent")
        case IPProtocol.icmp:
            invariant(Checksum.finish(Checksum.sum(f, ip.payloadStart, ip.payloadEnd - ip.payloadStart)) == 0, "bad ICMP checksum sent")
        default:
            invariant(false, "IPv4 protocol \(ip.proto) sent")
        }
    }
}

func fuzzNet(_ input: [UInt8]) {
    guard !input.isEmpty else { return }
    let flags = input[0]
    let stack = NetStack(mac: serverMAC, config: NetConfig(address: serverIP, prefixLength: 24), mtu: 1500, seed: 7)
    let listener = try! stack.listen(port: 80, backlog: 8)
    let udp = try! stack.udp(port: 7)
    // ARP from the client, then the handshake.
    var arp = [UInt8](repeating: 0, count: 42)
    putMAC(&arp, 0, .broadcast); putMAC(&arp, 6, clientMAC); put16(&arp, 12, 0x0806)
    ARPPacket(operation: 1, senderMAC: clientMAC, senderIP: clientIP, targetMAC: .zero, targetIP: serverIP).write(into: &arp, at: 14)
    var now: UInt64 = 1_000_000
    stack.input(arp, length: arp.count, now: now)
    let syn = tcp(seq: 1000, ack: 0, flags: 0x02)
    stack.input(syn, length: syn.count, now: now)
    var iss: UInt32 = 0
    for f in stack.takeOutput() where f.count >= 54 && f[47] == 0x12 { iss = be32(f, 38) }
    let ack = tcp(seq: 1001, ack: iss &+ 1, flags: 0x10)
    stack.input(ack, length: ack.count, now: now)
    guard let conn = listener.accept() else { invariant(false, "handshake failed"); return }
    if flags & 8 != 0 { _ = conn.write([UInt8](repeating: 0x5a, count: 20000)) }
    var client: TCPConnection? = nil
    if flags & 64 != 0 {
        stack.ephemeralPorts = 50000...50000
        client = try! stack.connect(to: clientIP, port: 40000)
        _ = client!.write([UInt8](repeating: 0x33, count: 3000))
    }
    checkOutput(stack.takeOutput(), mtu: stack.mtu)
    var dhcpStack: NetStack? = nil
    if flags & 32 != 0 {
        let d = NetStack(mac: serverMAC, config: NetConfig(address: .any, prefixLength: 0), mtu: 1500, seed: 9)
        d.startDHCP(now: now)
        _ = d.takeOutput()
        dhcpStack = d
    }

    var i = 1
    while i < input.count {
        let n = i + 1 < input.count ? be16(input, i) : 0
        i += 2
        var f = Array(input[min(i, input.count)..<min(i + n, input.count)])
        i += n
        if f.count >= 14 && flags & 2 != 0 {
            putMAC(&f, 0, serverMAC); putMAC(&f, 6, clientMAC)
            if f.count >= 34 && be16(f, 12) == 0x0800 { putIP(&f, 26, clientIP); putIP(&f, 30, serverIP) }
        }
        if flags & 4 != 0 && f.count >= 54 && be16(f, 12) == 0x0800 && f[23] == 6 {
            let o = 14 + Int(f[14] & 15) * 4
            if o + 12 <= f.count {
                put32(&f, o + 4, be32(f, o + 4) &+ conn.testRcvNxt)
                put32(&f, o + 8, be32(f, o + 8) &+ conn.testSndUna)
            }
        }
        if flags & 1 != 0 { fixChecksums(&f) }
        now += UInt64(f.first ?? 0) * 1_000_000
        var sentBefore: [ObjectIdentifier: UInt32] = [:]
        for c in stack.testConnections { sentBefore[ObjectIdentifier(c)] = c.testSndMax }
        if let d = dhcpStack {
            var g = f
            if g.count >= 42 + 8, be16(g, 12) == 0x0800, g[23] == 17 {
                let o = 14 + Int(g[14] & 15) * 4
                if o + 8 + 8 <= g.count, let x = d.dhcp?.testXID {
                    put16(&g, o, 67); put16(&g, o + 2, 68); put32(&g, o + 8 + 4, x)
                }
            }
            if flags & 1 != 0 { fixChecksums(&g) }
            d.input(g, length: g.count, now: now)
            d.tick(now: now)
            let out = d.takeOutput()
            for frame in out where frame.count >= 34 && be16(frame, 12) == 0x0800 {
                invariant(frame.count <= d.mtu + 14, "DHCP stack sent \(frame.count) bytes")
                guard case .success = IPv4Packet.parse(frame, at: 14, end: frame.count) else { invariant(false, "DHCP stack sent bad IPv4"); continue }
            }
            if let l = d.dhcp?.lease { invariant(d.config.address == l.address && l.address != .any, "lease not applied") }
        }
        stack.input(f, length: f.count, now: now)
        stack.tick(now: now)
        _ = conn.read(max: 1000)
        if let c = client {
            _ = c.read(max: 1000)
            invariant(c.isConnecting == (c.state == .synSent || c.state == .synReceived), "isConnecting disagrees with \(c.state)")
            invariant((c.failure == nil) || c.state == .closed, "failed but \(c.state)")
        }
        while udp.receive() != nil {}
        while let extra = listener.accept() { extra.close() }
        checkOutput(stack.takeOutput(), mtu: stack.mtu)
        for c in stack.testConnections {
            if let broken = c.testBrokenInvariant { invariant(false, "sequence state broken in \(c.state): \(broken)") }
            if sentBefore[ObjectIdentifier(c)] != c.testSndMax {
                invariant(!c.testSentPastWindow, "sent past the peer's window in \(c.state)")
            }
        }
        invariant(listener.testLoad <= listener.backlog, "backlog exceeded")
    }
    if flags & 16 != 0 { conn.close() }
    now += 200_000_000_000
    stack.tick(now: now)
    checkOutput(stack.takeOutput(), mtu: stack.mtu)
    stack.shutdown()                      // break the stack ↔ socket cycles: no leak across inputs
    dhcpStack?.shutdown()
}

@_cdecl("NetFuzz_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    libFuzzerMain(argc, argv, fuzzOne)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size > 0 ? Array(UnsafeBufferPointer(start: data!, count: size)) : []
    fuzzNet(bytes)
    return 0
}
