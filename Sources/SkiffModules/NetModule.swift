// NetModule.swift: tap-backed network devices (`--net:NAME=TAP`), the NET_WRITE/NET_READ hypercalls and ring I/O (spec §9.5–9.6, §10.2, §11).

import CSkiffLinux
import CSkiffABI
import SkiffCore

/// An attached tap interface for one manifest network device.
public final class NetBackend {
    public let name: String
    public let interface: String
    public let fd: Int32
    public let mtu: UInt16
    public let mac: [UInt8]

    /// Opens the existing tap `iface` through /dev/net/tun (IFF_TAP | IFF_NO_PI, non-blocking).
    public init(name: String, interface iface: String, mac: [UInt8]?) throws(DeviceError) {
        func fail(_ e: Int32) -> DeviceError { .cannotAttachNet(iface: iface, error: errnoString(e)) }
        self.name = name
        self.interface = iface
        guard iface.utf8.count < Int(IFNAMSIZ) else { throw fail(ENAMETOOLONG) }
        guard if_nametoindex(iface) != 0 else { throw fail(ENOENT) }
        let sock = socket(AF_INET, CSKIFF_SOCK_DGRAM_CLOEXEC, 0)
        guard sock >= 0 else { throw fail(errno) }
        defer { close(sock) }
        var ifr = ifreq()
        cskiff_ifreq_set_name(&ifr, iface)
        guard cskiff_ioctl_ptr(sock, CSKIFF_SIOCGIFFLAGS, &ifr) == 0 else { throw fail(errno) }
        let flags = cskiff_ifreq_flags(&ifr)
        guard flags & Int16(IFF_UP) != 0 || flags & Int16(IFF_RUNNING) != 0 else { throw fail(ENETDOWN) }
        guard cskiff_ioctl_ptr(sock, CSKIFF_SIOCGIFMTU, &ifr) == 0 else { throw fail(errno) }
        let mtu = cskiff_ifreq_mtu(&ifr)
        let fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw fail(errno) }
        var tr = ifreq()
        cskiff_ifreq_set_name(&tr, iface)
        cskiff_ifreq_set_flags(&tr, Int16(IFF_TAP | IFF_NO_PI))
        guard cskiff_ioctl_ptr(fd, CSKIFF_TUNSETIFF, &tr) == 0 else { let e = errno; close(fd); throw fail(e) }
        guard String(cString: cskiff_ifreq_name(&tr)) == iface else { close(fd); throw fail(ENODEV) }
        self.fd = fd
        self.mtu = UInt16(clamping: mtu)
        self.mac = mac ?? NetBackend.randomMAC()
    }

    /// A device over an already-open descriptor (taken over: closed with the device), for tests and
    /// fuzzers: any file that reads and writes like a tap (e.g. /dev/null, /dev/zero) stands in for one.
    public init(name: String, fd: Int32, mtu: UInt16 = 1500, mac: [UInt8] = [2, 0, 0, 0, 0, 1]) {
        self.name = name
        self.interface = name
        self.fd = fd
        self.mtu = mtu
        self.mac = mac
    }

    deinit { close(fd) }

    /// Six random bytes, unicast and locally administered.
    public static func randomMAC() -> [UInt8] {
        var m = Host.randomBytes(6)
        m[0] = (m[0] & 0xfe) | 0x02
        return m
    }

    /// Writes one frame from guest memory; a short or failed write is fatal.
    func transmit(memory: GuestMemory, _ gpa: GuestAddress, count: UInt64,
                  _ file: StaticString = #fileID, _ line: UInt = #line) throws(HypercallFault) {
        var n: Int
        repeat {
            do throws(GuestAccessError) { n = try memory.write(to: fd, from: gpa, count: count) } catch { throw error.fault(file, line) }
        } while n < 0 && errno == EINTR
        if n < 0 { throw .hostIO("Fatal error when writing: \(errnoString())") }
        if n != Int(count) { throw .hostIO("Fatal error: wrote only \(n) out of \(count) bytes") }
    }

    /// Reads one frame into guest memory: its length, 0 when none is waiting (or end of file), or -1 with errno.
    func receive(memory: GuestMemory, _ gpa: GuestAddress, count: UInt64,
                 _ file: StaticString = #fileID, _ line: UInt = #line) throws(HypercallFault) -> Int {
        var n: Int
        repeat {
            do throws(GuestAccessError) { n = try memory.read(from: fd, into: gpa, count: count) } catch { throw error.fault(file, line) }
        } while n < 0 && errno == EINTR
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return 0 }
        return n
    }
}

