// StackTests.swift: ARP, ICMP, UDP and TCP behaviour of NetStack, driven frame by frame with a scripted client and a fake clock.

import Testing
@testable import SkiffNetCore

@Test func gratuitousARPOnStart() {
    let s = NetStack(mac: serverMAC, config: NetConfig(address: serverIP), mtu: 1500)
    s.start(now: 0)
    let out = s.takeOutput()
    #expect(out.count == 1)
    let arp = ARPPacket.parse(out[0], at: 14, end: out[0].count)
    #expect(out[0].mac(0) == .broadcast && arp?.operation == 1 && arp?.senderIP == serverIP && arp?.targetIP == serverIP)
}

func arpRequest(for target: IPv4Address, from ip: IPv4Address = clientIP, mac: MACAddress = clientMAC) -> [UInt8] {
    var f = [UInt8](repeating: 0, count: 42)
    f.putMAC(0, .broadcast); f.putMAC(6, mac); f.put16(12, EtherType.arp)
    ARPPacket(operation: 1, senderMAC: mac, senderIP: ip, targetMAC: .zero, targetIP: target).write(into: &f, at: 14)
    return f
}

@Test func arpAnswersOnlyForOurAddressAndExpires() {
    let s = NetStack(mac: serverMAC, config: NetConfig(address: serverIP), mtu: 1500)
    let other = IPv4Address(10, 77, 0, 9)
    var f = arpRequest(for: other)
    s.input(f, length: f.count, now: 0)
    #expect(s.takeOutput().isEmpty)
    #expect(s.arpLookup(clientIP) == nil)              // not for us: not learnt
    f = arpRequest(for: serverIP)
    s.input(f, length: f.count, now: 0)
    let out = s.takeOutput()
    #expect(out.count == 1)
    let r = ARPPacket.parse(out[0], at: 14, end: out[0].count)
    #expect(r?.operation == 2 && r?.senderMAC == serverMAC && r?.targetMAC == clientMAC && out[0].mac(0) == clientMAC)
    #expect(s.arpLookup(clientIP) == clientMAC)
    s.tick(now: s.arpLifetime + 1)
    #expect(s.arpLookup(clientIP) == nil)              // expired
}

@Test func arpResolutionQueuesAndRetries() {
    let s = NetStack(mac: serverMAC, config: NetConfig(address: serverIP), mtu: 1500)
    let u = try! s.udp(port: 7)
    #expect(u.send([1, 2, 3], to: clientIP, port: 9))
    var out = s.takeOutput()
    #expect(out.count == 1 && ARPPacket.parse(out[0], at: 14, end: out[0].count)?.targetIP == clientIP)
    s.tick(now: 1_000_000_001)                          // retry
    out = s.takeOutput()
    #expect(out.count == 1 && out[0].u16(12) == EtherType.arp)
    // The reply releases the queued datagram with the learnt MAC.
    var reply = [UInt8](repeating: 0, count: 42)
    reply.putMAC(0, serverMAC); reply.putMAC(6, clientMAC); reply.put16(12, EtherType.arp)
    ARPPacket(operation: 2, senderMAC: clientMAC, senderIP: clientIP, targetMAC: serverMAC, targetIP: serverIP).write(into: &reply, at: 14)
    s.input(reply, length: reply.count, now: 1_100_000_000)
    out = s.takeOutput()
    #expect(out.count == 1 && out[0].mac(0) == clientMAC && out[0].u16(12) == EtherType.ipv4)
    // An unanswered address gives up after three tries and drops what waited.
    #expect(u.send([1], to: IPv4Address(10, 77, 0, 50), port: 9))
    for t in 2...6 { s.tick(now: UInt64(t) * 1_000_000_001) }
    #expect(s.stats.arpQueueDropped == 1)
    #expect(s.nextDeadline() == nil)
}

