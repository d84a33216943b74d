// DHCPTests.swift: the DHCP client against a scripted server: lease, configuration, retransmission, NAK, renewal, expiry.

import Testing
@testable import SkiffNetCore

let dhcpServer = IPv4Address(10, 77, 0, 1)

/// The DHCP message inside a frame the client sent, or nil.
func dhcpMessage(_ f: [UInt8]) -> (type: UInt8, xid: UInt32, options: [UInt8: [UInt8]])? {
    guard case .success(let ip) = IPv4Packet.parse(f, at: 14, end: f.count), ip.proto == IPProtocol.udp,
          let u = UDPDatagram.parse(f, at: ip.payloadStart, end: ip.payloadEnd, source: ip.source, destination: ip.destination),
          u.destinationPort == 67 else { return nil }
    let m = Array(f[u.dataStart..<u.dataEnd])
    var opts: [UInt8: [UInt8]] = [:]
    var i = 240
    while i + 1 < m.count && m[i] != 255 {
        let len = Int(m[i + 1])
        opts[m[i]] = Array(m[(i + 2)..<min(m.count, i + 2 + len)])
        i += 2 + len
    }
    return (opts[53]?.first ?? 0, m.u32(4), opts)
}

/// A server reply (op 2) of `type` offering `yiaddr`, broadcast to the client.
func dhcpReply(type: UInt8, xid: UInt32, yiaddr: IPv4Address, lease: UInt32 = 3600, mac: MACAddress = serverMAC) -> [UInt8] {
    var m = [UInt8](repeating: 0, count: 240)
    m[0] = 2; m[1] = 1; m[2] = 6
    m.put32(4, xid); m.putIP(16, yiaddr); m.putMAC(28, mac); m.put32(236, 0x6382_5363)
    m += [53, 1, type, 54, 4, 10, 77, 0, 1, 1, 4, 255, 255, 255, 0, 3, 4, 10, 77, 0, 1, 51, 4,
          UInt8(lease >> 24), UInt8(lease >> 16 & 0xff), UInt8(lease >> 8 & 0xff), UInt8(lease & 0xff), 255]
    var u = [UInt8](repeating: 0, count: 8) + m
    u.put16(0, 67); u.put16(2, 68); u.put16(4, UInt16(u.count))
    u.put16(6, Checksum.finish(Checksum.sum(u, 0, u.count, initial: Checksum.pseudo(src: dhcpServer, dst: .broadcast, proto: IPProtocol.udp, length: u.count))))
    var f = ipFrame(proto: IPProtocol.udp, u, src: dhcpServer, dst: .broadcast)
    f.putMAC(0, .broadcast)
    return f
}

@Test func dhcpLeaseRenewAndExpiry() {
    let s = NetStack(mac: serverMAC, config: NetConfig(address: .any, prefixLength: 0), mtu: 1500)
    #expect(NetConfig.parse(["ip=dhcp"], default: NetConfig(address: serverIP)).config?.address == .any)
    s.startDHCP(now: 0)
    var out = s.takeOutput()
    guard out.count == 1, let discover = dhcpMessage(out[0]) else { Issue.record("no DISCOVER"); return }
    #expect(discover.type == 1 && out[0].mac(0) == .broadcast)
    // No answer: retransmitted.
    s.tick(now: 2_000_000_000)
    out = s.takeOutput()
    #expect(out.count == 1 && dhcpMessage(out[0])?.type == 1)
    // An OFFER for another transaction is ignored; ours gets a REQUEST for the offered address.
    var f = dhcpReply(type: 2, xid: discover.xid &+ 1, yiaddr: IPv4Address(10, 77, 0, 50))
    s.input(f, length: f.count, now: 2_100_000_000)
    #expect(s.takeOutput().isEmpty)
    f = dhcpReply(type: 2, xid: discover.xid, yiaddr: IPv4Address(10, 77, 0, 50))
    s.input(f, length: f.count, now: 2_100_000_000)
    out = s.takeOutput()
    guard out.count == 1, let request = dhcpMessage(out[0]) else { Issue.record("no REQUEST"); return }
    #expect(request.type == 3 && request.options[50] == [10, 77, 0, 50] && request.options[54] == [10, 77, 0, 1])
    // ACK: configured, announced.
    f = dhcpReply(type: 5, xid: discover.xid, yiaddr: IPv4Address(10, 77, 0, 50), lease: 100)
    s.input(f, length: f.count, now: 2_200_000_000)
    #expect(s.dhcp?.state == .bound)
    #expect(s.config == NetConfig(address: IPv4Address(10, 77, 0, 50), prefixLength: 24, gateway: dhcpServer))
    out = s.takeOutput()
    #expect(out.count == 1 && ARPPacket.parse(out[0], at: 14, end: out[0].count)?.senderIP == IPv4Address(10, 77, 0, 50))
    // T1 (half the lease): a renewing REQUEST; an ACK extends the lease.
    s.tick(now: 2_200_000_000 + 50_000_000_000)
    out = s.takeOutput()
    #expect(s.dhcp?.state == .renewing && out.count == 1 && dhcpMessage(out[0])?.type == 3)
    f = dhcpReply(type: 5, xid: discover.xid, yiaddr: IPv4Address(10, 77, 0, 50), lease: 100)
    s.input(f, length: f.count, now: 53_000_000_000)
    #expect(s.dhcp?.state == .bound)
    // No more answers: at the end of the lease the address goes and discovery starts again.
    var t: UInt64 = 53_000_000_000
    while s.dhcp?.state != .selecting && t < 400_000_000_000 { t += 1_000_000_000; s.tick(now: t); _ = s.takeOutput() }
    #expect(s.dhcp?.state == .selecting && s.config.address == .any && s.dhcp?.lease == nil)
    #expect(t >= 153_000_000_000)
}

@Test func dhcpNakRestartsAndMalformedRepliesAreIgnored() {
    let s = NetStack(mac: serverMAC, config: NetConfig(address: .any, prefixLength: 0), mtu: 1500)
    s.startDHCP(now: 0)
    let xid = dhcpMessage(s.takeOutput()[0])!.xid
    var f = dhcpReply(type: 2, xid: xid, yiaddr: IPv4Address(10, 77, 0, 51))
    s.input(f, length: f.count, now: 1)
    _ = s.takeOutput()
    f = dhcpReply(type: 6, xid: xid, yiaddr: .any)
    s.input(f, length: f.count, now: 2)
    #expect(s.dhcp?.state == .selecting && s.dhcp?.lease == nil)
    #expect(dhcpMessage(s.takeOutput()[0])?.type == 1)
    // Truncated options, a wrong MAC, garbage: nothing happens.
    let xid2 = s.dhcp!.xid
    var bad = dhcpReply(type: 2, xid: xid2, yiaddr: IPv4Address(10, 77, 0, 52), mac: clientMAC)
    s.input(bad, length: bad.count, now: 3)
    bad = dhcpReply(type: 2, xid: xid2, yiaddr: IPv4Address(10, 77, 0, 52))
    bad.put16(16, UInt16(bad.count - 14 - 20))            // cut the IP total length into the options
    s.input(bad, length: bad.count - 20, now: 3)
    #expect(s.dhcp?.state == .selecting && s.takeOutput().isEmpty)
}