/// Network devices: `--net:NAME=TAP`, `--net-mac:NAME=MAC`; NET_WRITE/NET_READ, POLL input, the hvt net ring.
public final class NetModule: MonitorModule {
    public static let descriptor = ModuleDescriptor(
        name: "net",
        usage: """
              --net:NAME=IFACE             attach the existing tap interface IFACE as network device NAME
              --net-mac:NAME=HWADDR        MAC address of NAME (default: random, locally administered)
            """,
        deviceRules: [
            DeviceOptionRule(type: .netBasic, attaches: true) { $0.nets },
            DeviceOptionRule(type: .netBasic, attaches: false) { $0.netMACs },
        ],
        parseOption: { (a, o) throws(OptionError) in
            if let nv = RunOptions.named(a, "--net:") {
                o.nets.append(nv)
            } else if let nv = RunOptions.named(a, "--net-mac:") {
                guard parseMAC(nv.value) != nil else { throw .badMAC(a) }
                o.netMACs.append(nv)
            } else {
                return false
            }
            return true
        },
        make: { (setup) throws(DeviceError) in try NetModule(setup: setup) })

    /// The devices by manifest handle.
    public let devices: [NetBackend?]
    /// The I/O thread serving the ring, when ring I/O is offered.
    private(set) var ring: NetRing?

    /// Opens every `--net` tap, attaches it to the manifest copy and to POLL; nil when none is given.
    init?(setup: ModuleSetup) throws(DeviceError) {
        let o = setup.options
        guard !o.nets.isEmpty else { return nil }
        var devices = [NetBackend?](repeating: nil, count: setup.manifest.entries.count)
        for nv in o.nets {
            let h = setup.manifest.handle(named: nv.name)!
            let mac = o.netMACs.last { $0.name == nv.name }.flatMap { parseMAC($0.value) }
            let dev = try NetBackend(name: nv.name, interface: nv.value, mac: mac)
            devices[h] = dev
            setup.manifest.entries[h].attachNet(mac: dev.mac, mtu: dev.mtu, hostFD: dev.fd)
            setup.pollFDs.append((h, dev.fd))
        }
        self.devices = devices
    }

    /// `tkill`: musl's `pthread_kill` (the static skiff-hvt), with which the ring thread kicks the vCPU on a fatal error.
    public var syscalls: [Int] { [Int(SYS_read), Int(SYS_readv), Int(SYS_writev), Int(SYS_eventfd2), Int(SYS_tkill)] }

    public func attach(table: inout HypercallTable, host: any ModuleHost, setup: ModuleSetup) -> ModuleAttachment {
        Self.registerHypercalls(&table, memory: host.memory, devices: devices)
        var a = ModuleAttachment()
        // Ring I/O (spec §11.1): the ring area the boot protocol reserved, an eventfd on the kick, the I/O thread.
        if let area = setup.ringArea, let ring = NetRing(memory: host.memory, at: area, devices: devices) {
            if host.registerRingKick(eventFD: ring.eventFD), ring.start() {
                ring.onFatal = { host.kickVCPU() }   // strong: the host outlives the ring thread (stopped in finish)
                self.ring = ring
                a.hostFeatures = HVT_FEATURE_RING_IO
                a.netRing = area.rawValue
            }
        }
        if ring == nil && setup.ringArea != nil { setup.warn("net ring I/O set-up failed, falling back to hypercalls") }
        return a
    }

    public var pendingFault: HypercallFault? { ring?.hasFailed == true ? ring?.fatal : nil }

    /// Stops the ring thread; an error it met (also in the final drain after HALT) changes the exit status.
    public func finish() -> HypercallFault? {
        ring?.stop()
    }

    /// Registers NET_WRITE and NET_READ over `devices[handle]`.
    public static func registerHypercalls(_ table: inout HypercallTable, memory: GuestMemory, devices: [NetBackend?]) {
        func device(_ handle: UInt64) -> NetBackend? {
            let h = Int(UInt32(truncatingIfNeeded: handle))
            return h < devices.count ? devices[h] : nil
        }
        try! table.register(.netWrite) { (arg) throws(HypercallFault) in
            let req = try memory.argument(hvt_hc_net.self, at: arg)
            var result = HypercallResult.invalid
            if let dev = device(req.handle) {
                try dev.transmit(memory: memory, GuestAddress(req.data), count: req.len)
                result = .ok
            }
            try memory.result(result.rawValue, at: arg, offset: 24)
        }
        try! table.register(.netRead) { (arg) throws(HypercallFault) in
            let req = try memory.argument(hvt_hc_net.self, at: arg)
            var result = HypercallResult.invalid
            var length = req.len
            if let dev = device(req.handle) {
                let n = try dev.receive(memory: memory, GuestAddress(req.data), count: req.len)
                if n < 0 { throw .hostIO("Fatal error when reading: \(errnoString())") }
                if n == 0 {
                    result = .again
                } else {
                    length = UInt64(n)
                    result = .ok
                }
            }
            try memory.result(length, at: arg, offset: 16)
            try memory.result(result.rawValue, at: arg, offset: 24)
        }
    }
}