@Test func icmpEchoReply() {
    let s = makeStack()
    var icmp: [UInt8] = [8, 0, 0, 0, 0x12, 0x34, 0, 1] + Array("payload!".utf8)
    icmp.put16(2, Checksum.finish(Checksum.sum(icmp, 0, icmp.count)))
    let f = ipFrame(proto: IPProtocol.icmp, icmp)
    s.input(f, length: f.count, now: 0)
    let out = s.takeOutput()
    #expect(out.count == 1)
    guard case .success(let ip) = IPv4Packet.parse(out[0], at: 14, end: out[0].count) else { Issue.record("bad reply"); return }
    #expect(ip.source == serverIP && ip.destination == clientIP && ip.ttl == 64)
    let reply = Array(out[0][ip.payloadStart..<ip.payloadEnd])
    #expect(reply[0] == 0 && Checksum.finish(Checksum.sum(reply, 0, reply.count)) == 0 && Array(reply[4...]) == Array(icmp[4...]))
    // A bad ICMP checksum gets nothing.
    var bad = f; bad[bad.count - 1] ^= 0xff
    s.input(bad, length: bad.count, now: 0)
    #expect(s.takeOutput().isEmpty && s.stats.badChecksum == 1)
}

@Test func fragmentsAreDropped() {
    let s = makeStack()
    var f = ipFrame(proto: IPProtocol.icmp, [8, 0, 0xf7, 0xff, 0, 0, 0, 0])
    f.put16(20, 0x2000); f.put16(24, 0); f.put16(24, Checksum.finish(Checksum.sum(f, 14, 20)))
    s.input(f, length: f.count, now: 0)
    #expect(s.takeOutput().isEmpty && s.stats.fragmentsDropped == 1)
}

@Test func udpDeliveryAndEcho() {
    let s = makeStack()
    let sock = try! s.udp(port: 7)
    #expect(throws: NetStack.SocketError.portInUse) { _ = try s.udp(port: 7) }
    var u: [UInt8] = [0x9c, 0x40, 0, 7, 0, 13, 0, 0] + Array("hello".utf8)
    u.put16(6, Checksum.finish(Checksum.sum(u, 0, u.count, initial: Checksum.pseudo(src: clientIP, dst: serverIP, proto: IPProtocol.udp, length: u.count))))
    let f = ipFrame(proto: IPProtocol.udp, u)
    s.input(f, length: f.count, now: 0)
    guard let m = sock.receive() else { Issue.record("no datagram"); return }
    #expect(m.data == Array("hello".utf8) && m.source == clientIP && m.sourcePort == 40000)
    var bad = f; bad[bad.count - 1] ^= 1
    s.input(bad, length: bad.count, now: 0)
    #expect(sock.receive() == nil)
    #expect(sock.send(m.data, to: m.source, port: m.sourcePort))
    let out = s.takeOutput()
    guard out.count == 1, case .success(let ip) = IPv4Packet.parse(out[0], at: 14, end: out[0].count),
          let d = UDPDatagram.parse(out[0], at: ip.payloadStart, end: ip.payloadEnd, source: ip.source, destination: ip.destination)
    else { Issue.record("bad echo"); return }
    #expect(d.destinationPort == 40000 && Array(out[0][d.dataStart..<d.dataEnd]) == Array("hello".utf8))
    #expect(!sock.send([UInt8](repeating: 0, count: 1473), to: clientIP, port: 9))   // larger than one frame
}

