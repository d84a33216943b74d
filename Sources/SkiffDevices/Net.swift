// Net.swift: tap-backed network devices and the NET_WRITE/NET_READ hypercalls (spec §9.5–9.6, §10.2).

import Glibc
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
        func fail(_ e: Int32) -> DeviceError { .cannotAttachNet(iface: iface, error: String(cString: strerror(e))) }
        self.name = name
        self.interface = iface
        guard iface.utf8.count < Int(IFNAMSIZ) else { throw fail(ENAMETOOLONG) }
        guard if_nametoindex(iface) != 0 else { throw fail(ENOENT) }
        let sock = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
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
        if let mac { self.mac = mac } else {
            var m = [UInt8](repeating: 0, count: 6)
            _ = m.withUnsafeMutableBytes { cskiff_getrandom($0.baseAddress, 6) }
            m[0] = (m[0] & 0xfe) | 0x02
            self.mac = m
        }
    }

    deinit { close(fd) }
}

/// Registers NET_WRITE and NET_READ over `devices[handle]`.
public func registerNetHypercalls(_ table: inout HypercallTable, memory: GuestMemory, devices: [NetBackend?]) {
    func device(_ handle: UInt64) -> NetBackend? {
        let h = Int(UInt32(truncatingIfNeeded: handle))
        return h < devices.count ? devices[h] : nil
    }
    try! table.register(.netWrite) { (arg) throws(HypercallFault) in
        let req = try memory.argument(hvt_hc_net.self, at: arg)
        var result = HypercallResult.invalid
        if let dev = device(req.handle) {
            try memory.withGuestBuffer(GuestAddress(req.data), count: req.len) { (b) throws(HypercallFault) in
                    var n: Int
                    repeat { n = write(dev.fd, b.baseAddress, b.count) } while n < 0 && errno == EINTR
                    if n < 0 { throw .hostIO("Fatal error when writing: \(String(cString: strerror(errno)))") }
                    if n != b.count { throw .hostIO("Fatal error: wrote only \(n) out of \(b.count) bytes") }
            }
            result = .ok
        }
        try memory.result(result.rawValue, at: arg, offset: 24)
    }
    try! table.register(.netRead) { (arg) throws(HypercallFault) in
        let req = try memory.argument(hvt_hc_net.self, at: arg)
        var result = HypercallResult.invalid
        var length = req.len
        if let dev = device(req.handle) {
            result = try memory.withGuestBuffer(GuestAddress(req.data), count: req.len) {
                    (b) throws(HypercallFault) -> HypercallResult in
                    var n: Int
                    repeat { n = read(dev.fd, b.baseAddress, b.count) } while n < 0 && errno == EINTR
                    if n == 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { return .again }
                    if n < 0 { throw .hostIO("Fatal error when reading: \(String(cString: strerror(errno)))") }
                    length = UInt64(n)
                    return .ok
            }
        }
        try memory.result(length, at: arg, offset: 16)
        try memory.result(result.rawValue, at: arg, offset: 24)
    }
}
