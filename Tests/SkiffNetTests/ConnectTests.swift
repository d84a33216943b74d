// ConnectTests.swift: NetStack.connect (active open, SYN-SENT) against a scripted server: handshake, refusal, SYN retries, ports, gateway, bad SYN-ACKs.

import Testing
@testable import SkiffNetCore

/// The peer at clientIP plays the server; the stack under test (serverIP) is the client here.
private let peerPort: UInt16 = 8080

/// Connects and returns the connection and the SYN it sent.
private func startConnect(_ s: NetStack, now: UInt64 = 1 * ms) -> (TCPConnection, SentSegment)? {
    guard let c = try? s.connect(to: clientIP, port: peerPort, now: now) else { return nil }
    let out = segments(s.takeOutput())
    guard out.count == 1 else { return nil }
    return (c, out[0])
}

@Test func connectHandshakeAndDataBothWays() throws {
    let s = makeStack()
    guard let (c, syn) = startConnect(s) else { Issue.record("no SYN"); return }
    #expect(syn.flags == .syn && syn.dport == peerPort && s.ephemeralPorts.contains(syn.sport))
    #expect(syn.sport == c.localPort && syn.mss == 1460 && syn.wscale == 0 && syn.ack == 0)
    #expect(c.state == .synSent && c.isConnecting && c.failure == nil && c.isActive)
    // Written while connecting: held until established.
    let request = Array("GET /x HTTP/1.0\r\n\r\n".utf8)
    #expect(c.write(request) == request.count)
    #expect(s.takeOutput().isEmpty)
    // SYN-ACK (MSS 1000, window scale 2) 30 ms later: established, and the handshake's ACK rides on the request.
    let synack = tcpSegment(sport: peerPort, dport: c.localPort, seq: 7000, ack: syn.seq &+ 1, flags: .syn | .ack,
                            window: 4000, mss: 1000, wscale: 2)
    s.input(synack, length: synack.count, now: 31 * ms)
    #expect(c.state == .established && !c.isConnecting && c.failure == nil)
    #expect(c.mss == 1000 && c.sndShift == 2 && c.sndWnd == 4000)     // the SYN-ACK's own window is unscaled
    #expect(c.haveRTT && c.srtt == 30 * ms)                            // the handshake was timed
    var out = segments(s.takeOutput())
    #expect(out.count == 1 && out[0].flags.has(.ack) && out[0].ack == 7001 && out[0].seq == syn.seq &+ 1 && out[0].data == request)
    // Server → client: 2500 bytes, then FIN; each ACKed, read in order.
    let body = (0..<2500).map { UInt8($0 % 251) }
    var seq: UInt32 = 7001
    for chunk in [body[0..<1000], body[1000..<2000], body[2000..<2500]] {
        let f = tcpSegment(sport: peerPort, dport: c.localPort, seq: seq, ack: syn.seq &+ 1 &+ UInt32(request.count),
                           flags: .ack, window: 100, data: Array(chunk))
        s.input(f, length: f.count, now: 40 * ms)
        seq &+= UInt32(chunk.count)
    }
    #expect(c.unacknowledged == 0 && c.sndWnd == 400)                  // later windows are scaled (100 << 2)
    out = segments(s.takeOutput())
    #expect(out.last?.ack == seq)
    #expect(c.read() == body)
    let fin = tcpSegment(sport: peerPort, dport: c.localPort, seq: seq, ack: syn.seq &+ 1 &+ UInt32(request.count), flags: .fin | .ack)
    s.input(fin, length: fin.count, now: 50 * ms)
    #expect(c.isReadClosed && c.state == .closeWait)
    // Our close: FIN, the peer ACKs it, closed without TIME_WAIT (the peer closed first).
    c.close()
    out = segments(s.takeOutput())
    #expect(out.count == 1 && out[0].flags.has(.fin) && out[0].ack == seq &+ 1 && c.state == .lastAck)
    let last = tcpSegment(sport: peerPort, dport: c.localPort, seq: seq &+ 1, ack: out[0].seq &+ 1, flags: .ack)
    s.input(last, length: last.count, now: 60 * ms)
    #expect(c.state == .closed && c.failure == nil && !c.wasReset)
    s.tick(now: 70 * ms)
    #expect(s.connectionCount == 0)
}

