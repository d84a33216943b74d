// Stack.swift: NetStack, the platform-independent stack: frames in, frames out; ARP, IPv4, ICMP echo, UDP sockets, TCP demultiplexing, timers.
//
// Nothing here touches a device or a clock: the caller passes each received
// frame and the time (`input`, `tick`) and takes the frames to transmit
// (`takeOutput`). Network.swift drives it on a Skiff guest; the unit tests
// and the fuzz target drive it on the host.

/// Static IPv4 configuration.
public struct NetConfig: Equatable {
    public var address: IPv4Address
    public var prefixLength: Int
    public var gateway: IPv4Address?

    public init(address: IPv4Address, prefixLength: Int = 24, gateway: IPv4Address? = nil) {
        self.address = address
        self.prefixLength = max(0, min(32, prefixLength))
        self.gateway = gateway
    }

    public var netmask: UInt32 { prefixLength == 0 ? 0 : UInt32.max << UInt32(32 - prefixLength) }

    public func isLocal(_ a: IPv4Address) -> Bool { a.raw & netmask == address.raw & netmask }

    /// `ip=A.B.C.D[/N]` (or `ip=dhcp`: address 0.0.0.0, to be leased) and
    /// `gw=A.B.C.D` from a command line; other words are left for the application. Returns nil (and `error`) on a malformed value.
    public static func parse(_ words: [String], default fallback: NetConfig) -> (config: NetConfig?, error: String?, rest: [String]) {
        var config = fallback
        var rest: [String] = []
        for w in words {
            let u = Array(w.utf8)
            if u.starts(with: Array("ip=".utf8)) {
                let value = String(decoding: u[3...], as: UTF8.self)
                if value == "dhcp" { config.address = .any; config.prefixLength = 0; continue }
                let parts = value.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
                guard parts.count <= 2, let a = IPv4Address(String(decoding: parts[0], as: UTF8.self)) else {
                    return (nil, "bad address '\(value)' (want ip=A.B.C.D or ip=A.B.C.D/N)", rest)
                }
                config.address = a
                if parts.count == 2 {
                    guard let n = Int(String(decoding: parts[1], as: UTF8.self)), n >= 1, n <= 32 else {
                        return (nil, "bad prefix length in '\(value)' (want 1-32)", rest)
                    }
                    config.prefixLength = n
                }
            } else if u.starts(with: Array("gw=".utf8)) {
                let value = String(decoding: u[3...], as: UTF8.self)
                guard let g = IPv4Address(value) else { return (nil, "bad gateway '\(value)' (want gw=A.B.C.D)", rest) }
                config.gateway = g
            } else {
                rest.append(w)
            }
        }
        return (config, nil, rest)
    }
}

/// Counters, for tests and diagnostics.
public struct NetStats {
    public var framesIn = 0, framesOut = 0
    public var malformed = 0           // frames no parser accepted
    public var badChecksum = 0
    public var fragmentsDropped = 0
    public var notForUs = 0
    public var arpRequestsAnswered = 0
    public var echoReplies = 0
    public var udpIn = 0, udpDropped = 0
    public var tcpIn = 0
    public var tcpResetsSent = 0
    public var tcpSynDropped = 0       // SYNs refused because the backlog was full
    public var tcpOutOfWindow = 0
    public var tcpOutOfOrder = 0
    public var tcpRetransmits = 0
    public var tcpFastRetransmits = 0
    public var arpQueueDropped = 0
    public var icmpUnreachable = 0     // ICMP destination unreachable that failed a connect
}

/// A received UDP datagram.
public struct UDPMessage {
    public var source: IPv4Address
    public var sourcePort: UInt16
    public var data: [UInt8]
}

/// A bound UDP port: datagrams queue (bounded) until `receive()`.
public final class UDPSocket {
    let stack: NetStack             // a cycle with the stack's table: NetStack.shutdown() breaks it (Embedded Swift has no unowned)
    public let port: UInt16
    var queue: [UDPMessage] = []
    public var queueLimit = 64

    init(stack: NetStack, port: UInt16) {
        self.stack = stack
        self.port = port
    }

    /// The next datagram, or nil.
    public func receive() -> UDPMessage? { queue.isEmpty ? nil : queue.removeFirst() }