@Test func tcpHandshakeDataAndClose() {
    let s = makeStack()
    let l = try! s.listen(port: 80)
    var c = Client(stack: s)
    guard let synack = c.connect(mss: 1000) else { Issue.record("no SYN-ACK"); return }
    #expect(synack.flags == .syn | .ack && synack.ack == 1001 && synack.mss == 1460)
    guard let conn = l.accept() else { Issue.record("not accepted"); return }
    #expect(conn.state == .established && conn.mss == 1000)
    // Client → server data, ACKed.
    var out = c.send(.ack | .psh, data: Array("GET / HTTP/1.1\r\n\r\n".utf8))
    #expect(out.last?.ack == c.seq)
    #expect(conn.read() == Array("GET / HTTP/1.1\r\n\r\n".utf8))
    // Server → client: 2500 bytes in MSS-sized segments.
    let body = (0..<2500).map { UInt8($0 % 251) }
    #expect(conn.write(body) == 2500)
    out = segments(s.takeOutput())
    #expect(out.map { $0.data.count } == [1000, 1000, 500])
    #expect(out.flatMap { $0.data } == body)
    c.rcvNxt = out.last!.seq &+ 500
    _ = c.send(.ack)
    #expect(conn.unacknowledged == 0)
    // Client closes; server closes; LAST-ACK → closed.
    out = c.send(.fin | .ack)
    #expect(conn.state == .closeWait && conn.isReadClosed && out.last?.ack == c.seq)
    conn.close()
    out = segments(s.takeOutput())
    #expect(out.count == 1 && out[0].flags.has(.fin) && conn.state == .lastAck)
    c.rcvNxt &+= 1
    _ = c.send(.ack)
    #expect(conn.state == .closed)
    s.tick(now: c.now)
    #expect(s.connectionCount == 0)
}

@Test func tcpServerCloseGoesThroughTimeWait() {
    let s = makeStack()
    let l = try! s.listen(port: 80)
    var c = Client(stack: s)
    _ = c.connect()
    let conn = l.accept()!
    conn.close()
    let fin = segments(s.takeOutput())
    #expect(fin.count == 1 && fin[0].flags.has(.fin) && conn.state == .finWait1)
    c.rcvNxt = fin[0].seq &+ 1
    _ = c.send(.ack)
    #expect(conn.state == .finWait2)
    _ = c.send(.fin | .ack)
    #expect(conn.state == .timeWait)
    // A retransmitted FIN in TIME_WAIT is ACKed again.
    let again = c.send(.fin | .ack, seqOverride: c.seq &- 1)
    #expect(again.count == 1 && again[0].ack == c.seq)
    s.tick(now: c.now + s.timeWaitNanoseconds + 1)
    #expect(conn.state == .closed && s.connectionCount == 0)
}

@Test func tcpResetsForClosedPortsAndIgnoresResets() {
    let s = makeStack()
    let f = tcpSegment(dport: 81, seq: 77, flags: .syn)
    s.input(f, length: f.count, now: 0)
    let out = segments(s.takeOutput())
    #expect(out.count == 1 && out[0].flags == .rst | .ack && out[0].ack == 78)
    let r = tcpSegment(dport: 81, seq: 77, flags: .rst)
    s.input(r, length: r.count, now: 0)
    #expect(s.takeOutput().isEmpty)
}

@Test func tcpBacklogBoundsHalfOpenConnections() {
    let s = makeStack()
    let l = try! s.listen(port: 80, backlog: 4)
    for i in 0..<20 {
        let f = tcpSegment(sport: UInt16(1000 + i), seq: 1, flags: .syn)
        s.input(f, length: f.count, now: 0)
    }
    // Bounded: each SYN past the backlog pushed out the oldest half-open connection.
    #expect(s.connectionCount == 4 && s.stats.tcpSynDropped == 16 && l.halfOpen == 4)
    #expect(s.connections.map { $0.remotePort } == [1016, 1017, 1018, 1019])
    // Completed connections waiting for accept() are never pushed out: SYNs are refused instead.
    var full = Client(stack: s, port: 3000)
    _ = full.connect()
    #expect(l.pending == 1 && s.connectionCount == 4)
    for i in 0..<3 { var k = Client(stack: s, port: UInt16(3100 + i)); _ = k.connect() }
    #expect(l.pending == 4 && l.halfOpen == 0)
    var refused = Client(stack: s, port: 3200)
    #expect(refused.connect() == nil && l.pending == 4)
    while l.accept() != nil {}
    // Half-open connections give up after the SYN-ACK retries and free the backlog.
    for i in 0..<4 {
        let f = tcpSegment(sport: UInt16(1100 + i), seq: 1, flags: .syn)
        s.input(f, length: f.count, now: 0)
    }
    #expect(l.halfOpen == 4)
    var t: UInt64 = 0
    for _ in 0..<12 { t += 70_000_000_000; s.tick(now: t) }
    #expect(l.halfOpen == 0 && s.connections.allSatisfy { $0.state != .synReceived })
    s.learn(clientIP, clientMAC, now: t)             // the ARP entry expired meanwhile
    var c = Client(stack: s, port: 5000); c.now = t
    #expect(c.connect() != nil && l.accept() != nil)
}