@Test func connectRefusedByReset() {
    let s = makeStack()
    guard let (c, syn) = startConnect(s) else { Issue.record("no SYN"); return }
    // A reset without ACK, or acknowledging something else, does not refuse it (RFC 9293 3.10.7.3).
    var rst = tcpSegment(sport: peerPort, dport: c.localPort, seq: 0, flags: .rst)
    s.input(rst, length: rst.count, now: 2 * ms)
    rst = tcpSegment(sport: peerPort, dport: c.localPort, seq: 0, ack: syn.seq &+ 2, flags: .rst | .ack)
    s.input(rst, length: rst.count, now: 2 * ms)
    #expect(c.state == .synSent && c.isConnecting && s.takeOutput().isEmpty)   // and resets are never answered
    // The kernel's answer for a closed port: RST+ACK of our SYN.
    rst = tcpSegment(sport: peerPort, dport: c.localPort, seq: 0, ack: syn.seq &+ 1, flags: .rst | .ack)
    s.input(rst, length: rst.count, now: 3 * ms)
    #expect(c.state == .closed && !c.isConnecting && c.failure == .refused && c.wasReset && c.isReadClosed)
    #expect(s.takeOutput().isEmpty && c.write([1]) == 0)
    s.tick(now: 4 * ms)
    #expect(s.connectionCount == 0 && s.nextDeadline() == nil)
}

@Test func connectRetransmitsTheSYNWithBackoffThenTimesOut() {
    let s = makeStack()
    let t0 = 1 * ms
    guard let (c, syn) = startConnect(s, now: t0) else { Issue.record("no SYN"); return }
    // RFC 6298: the first RTO is 1 s, doubled at each timeout; 5 retransmissions, failure at 63 s.
    let second: UInt64 = 1_000_000_000
    var expected = t0
    var gap = second
    for i in 1...s.connectRetries {
        expected += gap
        #expect(s.nextDeadline() == expected, "retry \(i)")
        s.tick(now: expected - 1)
        #expect(s.takeOutput().isEmpty)
        s.tick(now: expected)
        let out = segments(s.takeOutput())
        #expect(out.count == 1 && out.first?.flags == .syn && out.first?.seq == syn.seq && out.first?.sport == syn.sport, "retry \(i)")
        #expect(c.isConnecting)
        gap *= 2
    }
    #expect(expected == t0 + 31 * second && s.stats.tcpRetransmits == 5)
    expected += gap
    s.tick(now: expected - 1)
    #expect(c.isConnecting)
    s.tick(now: expected)
    #expect(!c.isConnecting && c.state == .closed && c.failure == .timedOut && !c.wasReset)
    #expect(s.takeOutput().isEmpty && s.connectionCount == 0)
    // Karn: after a retransmitted SYN the handshake gives no RTT sample, and the RTO restarts at 3 s (RFC 6298 5.7).
    s.learn(clientIP, clientMAC, now: expected)        // the ARP entry expired meanwhile
    guard let (c2, syn2) = startConnect(s, now: expected) else { Issue.record("no SYN"); return }
    s.tick(now: expected + second)
    _ = s.takeOutput()
    let synack = tcpSegment(sport: peerPort, dport: c2.localPort, seq: 1, ack: syn2.seq &+ 1, flags: .syn | .ack, mss: 1460)
    s.input(synack, length: synack.count, now: expected + second + 5 * ms)
    #expect(c2.state == .established && !c2.haveRTT && c2.rto == 3 * second)
}