    /// Sends `data` (at most MTU - 28 bytes; longer is refused: false).
    @discardableResult
    public func send(_ data: [UInt8], to address: IPv4Address, port remotePort: UInt16) -> Bool {
        stack.sendUDP(data, from: port, to: address, port: remotePort)
    }
}

public final class NetStack {
    public let mac: MACAddress
    public var config: NetConfig
    public let mtu: Int
    public var stats = NetStats()
    /// The time of the last `input` or `tick` (nanoseconds).
    public internal(set) var now: UInt64 = 0

    // Tunables.
    public var arpLifetime: UInt64 = 60_000_000_000
    public var timeWaitNanoseconds: UInt64 = 4_000_000_000      // 2 MSL with a short MSL (see docs/networking.md)
    public var minimumRTO: UInt64 = 200_000_000
    public var maximumRTO: UInt64 = 60_000_000_000
    public var maxRetries = 12
    public var synRetries = 4
    /// SYN retransmissions of `connect` before it fails with `.timedOut` (with the RTO doubling from
    /// 1 s: sent at 0, 1, 3, 7, 15 and 31 s, given up at 63 s).
    public var connectRetries = 5
    /// The ephemeral port range of `connect` (RFC 6335's dynamic ports).
    public var ephemeralPorts: ClosedRange<UInt16> = 49152...65535
    public var sendBufferSize = 256 * 1024
    public var receiveBufferSize = 64 * 1024 - 1

    /// Our MSS: the MTU less the IPv4 and TCP headers.
    public var mss: Int { mtu - 40 }

    struct ARPEntry { var ip: IPv4Address; var mac: MACAddress; var expires: UInt64 }
    struct ARPWait { var ip: IPv4Address; var tries: Int; var next: UInt64 }
    var arpCache: [ARPEntry] = []
    var arpWaiting: [ARPWait] = []
    var arpQueue: [(ip: IPv4Address, frame: [UInt8])] = []
    var output: [[UInt8]] = []
    var pendingAcks: [TCPConnection] = []
    var listeners: [TCPListener] = []
    var connections: [TCPConnection] = []
    var udpSockets: [UDPSocket] = []
    var ipID: UInt16 = 1
    var random: UInt64
    /// The DHCP client, once `startDHCP` ran.
    public internal(set) var dhcp: DHCPClient? = nil

    public init(mac: MACAddress, config: NetConfig, mtu: Int = 1500, seed: UInt64 = 0x9e37_79b9_7f4a_7c15) {
        self.mac = mac
        self.config = config
        self.mtu = max(576, min(mtu, 9000))
        self.random = seed | 1
    }

    // MARK: driving

    /// Announces our address (gratuitous ARP, RFC 5227 announcement).
    public func start(now: UInt64) {
        self.now = now
        var f = [UInt8](repeating: 0, count: 42)
        f.putMAC(0, .broadcast); f.putMAC(6, mac); f.put16(12, EtherType.arp)
        ARPPacket(operation: 1, senderMAC: mac, senderIP: config.address, targetMAC: .zero,
                  targetIP: config.address).write(into: &f, at: 14)
        emit(f)
    }

    /// The frames to transmit, oldest first; the stack forgets them.
    public func takeOutput() -> [[UInt8]] {
        sendPendingAcks()
        let out = output
        output.removeAll(keepingCapacity: true)
        return out
    }

    public var hasOutput: Bool { !output.isEmpty || !pendingAcks.isEmpty }

    /// Sends the ACKs still owed (delayed to ride on the application's answer).
    func sendPendingAcks() {
        guard !pendingAcks.isEmpty else { return }
        for c in pendingAcks where c.ackPending && c.isSynchronized { c.sendAck() }
        pendingAcks.removeAll(keepingCapacity: true)
    }

    /// When `tick` next has work (nil: no timer armed).
    public func nextDeadline() -> UInt64? {
        var d: UInt64? = nil
        func consider(_ t: UInt64?) { if let t { d = min(d ?? t, t) } }
        for w in arpWaiting { consider(w.next) }
        for c in connections { consider(c.deadline) }
        consider(dhcp?.deadline)
        return d
    }