@Test func tcpRetransmitsWithBackoffAndRTOFromSamples() {
    let s = makeStack()
    let l = try! s.listen(port: 80)
    var c = Client(stack: s)
    _ = c.connect()
    let conn = l.accept()!
    _ = conn.write(Array(repeating: 65, count: 100))
    let first = segments(s.takeOutput())
    #expect(first.count == 1)
    let rto0 = conn.rto
    // No ACK: retransmitted at the RTO, then again after twice the RTO.
    s.tick(now: c.now + rto0 - 1)
    #expect(s.takeOutput().isEmpty)
    s.tick(now: c.now + rto0)
    var re = segments(s.takeOutput())
    #expect(re.count == 1 && re[0].seq == first[0].seq && re[0].data.count == 100)
    #expect(conn.rto == 2 * rto0)
    s.tick(now: c.now + rto0 + 2 * rto0)
    re = segments(s.takeOutput())
    #expect(re.count == 1 && conn.rto == 4 * rto0)
    // An ACK ends the retransmission; a fresh, timed segment gives an RTT sample (RFC 6298 2.2).
    c.rcvNxt = first[0].seq
    c.now += 10 * rto0
    let ackFrame = tcpSegment(seq: c.seq, ack: first[0].seq &+ 100, flags: .ack)
    s.input(ackFrame, length: ackFrame.count, now: c.now)
    #expect(conn.unacknowledged == 0 && conn.retransmitAt == nil)
    _ = conn.write(Array(repeating: 66, count: 10))
    let seg = segments(s.takeOutput())[0]
    let a2 = tcpSegment(seq: c.seq, ack: seg.seq &+ 10, flags: .ack)
    s.input(a2, length: a2.count, now: c.now + 50 * ms)
    #expect(conn.haveRTT && conn.srtt == 50 * ms)
    #expect(conn.rto == max(s.minimumRTO, 50 * ms + 4 * 25 * ms))
}

@Test func tcpFastRetransmitOnThreeDuplicateAcks() {
    let s = makeStack()
    let l = try! s.listen(port: 80)
    var c = Client(stack: s)
    _ = c.connect(mss: 1000)
    let conn = l.accept()!
    _ = conn.write(Array(repeating: 1, count: 5000))
    let sent = segments(s.takeOutput())
    #expect(sent.count == 5)
    // The first segment is "lost": the client ACKs the start three times.
    c.rcvNxt = sent[0].seq
    var re: [SentSegment] = []
    for _ in 0..<3 { re += c.send(.ack) }
    #expect(re.count == 1 && re[0].seq == sent[0].seq && re[0].data.count == 1000)
    #expect(s.stats.tcpFastRetransmits == 1)
}

@Test func tcpOutOfOrderDataIsReassembled() {
    let s = makeStack()
    let l = try! s.listen(port: 80)
    var c = Client(stack: s)
    _ = c.connect()
    let conn = l.accept()!
    let base = c.seq
    // Second piece first: duplicate ACK for the hole, data held back.
    let second = tcpSegment(seq: base &+ 5, ack: c.rcvNxt, flags: .ack, data: Array("world".utf8))
    s.input(second, length: second.count, now: c.now)
    var out = segments(s.takeOutput())
    #expect(out.count == 1 && out[0].ack == base && conn.available == 0)
    let first = tcpSegment(seq: base, ack: c.rcvNxt, flags: .ack, data: Array("hello".utf8))
    s.input(first, length: first.count, now: c.now)
    out = segments(s.takeOutput())
    #expect(out.last?.ack == base &+ 10)
    #expect(conn.read() == Array("helloworld".utf8))
}