@Test func connectEphemeralPortsAreDistinctAndNotReusedInTimeWait() throws {
    let s = makeStack()
    var ports: Set<UInt16> = []
    for _ in 0..<200 {
        let c = try s.connect(to: clientIP, port: peerPort)
        #expect(c.localPort >= 49152)
        ports.insert(c.localPort)
    }
    #expect(ports.count == 200)
    let syns = segments(s.takeOutput())
    #expect(Set(syns.map { $0.sport }) == ports && syns.count == 200)
    // A small range, to run out: a listener's port is skipped, then every port is taken.
    let t = makeStack()
    t.ephemeralPorts = 50000...50003
    _ = try t.listen(port: 50001)
    var open: [TCPConnection] = []
    for _ in 0..<3 { open.append(try t.connect(to: clientIP, port: peerPort)) }
    #expect(Set(open.map { $0.localPort }) == [50000, 50002, 50003])
    #expect(throws: NetStack.SocketError.noFreePort) { _ = try t.connect(to: clientIP, port: peerPort) }
    // Take one through the handshake and close it first: it sits in TIME_WAIT, its port still taken.
    let c = open[0]
    let syn = segments(t.takeOutput()).first { $0.sport == c.localPort }!
    var f = tcpSegment(sport: peerPort, dport: c.localPort, seq: 100, ack: syn.seq &+ 1, flags: .syn | .ack, mss: 1460)
    t.input(f, length: f.count, now: 2 * ms)
    c.close()
    let fin = segments(t.takeOutput()).first { $0.flags.has(.fin) }!
    f = tcpSegment(sport: peerPort, dport: c.localPort, seq: 101, ack: fin.seq &+ 1, flags: .fin | .ack)
    t.input(f, length: f.count, now: 3 * ms)
    #expect(c.state == .timeWait)
    for o in open.dropFirst() { o.abort() }
    t.tick(now: 4 * ms)
    // The two aborted ports are free again; the TIME_WAIT one is not.
    let a = try t.connect(to: clientIP, port: peerPort), b = try t.connect(to: clientIP, port: peerPort)
    #expect(Set([a.localPort, b.localPort]) == Set(open.dropFirst().map { $0.localPort }))
    #expect(throws: NetStack.SocketError.noFreePort) { _ = try t.connect(to: clientIP, port: peerPort) }
    t.tick(now: 3 * ms + t.timeWaitNanoseconds)
    #expect(c.state == .closed)
    #expect(try t.connect(to: clientIP, port: peerPort).localPort == c.localPort)
}

@Test func connectOffLinkGoesThroughTheGatewaysMAC() throws {
    let gatewayMAC = MACAddress(raw: 0x02_00_00_00_00_99)
    let far = IPv4Address(192, 0, 2, 10)
    // No gateway: no route.
    let lone = NetStack(mac: serverMAC, config: NetConfig(address: serverIP, prefixLength: 24), mtu: 1500)
    #expect(throws: NetStack.SocketError.noRoute) { _ = try lone.connect(to: far, port: 80) }
    #expect(lone.takeOutput().isEmpty)
    let s = NetStack(mac: serverMAC, config: NetConfig(address: serverIP, prefixLength: 24, gateway: clientIP), mtu: 1500)
    let c = try s.connect(to: far, port: 80, now: 1 * ms)
    // First an ARP request for the gateway (not for the far address); the SYN waits for the answer.
    var out = s.takeOutput()
    let arp = out.count == 1 ? ARPPacket.parse(out[0], at: 14, end: out[0].count) : nil
    #expect(arp?.operation == 1 && arp?.targetIP == clientIP && out.first?.mac(0) == .broadcast)
    var reply = [UInt8](repeating: 0, count: 42)
    reply.putMAC(0, serverMAC); reply.putMAC(6, gatewayMAC); reply.put16(12, EtherType.arp)
    ARPPacket(operation: 2, senderMAC: gatewayMAC, senderIP: clientIP, targetMAC: serverMAC, targetIP: serverIP).write(into: &reply, at: 14)
    s.input(reply, length: reply.count, now: 2 * ms)
    out = s.takeOutput()
    guard out.count == 1, case .success(let ip) = IPv4Packet.parse(out[0], at: 14, end: out[0].count) else {
        Issue.record("no SYN after the ARP answer"); return
    }
    #expect(out[0].mac(0) == gatewayMAC && ip.destination == far && ip.source == serverIP)
    let syn = segments(out)[0]
    #expect(syn.flags == .syn && syn.dport == 80)
    // The SYN-ACK comes back from the far address (through the gateway): established.
    let synack = tcpSegment(sport: 80, dport: c.localPort, seq: 9, ack: syn.seq &+ 1, flags: .syn | .ack, mss: 1400, src: far)
    s.input(synack, length: synack.count, now: 3 * ms)
    #expect(c.state == .established && c.mss == 1400)
    out = s.takeOutput()
    #expect(out.count == 1 && out[0].mac(0) == gatewayMAC && segments(out)[0].ack == 10)
    // A gateway that never answers ARP: the connect fails as unreachable after the ARP retries (3 s).
    let dead = NetStack(mac: serverMAC, config: NetConfig(address: serverIP, prefixLength: 24, gateway: IPv4Address(10, 77, 0, 254)), mtu: 1500)
    let d = try dead.connect(to: far, port: 80, now: 0)
    var t: UInt64 = 0
    while d.isConnecting && t < 10_000_000_000 { t += 100 * ms; dead.tick(now: t) }
    #expect(d.failure == .unreachable && t == 3_000_000_000)
    let requests = dead.takeOutput().filter { $0.u16(12) == EtherType.arp }
    #expect(requests.count == 3 && requests.allSatisfy { ARPPacket.parse($0, at: 14, end: $0.count)?.targetIP == IPv4Address(10, 77, 0, 254) })
}