    /// Runs the timers due at `now`: ARP retries, TCP retransmission,
    /// persist and TIME_WAIT; forgets closed connections.
    public func tick(now: UInt64) {
        self.now = now
        var i = 0
        while i < arpWaiting.count {
            if now >= arpWaiting[i].next {
                if arpWaiting[i].tries >= 3 {
                    let ip = arpWaiting[i].ip
                    let before = arpQueue.count
                    arpQueue.removeAll { $0.ip == ip }
                    stats.arpQueueDropped += before - arpQueue.count
                    arpWaiting.remove(at: i)
                    // A connect whose next hop never answered fails now, not after all its SYN retries.
                    for c in connections where c.state == .synSent && nextHop(c.remoteAddress) == ip {
                        c.enterClosed(reset: false, failure: .unreachable)
                    }
                    continue
                }
                arpWaiting[i].tries += 1
                arpWaiting[i].next = now &+ 1_000_000_000
                sendARPRequest(for: arpWaiting[i].ip)
            }
            i += 1
        }
        for c in connections { c.timers(now: now) }
        connections.removeAll { $0.state == .closed }
        dhcp?.tick(now: now)
    }

    /// Forgets every connection, listener, socket and the DHCP client, sending nothing. Sockets
    /// point back at their stack, so a stack that is dropped (host tests, the fuzzer; a guest's
    /// stack lives as long as the guest) is freed only after this.
    public func shutdown() {
        for c in connections { c.listener = nil }
        connections = []; listeners = []; udpSockets = []; pendingAcks = []; dhcp = nil
        arpQueue = []; output = []
    }

    // MARK: sockets

    public enum SocketError: Error, Equatable {
        /// `listen`/`udp`: the port is already bound.
        case portInUse
        /// `connect`: every ephemeral port (`ephemeralPorts`, 49152-65535) is taken by a connection
        /// (TIME_WAIT included) or a listener.
        case noFreePort
        /// `connect`: the destination is off-link and there is no gateway (`gw=`).
        case noRoute
        /// `connect`: not a unicast destination (0.0.0.0, a broadcast, our own address), port 0,
        /// or we have no address yet (`ip=dhcp` before the lease).
        case badAddress

        /// One line for the console.
        public var message: String {
            switch self {
            case .portInUse: return "port already in use"
            case .noFreePort: return "no free local port (all ephemeral ports in use)"
            case .noRoute: return "no route to the destination (off-link, and no gw=)"
            case .badAddress: return "not a unicast destination (or no local address yet)"
            }
        }
    }

    /// Listens on TCP `port`.
    public func listen(port: UInt16, backlog: Int = 128) throws(SocketError) -> TCPListener {
        guard !listeners.contains(where: { $0.port == port }) else { throw .portInUse }
        let l = TCPListener(port: port, backlog: backlog)
        listeners.append(l)
        return l
    }

    /// Binds UDP `port`.
    public func udp(port: UInt16) throws(SocketError) -> UDPSocket {
        guard !udpSockets.contains(where: { $0.port == port }) else { throw .portInUse }
        let s = UDPSocket(stack: self, port: port)
        udpSockets.append(s)
        return s
    }

    /// Opens a TCP connection to `address`:`port` (active open, RFC 9293 3.10.1): picks a free
    /// ephemeral local port, sends the SYN (behind an ARP request for the next hop when its MAC is not
    /// cached) and returns the connection in SYN-SENT. Nothing blocks: drive the stack until
    /// `isConnecting` is false; then `failure` is nil (established: read and write) or says why
    /// (`.refused`, `.timedOut`, `.unreachable`). Writes made while connecting are sent once it is
    /// established. `now`: the current time, when the caller has a fresher one than the last `input`/`tick`.
    public func connect(to address: IPv4Address, port: UInt16, now: UInt64? = nil) throws(SocketError) -> TCPConnection {
        if let now, now > self.now { self.now = now }
        guard port != 0, address != .any, address != .broadcast, config.address != .any, address != config.address,
              address.raw != config.address.raw | ~config.netmask, address.raw >> 28 != 0xe else { throw .badAddress }
        guard nextHop(address) != nil else { throw .noRoute }
        guard let local = freeEphemeralPort() else { throw .noFreePort }
        let c = TCPConnection(stack: self, localPort: local, remoteAddress: address, remotePort: port,
                              sendCapacity: sendBufferSize, receiveCapacity: receiveBufferSize)
        connections.append(c)
        c.openActive(iss: nextISS(), now: self.now)
        return c
    }