@Test func tcpHostileSegmentsLeaveTheConnectionIntact() {
    let s = makeStack()
    let l = try! s.listen(port: 80)
    var c = Client(stack: s)
    _ = c.connect()
    let conn = l.accept()!
    // Out-of-window data: re-ACKed and dropped.
    var out = c.send(.ack, data: [1, 2, 3], seqOverride: c.seq &+ 1_000_000)
    #expect(out.count == 1 && out[0].ack == c.seq && conn.available == 0 && s.stats.tcpOutOfWindow == 1)
    // In-window RST that is not exact: challenge ACK, connection stays (RFC 5961).
    out = c.send(.rst, seqOverride: c.seq &+ 10)
    #expect(out.count == 1 && conn.state == .established)
    // SYN on an established connection: challenge ACK.
    out = c.send(.syn, seqOverride: c.seq)
    #expect(out.count == 1 && out[0].flags == .ack && conn.state == .established)
    // ACK for data never sent: ACK back, ignore.
    let bogus = tcpSegment(seq: c.seq, ack: conn.sndMax &+ 5000, flags: .ack, data: [9])
    s.input(bogus, length: bogus.count, now: c.now)
    #expect(conn.available == 0 && conn.state == .established)
    _ = s.takeOutput()
    // Bad checksum: ignored entirely.
    var bad = tcpSegment(seq: c.seq, ack: c.rcvNxt, flags: .ack, data: [7]); bad[bad.count - 1] ^= 0x55
    s.input(bad, length: bad.count, now: c.now)
    #expect(s.takeOutput().isEmpty && conn.available == 0)
    // Still works.
    _ = c.send(.ack | .psh, data: [42])
    #expect(conn.read() == [42])
    // The exact RST closes it.
    _ = c.send(.rst)
    #expect(conn.state == .closed && conn.wasReset)
}

@Test func tcpRespectsPeerWindowAndProbesZeroWindow() {
    let s = makeStack()
    let l = try! s.listen(port: 80)
    var c = Client(stack: s)
    _ = c.connect(mss: 1000)
    let conn = l.accept()!
    _ = c.send(.ack, window: 1500)
    _ = conn.write(Array(repeating: 3, count: 4000))
    var out = segments(s.takeOutput())
    #expect(out.map { $0.data.count } == [1000])        // a 500-byte tail would be silly-window: wait for the ACK
    c.rcvNxt = out[0].seq &+ 1000
    out = c.send(.ack, window: 0)
    #expect(out.isEmpty)
    // Zero window: after the RTO one probe byte goes out.
    s.tick(now: c.now + conn.rto)
    out = segments(s.takeOutput())
    #expect(out.count == 1 && out[0].data.count == 1)
    // Window opens: data flows again.
    out = c.send(.ack, window: 8000)
    #expect(!out.isEmpty && out.allSatisfy { $0.data.count <= 1000 })
}

/// A lossy, reordering link between the stack and a client that reads a long stream.
@Test func tcpBulkTransferSurvivesLossAndReordering() {
    let s = makeStack()
    let l = try! s.listen(port: 80)
    var c = Client(stack: s)
    _ = c.connect(mss: 1460)
    let conn = l.accept()!
    let total = 1024 * 1024
    var written = 0
    var received: [UInt8] = []
    var rng: UInt64 = 99
    func chance(_ percent: UInt64) -> Bool { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng % 100 < percent }
    var held: [SentSegment] = []
    var now = c.now
    var rounds = 0
    var outOfOrder: [UInt32: [UInt8]] = [:]
    while received.count < total && rounds < 200_000 {
        rounds += 1
        if written < total {
            written += conn.write((0..<min(65536, total - written)).map { UInt8(truncatingIfNeeded: (written + $0) % 251) })
        }
        var segs = segments(s.takeOutput())
        // 5% loss, 5% held back one round (reordering).
        segs = segs.filter { _ in !chance(5) }
        var deliver = held; held = []
        for seg in segs { if chance(5) { held.append(seg) } else { deliver.append(seg) } }
        for seg in deliver where !seg.data.isEmpty {
            if seg.seq == c.rcvNxt {
                received += seg.data; c.rcvNxt &+= UInt32(seg.data.count)
                while let next = outOfOrder.removeValue(forKey: c.rcvNxt) { received += next; c.rcvNxt &+= UInt32(next.count) }
            } else if seqGT(seg.seq, c.rcvNxt) {
                outOfOrder[seg.seq] = seg.data
            }
            if !chance(5) {
                let a = tcpSegment(seq: c.seq, ack: c.rcvNxt, flags: .ack)
                s.input(a, length: a.count, now: now)
            }
        }
        if deliver.isEmpty {
            now += 10 * ms
            s.tick(now: now)
        }
    }
    #expect(received.count == total)
    #expect(received == (0..<total).map { UInt8(truncatingIfNeeded: $0 % 251) })
    #expect(s.stats.tcpRetransmits > 0)
}