@Test func connectAnswersAWrongAckWithAReset() {
    let s = makeStack()
    guard let (c, syn) = startConnect(s) else { Issue.record("no SYN"); return }
    // SYN-ACKs acknowledging too much, and only our ISS: each gets <SEQ=SEG.ACK><CTL=RST>, the connection waits on.
    for bad in [syn.seq &+ 2, syn.seq, syn.seq &- 1000] {
        let f = tcpSegment(sport: peerPort, dport: c.localPort, seq: 500, ack: bad, flags: .syn | .ack, mss: 1460)
        s.input(f, length: f.count, now: 2 * ms)
        let out = segments(s.takeOutput())
        #expect(out.count == 1 && out.first?.flags == .rst && out.first?.seq == bad && out.first?.dport == peerPort)
        #expect(c.state == .synSent && c.isConnecting)
    }
    // A plain ACK (no SYN) with an acceptable ack is dropped silently.
    let ack = tcpSegment(sport: peerPort, dport: c.localPort, seq: 500, ack: syn.seq &+ 1, flags: .ack)
    s.input(ack, length: ack.count, now: 2 * ms)
    #expect(s.takeOutput().isEmpty && c.state == .synSent)
    // The right one still completes it.
    let good = tcpSegment(sport: peerPort, dport: c.localPort, seq: 500, ack: syn.seq &+ 1, flags: .syn | .ack, mss: 1460)
    s.input(good, length: good.count, now: 3 * ms)
    #expect(c.state == .established && c.failure == nil)
    #expect(segments(s.takeOutput()).map { $0.ack } == [501])
}

@Test func connectSimultaneousOpen() {
    let s = makeStack()
    guard let (c, syn) = startConnect(s) else { Issue.record("no SYN"); return }
    // The peer's own SYN crosses ours: SYN-RECEIVED, answered with a SYN-ACK of our ISS.
    let peerSyn = tcpSegment(sport: peerPort, dport: c.localPort, seq: 300, flags: .syn, mss: 1200)
    s.input(peerSyn, length: peerSyn.count, now: 2 * ms)
    var out = segments(s.takeOutput())
    #expect(c.state == .synReceived && c.isConnecting)
    #expect(out.count == 1 && out.first?.flags == .syn | .ack && out.first?.seq == syn.seq && out.first?.ack == 301)
    // Its SYN-ACK (of our SYN) completes the handshake.
    let synack = tcpSegment(sport: peerPort, dport: c.localPort, seq: 300, ack: syn.seq &+ 1, flags: .syn | .ack, mss: 1200)
    s.input(synack, length: synack.count, now: 3 * ms)
    #expect(c.state == .established && !c.isConnecting && c.mss == 1200)
    out = segments(s.takeOutput())
    #expect(out.allSatisfy { !$0.flags.has(.rst) })
}