    /// An ephemeral port no connection uses (in any state, TIME_WAIT included, so that no 4-tuple
    /// is reused while its old segments may still be around) and no listener holds. The search starts
    /// at a random port and goes up (RFC 6056, algorithm 1).
    func freeEphemeralPort() -> UInt16? {
        let low = Int(ephemeralPorts.lowerBound), count = Int(ephemeralPorts.count)
        let start = Int(nextISS() % UInt32(count))
        for i in 0..<count {
            let p = UInt16(low + (start + i) % count)
            if !connections.contains(where: { $0.localPort == p }) && !listeners.contains(where: { $0.port == p }) { return p }
        }
        return nil
    }

    /// Where a packet to `destination` goes on the link: itself when on-link, else the gateway (nil: no route).
    func nextHop(_ destination: IPv4Address) -> IPv4Address? {
        if config.isLocal(destination) { return destination }
        return config.gateway
    }

    /// Open connections (any state but closed).
    public var connectionCount: Int { connections.count }

    // MARK: input

    /// Processes one received frame: `frame[0..<length]`.
    public func input(_ frame: [UInt8], length: Int, now: UInt64) {
        self.now = now
        stats.framesIn += 1
        guard let eth = EthernetFrame.parse(frame, length: length) else { stats.malformed += 1; return }
        guard eth.destination == mac || eth.destination == .broadcast else { stats.notForUs += 1; return }
        switch eth.type {
        case EtherType.arp: inputARP(frame, end: length, now: now)
        case EtherType.ipv4: inputIPv4(frame, end: length, source: eth.source, now: now)
        default: stats.notForUs += 1
        }
    }

    func inputARP(_ f: [UInt8], end: Int, now: UInt64) {
        guard let arp = ARPPacket.parse(f, at: 14, end: end) else { stats.malformed += 1; return }
        guard arp.senderMAC != .broadcast, arp.senderMAC.raw & 0x0100_0000_0000 == 0, arp.senderIP != .any else { return }
        let forUs = arp.targetIP == config.address && config.address != .any
        // RFC 826: update an existing entry; add one when the packet is for us.
        if let i = arpCache.firstIndex(where: { $0.ip == arp.senderIP }) {
            arpCache[i].mac = arp.senderMAC
            arpCache[i].expires = now &+ arpLifetime
            resolved(arp.senderIP, arp.senderMAC)
        } else if forUs {
            learn(arp.senderIP, arp.senderMAC, now: now)
        }
        if forUs && arp.operation == 1 {
            var r = [UInt8](repeating: 0, count: 42)
            r.putMAC(0, arp.senderMAC); r.putMAC(6, mac); r.put16(12, EtherType.arp)
            ARPPacket(operation: 2, senderMAC: mac, senderIP: config.address, targetMAC: arp.senderMAC,
                      targetIP: arp.senderIP).write(into: &r, at: 14)
            stats.arpRequestsAnswered += 1
            emit(r)
        }
    }

    func learn(_ ip: IPv4Address, _ m: MACAddress, now: UInt64) {
        if let i = arpCache.firstIndex(where: { $0.ip == ip }) {
            arpCache[i] = ARPEntry(ip: ip, mac: m, expires: now &+ arpLifetime)
        } else {
            if arpCache.count >= 256 {
                // Evict the entry closest to expiry.
                var oldest = 0
                for (i, e) in arpCache.enumerated() where e.expires < arpCache[oldest].expires { oldest = i }
                arpCache.remove(at: oldest)
            }
            arpCache.append(ARPEntry(ip: ip, mac: m, expires: now &+ arpLifetime))
        }
        resolved(ip, m)
    }

    func resolved(_ ip: IPv4Address, _ m: MACAddress) {
        arpWaiting.removeAll { $0.ip == ip }
        guard arpQueue.contains(where: { $0.ip == ip }) else { return }
        var keep: [(ip: IPv4Address, frame: [UInt8])] = []
        for var q in arpQueue {
            if q.ip == ip { q.frame.putMAC(0, m); emit(q.frame) } else { keep.append(q) }
        }
        arpQueue = keep
    }

