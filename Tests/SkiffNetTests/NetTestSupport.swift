// NetTestSupport.swift: a scripted peer for the stack's unit tests: builds the frames a client would send and reads the stack's answers.

@testable import SkiffNetCore

let serverMAC = MACAddress(raw: 0x02_00_00_00_00_02)
let serverIP = IPv4Address(10, 77, 0, 2)
let clientMAC = MACAddress(raw: 0x02_00_00_00_00_01)
let clientIP = IPv4Address(10, 77, 0, 1)
let ms: UInt64 = 1_000_000

func makeStack() -> NetStack {
    let s = NetStack(mac: serverMAC, config: NetConfig(address: serverIP, prefixLength: 24), mtu: 1500, seed: 42)
    // Pre-load the client's MAC, as an ARP exchange would.
    s.learn(clientIP, clientMAC, now: 0)
    return s
}

/// A frame from the client: Ethernet + IPv4 + `l4` (protocol `proto`).
func ipFrame(proto: UInt8, _ l4: [UInt8], src: IPv4Address = clientIP, dst: IPv4Address = serverIP) -> [UInt8] {
    var f = [UInt8](repeating: 0, count: 34) + l4
    f.putMAC(0, serverMAC); f.putMAC(6, clientMAC); f.put16(12, EtherType.ipv4)
    IPv4Packet.writeHeader(into: &f, at: 14, payloadLength: l4.count, id: 7, ttl: 64, proto: proto, source: src, destination: dst)
    return f
}

/// A TCP segment from the client (checksummed).
func tcpSegment(sport: UInt16 = 40000, dport: UInt16 = 80, seq: UInt32, ack: UInt32 = 0, flags: TCPFlags,
                window: UInt16 = 65535, mss: UInt16? = nil, wscale: UInt8? = nil, data: [UInt8] = [],
                src: IPv4Address = clientIP) -> [UInt8] {
    let header = mss == nil ? 20 : (wscale == nil ? 24 : 28)
    var t = [UInt8](repeating: 0, count: header) + data
    t.put16(0, sport); t.put16(2, dport); t.put32(4, seq); t.put32(8, ack)
    t.put8(12, UInt8(header / 4) << 4); t.put8(13, flags.raw); t.put16(14, window)
    if let mss { t.put8(20, 2); t.put8(21, 4); t.put16(22, mss) }
    if mss != nil, let wscale { t.put8(24, 1); t.put8(25, 3); t.put8(26, 3); t.put8(27, wscale) }
    let sum = Checksum.sum(t, 0, t.count, initial: Checksum.pseudo(src: src, dst: serverIP, proto: IPProtocol.tcp, length: t.count))
    t.put16(16, Checksum.finish(sum))
    return ipFrame(proto: IPProtocol.tcp, t, src: src)
}

struct SentSegment {
    var seq: UInt32, ack: UInt32, flags: TCPFlags, window: UInt16, mss: UInt16?, wscale: UInt8? = nil, data: [UInt8]
    var sport: UInt16, dport: UInt16
}

/// Parses the stack's output frames as TCP segments to the client (others are skipped).
func segments(_ frames: [[UInt8]]) -> [SentSegment] {
    var out: [SentSegment] = []
    for f in frames {
        guard let e = EthernetFrame.parse(f, length: f.count), e.type == EtherType.ipv4,
              case .success(let ip) = IPv4Packet.parse(f, at: 14, end: f.count), ip.proto == IPProtocol.tcp,
              let s = TCPSegment.parse(f, at: ip.payloadStart, end: ip.payloadEnd, source: ip.source, destination: ip.destination)
        else { continue }
        out.append(SentSegment(seq: s.sequence, ack: s.acknowledgment, flags: s.flags, window: s.window, mss: s.mss,
                               wscale: s.windowScale, data: Array(f[s.dataStart..<s.dataEnd]), sport: s.sourcePort, dport: s.destinationPort))
    }
    return out
}

/// A client connected to `stack`'s listener: does the handshake and tracks sequence numbers.
struct Client {
    let stack: NetStack
    var port: UInt16
    var seq: UInt32 = 1000
    var rcvNxt: UInt32 = 0
    var now: UInt64 = 1 * ms

    init(stack: NetStack, port: UInt16 = 40000) {
        self.stack = stack
        self.port = port
    }

    mutating func send(_ flags: TCPFlags, data: [UInt8] = [], window: UInt16 = 65535, seqOverride: UInt32? = nil) -> [SentSegment] {
        let f = tcpSegment(sport: port, seq: seqOverride ?? seq, ack: rcvNxt, flags: flags, window: window, data: data)
        stack.input(f, length: f.count, now: now)
        if seqOverride == nil { seq &+= UInt32(data.count) + (flags.has(.syn) ? 1 : 0) + (flags.has(.fin) ? 1 : 0) }
        return segments(stack.takeOutput())
    }

    /// SYN, SYN-ACK, ACK. Returns the SYN-ACK.
    mutating func connect(mss: UInt16 = 1460) -> SentSegment? {
        let f = tcpSegment(sport: port, seq: seq, flags: .syn, mss: mss)
        stack.input(f, length: f.count, now: now)
        seq &+= 1
        guard let synack = segments(stack.takeOutput()).first(where: { $0.dport == port && $0.flags.has(.syn) }) else { return nil }
        rcvNxt = synack.seq &+ 1
        _ = send(.ack)
        return synack
    }
}
