// Network.swift: the SkiffNet event loop on a Skiff guest: one NetDevice, frames between it and the NetStack, idle time blocked in POLL.

import Skiff

/// Why the network could not start.
public enum NetworkError: Error, Equatable {
    /// No attached NET_BASIC device of that name in the manifest.
    case noDevice(String)
    /// A bad `ip=` / `gw=` argument; the text says which.
    case badArgument(String)
    /// The device failed (a NET_READ or NET_WRITE error).
    case device
    /// `ip=dhcp`, and no DHCP server leased an address within 20 s.
    case dhcpTimeout

    /// One line for the console.
    public var message: String {
        switch self {
        case .noDevice(let name): return "no network device \(name) in the manifest (attach one with --net:\(name)=TAP)"
        case .badArgument(let text): return text
        case .device: return "the network device failed"
        case .dhcpTimeout: return "no DHCP lease within 20 s"
        }
    }
}

/// A TCP/IP interface on one network device.
///
/// ```swift
/// let net = try Network()                         // service0, ip= and gw= from the command line
/// let server = try net.listen(port: 80)
/// while true {
///     net.poll()                                  // blocks in POLL until a frame or a timer
///     while let c = server.accept() { ... }
/// }
/// ```
///
/// A client opens connections with `connect(to:port:)` the same way: nothing blocks but `poll`.
public final class Network {
    public let stack: NetStack
    public let device: NetDevice
    /// Command-line words that were not network options (`ip=`, `gw=`, `ring`).
    public let arguments: [String]
    var frame: [UInt8]

    /// Opens `device` with the address from `ip=A.B.C.D[/N]` and `gw=A.B.C.D`
    /// among `arguments` (default `Skiff.arguments`), else `fallback`; with
    /// `ip=dhcp` it leases one first (and renews it in `poll`). The word
    /// `ring` moves frames through the monitor's shared ring when offered.
    /// Sends a gratuitous ARP.
    public init(device name: String = "service0", arguments: [String] = Skiff.arguments,
                fallback: NetConfig = NetConfig(address: IPv4Address(10, 77, 0, 2), prefixLength: 24)) throws(NetworkError) {
        guard let dev = try? NetDevice(name: name) else { throw .noDevice(name) }
        let parsed = NetConfig.parse(arguments, default: fallback)
        guard let config = parsed.config else { throw .badArgument(parsed.error ?? "bad network argument") }
        var rest: [String] = []
        for a in parsed.rest {
            if a == "ring" { NetDevice.sharedRing = true } else { rest.append(a) }
        }
        device = dev
        self.arguments = rest
        let now = Clock.monotonicNanoseconds()
        stack = NetStack(mac: MACAddress(bytes: dev.mac), config: config, mtu: dev.mtu,
                         seed: now ^ Clock.wallNanoseconds() ^ MACAddress(bytes: dev.mac).raw)
        frame = [UInt8](repeating: 0, count: dev.mtu + 14)
        if config.address == .any {
            // ip=dhcp: lease an address before returning (20 s at most).
            stack.startDHCP(now: now)
            let limit = now &+ 20_000_000_000
            while stack.dhcp?.lease == nil {
                guard Clock.monotonicNanoseconds() < limit else { throw .dhcpTimeout }
                poll(until: limit)
            }
        } else {
            stack.start(now: now)
        }
        try flush()
    }

    /// Listens on TCP `port`; at most `backlog` connections wait half-open or unaccepted.
    public func listen(port: UInt16, backlog: Int = 128) throws(NetStack.SocketError) -> TCPListener {
        try stack.listen(port: port, backlog: backlog)
    }

    /// Opens a TCP connection to `address`:`port` and sends the SYN at once. It returns while the
    /// handshake is under way: poll until `isConnecting` is false, then check `failure`.
    ///
    /// ```swift
    /// let c = try net.connect(to: IPv4Address(10, 77, 0, 1), port: 8080)
    /// c.write(request)                                // sent once established
    /// while c.isConnecting { net.poll() }             // blocks in POLL, no busy waiting
    /// if let why = c.failure { ... }                  // .refused, .timedOut, .unreachable
    /// ```
    public func connect(to address: IPv4Address, port: UInt16) throws(NetStack.SocketError) -> TCPConnection {
        let c = try stack.connect(to: address, port: port, now: Clock.monotonicNanoseconds())
        try? flush()
        return c
    }

    /// Binds UDP `port`.
    public func udp(port: UInt16) throws(NetStack.SocketError) -> UDPSocket {
        try stack.udp(port: port)
    }

    /// One turn of the event loop: sends what is queued (the application's
    /// writes and the stack's own frames, such as ACKs), then blocks in
    /// `Skiff.yield` until a frame arrives, the stack's next timer, or
    /// `deadline` (monotonic ns; `.max`: no limit), and processes what came.
    /// Returns at once if frames were already pending.
    public func poll(until deadline: UInt64 = .max) {
        do { try flush() } catch { return }
        var wake = deadline
        if let t = stack.nextDeadline() { wake = min(wake, t) }
        _ = Skiff.yield(until: wake)
        var budget = 256
        while budget > 0 {
            let n: Int?
            do { n = try device.read(into: &frame) } catch { break }
            guard let n else { break }
            stack.input(frame, length: n, now: Clock.monotonicNanoseconds())
            budget -= 1
            if stack.hasOutput && budget % 16 == 0 { try? flush() }
        }
        stack.tick(now: Clock.monotonicNanoseconds())
        // What is queued now (ACKs for data just received, answers to ARP and ping) goes out at the
        // start of the next poll, after the application had its turn: its replies carry the ACKs.
    }

    /// Sends every queued frame.
    public func flush() throws(NetworkError) {
        guard stack.hasOutput else { return }
        for f in stack.takeOutput() {
            do { try device.write(f) } catch { throw .device }
        }
    }

    /// The monotonic clock, in nanoseconds (for deadlines).
    public var now: UInt64 { Clock.monotonicNanoseconds() }
}