    /// The cached MAC of `ip`, if fresh.
    public func arpLookup(_ ip: IPv4Address) -> MACAddress? {
        guard let i = arpCache.firstIndex(where: { $0.ip == ip }) else { return nil }
        if now >= arpCache[i].expires { arpCache.remove(at: i); return nil }
        return arpCache[i].mac
    }

    func inputIPv4(_ f: [UInt8], end: Int, source: MACAddress, now: UInt64) {
        let ip: IPv4Packet
        switch IPv4Packet.parse(f, at: 14, end: end) {
        case .success(let p): ip = p
        case .failure(.checksum): stats.badChecksum += 1; return
        case .failure: stats.malformed += 1; return
        }
        let broadcast = ip.destination == .broadcast || ip.destination.raw == config.address.raw | ~config.netmask
        guard (ip.destination == config.address && config.address != .any) || broadcast
                || (dhcp != nil && config.address == .any && ip.proto == IPProtocol.udp) else { stats.notForUs += 1; return }
        guard !ip.isFragment else { stats.fragmentsDropped += 1; return }
        switch ip.proto {
        case IPProtocol.icmp where !broadcast: inputICMP(f, ip)
        case IPProtocol.udp: inputUDP(f, ip, now: now)
        case IPProtocol.tcp where !broadcast: inputTCP(f, ip, now: now)
        default: stats.notForUs += 1
        }
    }

    func inputICMP(_ f: [UInt8], _ ip: IPv4Packet) {
        let o = ip.payloadStart, n = ip.payloadEnd - ip.payloadStart
        guard n >= 8 else { stats.malformed += 1; return }
        guard Checksum.finish(Checksum.sum(f, o, n)) == 0 else { stats.badChecksum += 1; return }
        if f.u8(o) == 3 { inputUnreachable(f, quote: o + 8, end: o + n, code: f.u8(o + 1)); return }
        guard f.u8(o) == 8, f.u8(o + 1) == 0 else { return }        // echo request; the rest is ignored
        guard n + 28 <= mtu + 14 else { return }
        var r = newFrame(payload: n)
        for i in 0..<n { r[34 + i] = f[o + i] }
        r[34] = 0; r.put16(36, 0)
        r.put16(36, Checksum.finish(Checksum.sum(r, 34, n)))
        stats.echoReplies += 1
        transmitIPv4(&r, to: ip.source, proto: IPProtocol.icmp, payloadLength: n)
    }

    /// ICMP destination unreachable (RFC 792) about one of our SYNs: the `connect` fails now rather than
    /// after its retransmissions, as RFC 1122 4.2.3.9 allows and Linux does in SYN-SENT. Port and protocol
    /// unreachable mean `.refused`, the other codes `.unreachable`; "fragmentation needed" (code 4) is
    /// ignored (no path MTU discovery). The quoted IP header must be ours and the quoted TCP header must
    /// name a connecting connection's ports and its ISS, so a forger has to guess the ISS. Open
    /// connections ignore ICMP errors (soft errors: their own retransmissions decide).
    func inputUnreachable(_ f: [UInt8], quote o: Int, end: Int, code: UInt8) {
        guard end - o >= IPv4Packet.minimumHeader + 8, f.u8(o) >> 4 == 4 else { stats.malformed += 1; return }
        let ihl = Int(f.u8(o) & 15) * 4
        guard ihl >= IPv4Packet.minimumHeader, end - o >= ihl + 8 else { stats.malformed += 1; return }
        guard f.u8(o + 9) == IPProtocol.tcp, f.ip(o + 12) == config.address, code != 4 else { return }
        let remote = f.ip(o + 16), t = o + ihl
        let localPort = f.u16(t), remotePort = f.u16(t + 2), seq = f.u32(t + 4)
        guard let c = connections.first(where: { $0.isConnecting && $0.localPort == localPort
                                                   && $0.remotePort == remotePort && $0.remoteAddress == remote }),
              seq == c.iss else { return }
        stats.icmpUnreachable += 1
        c.enterClosed(reset: false, failure: code == 2 || code == 3 ? .refused : .unreachable)
    }

