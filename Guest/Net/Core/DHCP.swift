// DHCP.swift: a DHCPv4 client (RFC 2131): DISCOVER, OFFER, REQUEST, ACK; renewal at T1, rebinding at T2, restart at lease end.

/// What the server leased to us.
public struct DHCPLease: Equatable {
    public var address: IPv4Address
    public var prefixLength: Int
    public var gateway: IPv4Address?
    public var server: IPv4Address
    public var seconds: UInt32
}

/// The DHCP client of a NetStack (`NetStack.startDHCP`). Broadcasts with the
/// BROADCAST flag set, so answers reach us before we have an address.
public final class DHCPClient {
    public enum State: Equatable { case selecting, requesting, bound, renewing, rebinding }

    let stack: NetStack             // a cycle with the stack's table: NetStack.shutdown() breaks it (Embedded Swift has no unowned)
    public internal(set) var state: State = .selecting
    public internal(set) var lease: DHCPLease? = nil
    var xid: UInt32
    var offer: (address: IPv4Address, server: IPv4Address)? = nil
    var nextSend: UInt64 = 0
    var tries = 0
    var t1: UInt64 = 0, t2: UInt64 = 0, end: UInt64 = 0

    static let clientPort: UInt16 = 68
    static let serverPort: UInt16 = 67
    static let magic: UInt32 = 0x6382_5363

    init(stack: NetStack, xid: UInt32) {
        self.stack = stack
        self.xid = xid
    }

    /// When the client next has something to do.
    var deadline: UInt64? {
        switch state {
        case .selecting, .requesting: return nextSend
        case .bound: return t1
        case .renewing, .rebinding: return min(nextSend, end)
        }
    }

    func begin(now: UInt64) {
        state = .selecting
        offer = nil
        tries = 0
        xid &+= 0x9e37_79b9
        send(type: 1, now: now)
    }

    /// The retransmission delay: 2, 4, 8, 16 s, then 16 s (RFC 2131 4.1 suggests 4 s doubling; shorter here).
    func backoff() -> UInt64 { UInt64(1) << UInt64(min(tries, 4)) * 1_000_000_000 }

    func send(type: UInt8, now: UInt64) {
        var m = [UInt8](repeating: 0, count: 300)
        m[0] = 1; m[1] = 1; m[2] = 6
        m.put32(4, xid)
        m.put16(10, 0x8000)                                     // BROADCAST
        if state == .renewing || state == .rebinding { m.putIP(12, stack.config.address) }   // ciaddr
        m.putMAC(28, stack.mac)
        m.put32(236, DHCPClient.magic)
        var o = 240
        func option(_ code: UInt8, _ bytes: [UInt8]) {
            m.put8(o, code); m.put8(o + 1, UInt8(bytes.count))
            for (i, b) in bytes.enumerated() { m.put8(o + 2 + i, b) }
            o += 2 + bytes.count
        }
        func ip(_ a: IPv4Address) -> [UInt8] { [UInt8(a.raw >> 24), UInt8(a.raw >> 16 & 0xff), UInt8(a.raw >> 8 & 0xff), UInt8(a.raw & 0xff)] }
        option(53, [type])
        if state == .requesting, let offer {
            option(50, ip(offer.address))
            option(54, ip(offer.server))
        }
        option(55, [1, 3, 51, 54, 58, 59])
        m.put8(o, 255)
        let source = (state == .renewing || state == .rebinding) ? stack.config.address : IPv4Address.any
        stack.sendUDPRaw(m, from: DHCPClient.clientPort, source: source, to: .broadcast, port: DHCPClient.serverPort)
        nextSend = now &+ backoff()
        tries += 1
    }

    /// A datagram to port 68.
    func receive(_ d: [UInt8], now: UInt64) {
        guard d.count >= 240, d[0] == 2, d.u32(4) == xid, d.mac(28) == stack.mac, d.u32(236) == DHCPClient.magic else { return }
        var type: UInt8 = 0
        var mask: UInt32? = nil, router: IPv4Address? = nil, server: IPv4Address? = nil
        var leaseTime: UInt32 = 3600, renew: UInt32? = nil, rebind: UInt32? = nil
        var i = 240
        while i < d.count {
            let code = d[i]
            if code == 255 { break }
            if code == 0 { i += 1; continue }
            guard i + 1 < d.count else { return }
            let len = Int(d[i + 1])
            guard i + 2 + len <= d.count else { return }
            let v = i + 2
            switch (code, len) {
            case (53, 1): type = d[v]
            case (1, 4): mask = d.u32(v)
            case (3, 4...): router = d.ip(v)
            case (51, 4): leaseTime = d.u32(v)
            case (54, 4): server = d.ip(v)
            case (58, 4): renew = d.u32(v)
            case (59, 4): rebind = d.u32(v)
            default: break
            }
            i = v + len
        }
        let yiaddr = d.ip(16)
        switch (state, type) {
        case (.selecting, 2):                                    // OFFER
            guard yiaddr != .any, yiaddr != .broadcast, let server else { return }
            offer = (yiaddr, server)
            state = .requesting
            tries = 0
            send(type: 3, now: now)
        case (.requesting, 5), (.renewing, 5), (.rebinding, 5):  // ACK
            guard yiaddr != .any, yiaddr != .broadcast else { return }
            var prefix = 24
            if let mask { prefix = mask.nonzeroBitCount; if mask != (prefix == 0 ? 0 : UInt32.max << UInt32(32 - prefix)) { prefix = 24 } }
            let l = DHCPLease(address: yiaddr, prefixLength: prefix, gateway: router, server: server ?? offer?.server ?? .any,
                              seconds: max(leaseTime, 10))
            let changed = stack.config.address != yiaddr
            lease = l
            stack.config = NetConfig(address: yiaddr, prefixLength: prefix, gateway: router)
            let secs = UInt64(l.seconds) * 1_000_000_000
            end = now &+ secs
            t1 = now &+ (renew.map { UInt64($0) * 1_000_000_000 } ?? secs / 2)
            t2 = now &+ (rebind.map { UInt64($0) * 1_000_000_000 } ?? secs / 8 * 7)
            state = .bound
            tries = 0
            if changed { stack.start(now: now) }                 // announce the new address
        case (.requesting, 6), (.renewing, 6), (.rebinding, 6):  // NAK
            drop(now: now)
        default:
            break
        }
    }

    func drop(now: UInt64) {
        lease = nil
        stack.config = NetConfig(address: .any, prefixLength: 0)
        begin(now: now)
    }

    func tick(now: UInt64) {
        switch state {
        case .selecting, .requesting:
            guard now >= nextSend else { return }
            if tries >= 6 { begin(now: now); return }             // start over with a new transaction
            send(type: state == .selecting ? 1 : 3, now: now)
        case .bound:
            if now >= t1 { state = .renewing; tries = 0; send(type: 3, now: now) }
        case .renewing, .rebinding:
            if now >= end { drop(now: now); return }
            if state == .renewing && now >= t2 { state = .rebinding }
            if now >= nextSend { send(type: 3, now: now) }
        }
    }
}