@Test func tcpWindowScalingLetsMoreThan64KiBFly() {
    let s = makeStack()
    let l = try! s.listen(port: 80)
    // Without the option: no scaling offered, windows taken as they are.
    var plain = Client(stack: s, port: 41000)
    #expect(plain.connect()?.wscale == nil)
    // With it (shift 7): we answer shift 0, and the peer's windows count in 128-byte units.
    let syn = tcpSegment(sport: 42000, seq: 500, flags: .syn, mss: 1000, wscale: 7)
    s.input(syn, length: syn.count, now: 0)
    guard let synack = segments(s.takeOutput()).first(where: { $0.dport == 42000 }) else { Issue.record("no SYN-ACK"); return }
    #expect(synack.wscale == 0)
    let ack = tcpSegment(sport: 42000, seq: 501, ack: synack.seq &+ 1, flags: .ack, window: 2000)   // 2000 << 7 = 256000 bytes
    s.input(ack, length: ack.count, now: 0)
    _ = l.accept()
    guard let conn = l.accept() else { Issue.record("not accepted"); return }
    #expect(conn.sndWnd == 256_000)
    conn.cwnd = 1 << 20                                       // past slow start, to see the window alone
    _ = conn.write([UInt8](repeating: 7, count: 200_000))
    let sent = segments(s.takeOutput()).reduce(0) { $0 + $1.data.count }
    #expect(sent == 200_000)                                  // far beyond the unscaled 65 535
}

@Test func tcpRetransmissionResendsOnlyWhatWasSent() {
    // Found by the net fuzzer (Fuzz/corpus/net/rto_resend_past_snd_max): a peer window smaller than one
    // segment lets out 256 bytes; the RTO resent a whole MSS from SND.UNA, past SND.MAX and the window.
    let s = makeStack()
    let l = try! s.listen(port: 80)
    var c = Client(stack: s)
    _ = c.connect()
    let conn = l.accept()!
    _ = s.takeOutput()
    _ = c.send(.ack, window: 256)
    _ = conn.write(Array(repeating: 65, count: 3000))
    let first = segments(s.takeOutput())
    #expect(first.count == 1 && first[0].data.count == 256)
    let due = conn.retransmitAt!
    s.tick(now: due)
    let re = segments(s.takeOutput())
    #expect(re.count == 1 && re[0].seq == first[0].seq && re[0].data.count == 256)
    #expect(conn.testBrokenInvariant == nil)
    // An ACK of more than was sent is not taken; one of the 256 bytes is, and sending goes on
    // (one MSS: the timeout collapsed the congestion window).
    let tooFar = tcpSegment(seq: c.seq, ack: first[0].seq &+ 1460, flags: .ack)
    s.input(tooFar, length: tooFar.count, now: due + 1)
    #expect(conn.unacknowledged == 3000 && conn.testBrokenInvariant == nil)
    _ = s.takeOutput()
    let ack = tcpSegment(seq: c.seq, ack: first[0].seq &+ 256, flags: .ack)
    s.input(ack, length: ack.count, now: due + 2)
    let more = segments(s.takeOutput())
    #expect(conn.unacknowledged == 3000 - 256 && conn.testBrokenInvariant == nil)
    #expect(more.count == 1 && more[0].seq == first[0].seq &+ 256 && more[0].data.count == 1460)
}