    func inputUDP(_ f: [UInt8], _ ip: IPv4Packet, now: UInt64) {
        guard let u = UDPDatagram.parse(f, at: ip.payloadStart, end: ip.payloadEnd, source: ip.source, destination: ip.destination) else {
            countBad(f, ip); return
        }
        stats.udpIn += 1
        if u.destinationPort == DHCPClient.clientPort, u.sourcePort == DHCPClient.serverPort, let dhcp {
            dhcp.receive(Array(f[u.dataStart..<u.dataEnd]), now: now)
            return
        }
        guard let s = udpSockets.first(where: { $0.port == u.destinationPort }), s.queue.count < s.queueLimit else {
            stats.udpDropped += 1; return
        }
        s.queue.append(UDPMessage(source: ip.source, sourcePort: u.sourcePort, data: Array(f[u.dataStart..<u.dataEnd])))
    }

    func inputTCP(_ f: [UInt8], _ ip: IPv4Packet, now: UInt64) {
        guard let seg = TCPSegment.parse(f, at: ip.payloadStart, end: ip.payloadEnd, source: ip.source, destination: ip.destination) else {
            countBad(f, ip); return
        }
        stats.tcpIn += 1
        if let c = connections.first(where: { $0.remotePort == seg.sourcePort && $0.localPort == seg.destinationPort
                                                && $0.remoteAddress == ip.source && $0.state != .closed }) {
            c.receive(seg, frame: f, now: now)
            return
        }
        if seg.flags.has(.rst) { return }
        if seg.flags.has(.syn) && !seg.flags.has(.ack), let l = listeners.first(where: { $0.port == seg.destinationPort && !$0.closed }) {
            guard ip.source != config.address, ip.source != .any, ip.source != .broadcast,
                  seg.sourcePort != 0 else { return }
            if l.halfOpen + l.queue.count >= l.backlog {
                // Full. Under a SYN flood the backlog is all half-open: drop the oldest half-open
                // connection so that a real client still gets in; with only completed connections
                // waiting for accept(), refuse the SYN (the client retries).
                stats.tcpSynDropped += 1
                guard l.halfOpen > 0, let old = connections.firstIndex(where: { $0.listener === l && $0.state == .synReceived })
                else { return }
                connections[old].enterClosed(reset: false)
                connections.remove(at: old)
            }
            let c = TCPConnection(stack: self, localPort: seg.destinationPort, remoteAddress: ip.source,
                                  remotePort: seg.sourcePort, sendCapacity: sendBufferSize, receiveCapacity: receiveBufferSize)
            c.listener = l
            l.halfOpen += 1
            connections.append(c)
            c.openPassive(syn: seg, iss: nextISS(), now: now)
            return
        }
        sendReset(to: seg, source: ip.source, frameLength: seg.sequenceLength)
    }

    /// A TCP or UDP payload its parser refused: a bad checksum, or malformed.
    func countBad(_ f: [UInt8], _ ip: IPv4Packet) {
        let n = ip.payloadEnd - ip.payloadStart
        let sum = Checksum.sum(f, ip.payloadStart, n, initial: Checksum.pseudo(src: ip.source, dst: ip.destination, proto: ip.proto, length: n))
        if n >= 8 && Checksum.finish(sum) != 0 { stats.badChecksum += 1 } else { stats.malformed += 1 }
    }

    func nextISS() -> UInt32 {
        // xorshift64*, seeded by the caller (Network seeds it from the clock); see docs/networking.md on ISNs.
        random ^= random >> 12; random ^= random << 25; random ^= random >> 27
        return UInt32(truncatingIfNeeded: (random &* 0x2545_f491_4f6c_dd1d) >> 32) &+ UInt32(truncatingIfNeeded: now >> 12)
    }