@Test func connectRejectsBadDestinations() {
    let s = makeStack()
    for (a, p) in [(IPv4Address.any, UInt16(80)), (.broadcast, 80), (serverIP, 80), (IPv4Address(10, 77, 0, 255), 80),
                   (IPv4Address(224, 0, 0, 1), 80), (clientIP, 0)] {
        #expect(throws: NetStack.SocketError.badAddress) { _ = try s.connect(to: a, port: p) }
    }
    #expect(s.connectionCount == 0 && s.takeOutput().isEmpty)
    // No address yet (ip=dhcp before its lease).
    let d = NetStack(mac: serverMAC, config: NetConfig(address: .any, prefixLength: 0), mtu: 1500)
    #expect(throws: NetStack.SocketError.badAddress) { _ = try d.connect(to: clientIP, port: 80) }
}

/// An ICMP destination unreachable from `from` (a router) quoting `quoteLength` bytes of `frame`'s IP packet.
private func icmpUnreachable(code: UInt8, quoting frame: [UInt8], quoteLength: Int = 28, from: IPv4Address = clientIP) -> [UInt8] {
    var m = [UInt8](repeating: 0, count: 8) + Array(frame[14..<(14 + quoteLength)])
    m.put8(0, 3); m.put8(1, code)
    m.put16(2, Checksum.finish(Checksum.sum(m, 0, m.count)))
    return ipFrame(proto: IPProtocol.icmp, m, src: from)
}

/// Connects and returns the connection and the raw frame of its SYN.
private func connectRaw(_ s: NetStack, port: UInt16 = peerPort) -> (TCPConnection, [UInt8])? {
    guard let c = try? s.connect(to: clientIP, port: port, now: 1 * ms) else { return nil }
    let out = s.takeOutput()
    guard out.count == 1 else { return nil }
    return (c, out[0])
}

@Test func icmpUnreachableFailsAConnectAtOnce() {
    for (code, want) in [(UInt8(0), TCPFailure.unreachable), (1, .unreachable), (13, .unreachable), (3, .refused), (2, .refused)] {
        let s = makeStack()
        guard let (c, syn) = connectRaw(s) else { Issue.record("no SYN"); return }
        let icmp = icmpUnreachable(code: code, quoting: syn, from: IPv4Address(10, 77, 0, 254))
        s.input(icmp, length: icmp.count, now: 5 * ms)
        #expect(c.state == .closed && !c.isConnecting && c.failure == want, "code \(code)")
        #expect(s.stats.icmpUnreachable == 1 && segments(s.takeOutput()).isEmpty, "code \(code)")
    }
}

@Test func icmpUnreachableMustQuoteTheSYN() {
    let s = makeStack()
    guard let (c, syn) = connectRaw(s) else { Issue.record("no SYN"); return }
    var forged: [[UInt8]] = []
    var wrongSeq = syn; wrongSeq.put32(38, syn.u32(38) &+ 1)            // the ISS guessed wrong
    var wrongPort = syn; wrongPort.put16(36, peerPort &+ 1)
    var wrongSource = syn; wrongSource.putIP(26, IPv4Address(10, 77, 0, 9))   // a packet we did not send
    var udp = syn; udp.put8(23, IPProtocol.udp)
    for f in [wrongSeq, wrongPort, wrongSource, udp] { forged.append(icmpUnreachable(code: 1, quoting: f)) }
    forged.append(icmpUnreachable(code: 4, quoting: syn))                  // fragmentation needed: ignored
    let truncated = icmpUnreachable(code: 1, quoting: syn, quoteLength: 24)     // 4 bytes of TCP header: too short
    forged.append(truncated)
    var badSum = icmpUnreachable(code: 1, quoting: syn); badSum[36] ^= 0xff
    forged.append(badSum)
    for f in forged { s.input(f, length: f.count, now: 5 * ms) }
    #expect(c.state == .synSent && c.failure == nil && s.stats.icmpUnreachable == 0)
    #expect(s.stats.malformed == 1 && s.stats.badChecksum == 1)
    // Once established, the same ICMP is a soft error: the connection stays.
    let synack = tcpSegment(sport: peerPort, dport: c.localPort, seq: 7000, ack: syn.u32(38) &+ 1, flags: .syn | .ack)
    s.input(synack, length: synack.count, now: 6 * ms)
    let late = icmpUnreachable(code: 3, quoting: syn)
    s.input(late, length: late.count, now: 7 * ms)
    #expect(c.state == .established && c.failure == nil && s.stats.icmpUnreachable == 0)
}