    /// RFC 9293 3.10.7.1: the reset for a segment to no connection.
    func sendReset(to seg: TCPSegment, source: IPv4Address, frameLength: Int) {
        guard !seg.flags.has(.rst) else { return }
        var r = newFrame(payload: 20)
        let o = 34
        r.put16(o, seg.destinationPort); r.put16(o + 2, seg.sourcePort)
        if seg.flags.has(.ack) {
            r.put32(o + 4, seg.acknowledgment); r.put8(o + 13, TCPFlags.rst.raw)
        } else {
            r.put32(o + 4, 0); r.put32(o + 8, seg.sequence &+ UInt32(seg.sequenceLength))
            r.put8(o + 13, (TCPFlags.rst | .ack).raw)
        }
        r.put8(o + 12, 5 << 4)
        let sum = Checksum.sum(r, o, 20, initial: Checksum.pseudo(src: config.address, dst: source, proto: IPProtocol.tcp, length: 20))
        r.put16(o + 16, Checksum.finish(sum))
        stats.tcpResetsSent += 1
        transmitIPv4(&r, to: source, proto: IPProtocol.tcp, payloadLength: 20)
    }

    // MARK: output

    /// A zeroed frame with room for Ethernet + IPv4 headers + `payload` bytes (payload at 34).
    func newFrame(payload: Int) -> [UInt8] { [UInt8](repeating: 0, count: 34 + payload) }

    func emit(_ f: [UInt8]) {
        stats.framesOut += 1
        output.append(f)
    }

    /// Fills the IPv4 and Ethernet headers of `f` and sends it, or queues it behind an ARP request.
    func transmitIPv4(_ f: inout [UInt8], to destination: IPv4Address, proto: UInt8, payloadLength: Int) {
        IPv4Packet.writeHeader(into: &f, at: 14, payloadLength: payloadLength, id: ipID, ttl: 64, proto: proto,
                               source: config.address, destination: destination)
        ipID &+= 1
        f.putMAC(6, mac); f.put16(12, EtherType.ipv4)
        if destination == .broadcast || destination.raw == config.address.raw | ~config.netmask {
            f.putMAC(0, .broadcast); emit(f); return
        }
        guard let hop = nextHop(destination) else { return }   // no route
        if let m = arpLookup(hop) {
            f.putMAC(0, m); emit(f); return
        }
        if arpQueue.count >= 64 { stats.arpQueueDropped += 1; return }
        arpQueue.append((hop, f))
        if !arpWaiting.contains(where: { $0.ip == hop }) {
            arpWaiting.append(ARPWait(ip: hop, tries: 1, next: now &+ 1_000_000_000))
            sendARPRequest(for: hop)
        }
    }

    func sendARPRequest(for ip: IPv4Address) {
        var f = [UInt8](repeating: 0, count: 42)
        f.putMAC(0, .broadcast); f.putMAC(6, mac); f.put16(12, EtherType.arp)
        ARPPacket(operation: 1, senderMAC: mac, senderIP: config.address, targetMAC: .zero, targetIP: ip).write(into: &f, at: 14)
        emit(f)
    }

    /// Starts the DHCP client: the address becomes 0.0.0.0 until a lease is bound (`dhcp?.lease`).
    public func startDHCP(now: UInt64) {
        self.now = now
        config = NetConfig(address: .any, prefixLength: 0)
        let client = DHCPClient(stack: self, xid: UInt32(truncatingIfNeeded: random >> 16))
        dhcp = client
        client.begin(now: now)
    }

    /// A UDP datagram with an explicit source address (DHCP sends from 0.0.0.0).
    func sendUDPRaw(_ data: [UInt8], from port: UInt16, source: IPv4Address, to address: IPv4Address, port remotePort: UInt16) {
        let n = data.count + 8
        var f = newFrame(payload: n)
        f.put16(34, port); f.put16(36, remotePort); f.put16(38, UInt16(truncatingIfNeeded: n))
        for (i, b) in data.enumerated() { f[42 + i] = b }
        let sum = Checksum.finish(Checksum.sum(f, 34, n, initial: Checksum.pseudo(src: source, dst: address, proto: IPProtocol.udp, length: n)))
        f.put16(40, sum == 0 ? 0xffff : sum)
        IPv4Packet.writeHeader(into: &f, at: 14, payloadLength: n, id: ipID, ttl: 64, proto: IPProtocol.udp,
                               source: source, destination: address)
        ipID &+= 1
        f.putMAC(0, .broadcast); f.putMAC(6, mac); f.put16(12, EtherType.ipv4)
        emit(f)
    }

    func sendUDP(_ data: [UInt8], from port: UInt16, to address: IPv4Address, port remotePort: UInt16) -> Bool {
        let n = data.count + 8
        guard n + 20 <= mtu else { return false }
        var f = newFrame(payload: n)
        f.put16(34, port); f.put16(36, remotePort); f.put16(38, UInt16(n))
        for (i, b) in data.enumerated() { f[42 + i] = b }
        let sum = Checksum.finish(Checksum.sum(f, 34, n, initial: Checksum.pseudo(src: config.address, dst: address, proto: IPProtocol.udp, length: n)))
        f.put16(40, sum == 0 ? 0xffff : sum)
        transmitIPv4(&f, to: address, proto: IPProtocol.udp, payloadLength: n)
        return true
    }

    /// Builds and sends one segment of `c`: header (+ MSS option), then
    /// `dataLength` bytes of its send queue from `dataOffset`.
    func sendTCP(_ c: TCPConnection, seq: UInt32, flags: TCPFlags, dataOffset: Int, dataLength: Int, mss: UInt16? = nil,
                 windowScale: Bool = false) {
        let header = mss == nil ? 20 : (windowScale ? 28 : 24)
        let n = header + dataLength
        var f = newFrame(payload: n)
        let o = 34
        f.put16(o, c.localPort); f.put16(o + 2, c.remotePort)
        f.put32(o + 4, seq)
        f.put32(o + 8, flags.has(.ack) ? c.rcvNxt : 0)
        f.put8(o + 12, UInt8(header / 4) << 4)
        f.put8(o + 13, flags.raw)
        let wnd = c.receiveWindow
        c.advertised = wnd
        f.put16(o + 14, UInt16(wnd))
        if let mss { f.put8(o + 20, 2); f.put8(o + 21, 4); f.put16(o + 22, mss) }
        if mss != nil && windowScale { f.put8(o + 24, 1); f.put8(o + 25, 3); f.put8(o + 26, 3); f.put8(o + 27, 0) }   // NOP, WS shift 0
        if dataLength > 0 { c.sendQueue.copy(from: dataOffset, count: dataLength, into: &f, at: o + header) }
        let sum = Checksum.sum(f, o, n, initial: Checksum.pseudo(src: config.address, dst: c.remoteAddress, proto: IPProtocol.tcp, length: n))
        f.put16(o + 16, Checksum.finish(sum))
        if flags.has(.rst) { stats.tcpResetsSent += 1 }
        if flags.has(.ack) { c.ackPending = false }
        transmitIPv4(&f, to: c.remoteAddress, proto: IPProtocol.tcp, payloadLength: n)
    }
}

// MARK: read-only views for the fuzz target's invariants (Fuzz/NetFuzz)

extension NetStack {
    public var testConnections: [TCPConnection] { connections }
}

extension TCPListener {
    /// Half-open plus unaccepted connections.
    public var testLoad: Int { halfOpen + queue.count }
}

extension DHCPClient {
    public var testXID: UInt32 { xid }
}

extension TCPConnection {
    public var testRcvNxt: UInt32 { rcvNxt }
    public var testSndUna: UInt32 { sndUna }
    public var testSndMax: UInt32 { sndMax }
    /// Sent past the peer's window: SND.MAX beyond SND.UNA + SND.WND, with one sequence number of slack
    /// for a zero-window probe or the FIN. Only meaningful right after SND.MAX moved (a peer may shrink
    /// its window below data already sent).
    public var testSentPastWindow: Bool { seqGT(sndMax, sndUna &+ max(sndWnd, 1)) }
    /// SND.UNA <= SND.NXT <= SND.MAX, and both queues within their capacity.
    public var testInvariantsHold: Bool { testBrokenInvariant == nil }
    /// The first invariant of `testInvariantsHold` that is broken, with the numbers, or nil.
    public var testBrokenInvariant: String? {
        if !seqLE(sndUna, sndNxt) { return "SND.UNA \(sndUna) > SND.NXT \(sndNxt)" }
        if !seqLE(sndNxt, sndMax) { return "SND.NXT \(sndNxt) > SND.MAX \(sndMax)" }
        if receiveQueue.count > receiveCapacity { return "receive queue \(receiveQueue.count) > \(receiveCapacity)" }
        if sendQueue.count > sendCapacity { return "send queue \(sendQueue.count) > \(sendCapacity)" }
        return nil
    }
}
