// main.swift: netecho, a unikernel that answers ARP and ICMP echo (ping) requests.
//
//   skiff build Examples/netecho -o netecho.hvt
//   ip tuntap add tap0 mode tap && ip addr add 10.77.0.1/24 dev tap0 && ip link set tap0 up
//   skiff run --net:service0=tap0 netecho.hvt            # then: ping 10.77.0.2
//   skiff run --net:service0=tap0 netecho.hvt 10.77.0.9 limit=5 ring
//
// Arguments, in any order: up to two IPv4 addresses (for service0 and, when
// the manifest declares it, service1; defaults 10.77.0.2 and 10.78.0.2),
// `limit=N`: print SUCCESS and exit after answering N echo requests in all,
// and `ring`: move frames through the monitor's shared ring instead of the
// NET_READ/NET_WRITE hypercalls (NetDevice.sharedRing; exits with status 1
// if the monitor does not offer it). Without a limit it serves until the
// monitor is stopped.
//
// This file is also the Solo5-style conformance guest for the network
// (Tests/guests/net and Tests/guests/net_2if link to it; their manifests
// declare one and two devices). It uses only the hypercall API: yield until
// input, read every pending frame, write the answer in place.

import Skiff

struct Interface {
    let name: String
    let device: NetDevice
    let ip: [UInt8]
}

/// "a.b.c.d" → 4 bytes, or nil.
func parseIPv4(_ s: String) -> [UInt8]? {
    var parts: [UInt8] = []
    var value = 0, digits = 0
    for c in s.utf8 {
        if c == UInt8(ascii: ".") {
            guard digits > 0 else { return nil }
            parts.append(UInt8(value)); value = 0; digits = 0
        } else if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
            value = value * 10 + Int(c - UInt8(ascii: "0")); digits += 1
            guard value <= 255, digits <= 3 else { return nil }
        } else {
            return nil
        }
    }
    guard digits > 0 else { return nil }
    parts.append(UInt8(value))
    return parts.count == 4 ? parts : nil
}

/// "limit=N" → N, or nil.
func parseLimit(_ s: String) -> Int? {
    let u = Array(s.utf8)
    let prefix = Array("limit=".utf8)
    guard u.count > prefix.count, Array(u[0..<prefix.count]) == prefix else { return nil }
    var n = 0
    for c in u[prefix.count...] {
        guard c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") else { return nil }
        n = n * 10 + Int(c - UInt8(ascii: "0"))
    }
    return n
}

func hex2(_ b: UInt8) -> String {
    let digits = Array("0123456789abcdef".utf8)
    return String(decoding: [digits[Int(b >> 4)], digits[Int(b & 15)]], as: UTF8.self)
}

func describe(ip: [UInt8]) -> String { "\(ip[0]).\(ip[1]).\(ip[2]).\(ip[3])" }
func describe(mac: [UInt8]) -> String {
    var s = hex2(mac[0])
    for b in mac[1...] { s += ":" + hex2(b) }
    return s
}

/// The Internet checksum of `count` bytes at `start`.
func checksum(_ f: UnsafeMutableRawBufferPointer, _ start: Int, _ count: Int) -> UInt16 {
    var sum: UInt32 = 0
    var i = start
    while i + 1 < start + count {
        sum += UInt32(f[i]) << 8 | UInt32(f[i + 1])
        i += 2
    }
    if i < start + count { sum += UInt32(f[i]) << 8 }
    while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
    return ~UInt16(sum)
}

func equal(_ f: UnsafeMutableRawBufferPointer, _ at: Int, _ bytes: [UInt8]) -> Bool {
    for (i, b) in bytes.enumerated() where f[at + i] != b { return false }
    return true
}

func copy(_ f: UnsafeMutableRawBufferPointer, from: Int, to: Int, count: Int) {
    var tmp = [UInt8](repeating: 0, count: count)
    for i in 0..<count { tmp[i] = f[from + i] }
    for i in 0..<count { f[to + i] = tmp[i] }
}

func put(_ f: UnsafeMutableRawBufferPointer, _ at: Int, _ bytes: [UInt8]) {
    for (i, b) in bytes.enumerated() { f[at + i] = b }
}

enum Answer { case none, arp, echo }

/// Turns the frame in `f` (length `n`) into its answer, in place. Returns what it answered.
func answer(_ f: UnsafeMutableRawBufferPointer, _ n: Int, on ifc: Interface) -> (Answer, Int) {
    guard n >= 14 else { return (.none, 0) }
    let type = UInt16(f[12]) << 8 | UInt16(f[13])
    if type == 0x0806 {
        // ARP request for our address: Ethernet/IPv4, opcode 1.
        guard n >= 42, equal(f, 14, [0, 1, 8, 0, 6, 4, 0, 1]), equal(f, 38, ifc.ip) else { return (.none, 0) }
        copy(f, from: 6, to: 0, count: 6)        // Ethernet destination: the requester
        put(f, 6, ifc.device.mac)
        f[21] = 2                                // reply
        copy(f, from: 22, to: 32, count: 10)     // target = the sender (MAC and IP)
        put(f, 22, ifc.device.mac)
        put(f, 28, ifc.ip)
        return (.arp, 42)
    }
    if type == 0x0800 {
        guard n >= 34, f[14] >> 4 == 4 else { return (.none, 0) }
        let ihl = Int(f[14] & 15) * 4
        let total = Int(f[16]) << 8 | Int(f[17])
        guard ihl >= 20, total >= ihl + 8, 14 + total <= n, f[23] == 1, equal(f, 30, ifc.ip) else { return (.none, 0) }
        let icmp = 14 + ihl
        guard f[icmp] == 8 else { return (.none, 0) }   // echo request
        copy(f, from: 6, to: 0, count: 6)
        put(f, 6, ifc.device.mac)
        copy(f, from: 26, to: 30, count: 4)      // destination = the old source
        put(f, 26, ifc.ip)
        f[24] = 0; f[25] = 0
        let ipsum = checksum(f, 14, ihl)
        f[24] = UInt8(ipsum >> 8); f[25] = UInt8(ipsum & 0xff)
        f[icmp] = 0                              // echo reply
        f[icmp + 2] = 0; f[icmp + 3] = 0
        let sum = checksum(f, icmp, total - ihl)
        f[icmp + 2] = UInt8(sum >> 8); f[icmp + 3] = UInt8(sum & 0xff)
        return (.echo, 14 + total)
    }
    return (.none, 0)
}

@main
struct App {
    static func main() {
        var ips: [[UInt8]] = []
        var limit: Int? = nil
        var ring = false
        for a in Skiff.arguments {
            if let ip = parseIPv4(a) {
                ips.append(ip)
            } else if let n = parseLimit(a) {
                limit = n
            } else if a == "ring" {
                ring = true
            } else {
                print("netecho: unknown argument '\(a)' (want IPv4 addresses, limit=N and ring)")
                Skiff.exit(2)
            }
        }
        let defaults: [[UInt8]] = [[10, 77, 0, 2], [10, 78, 0, 2]]
        var interfaces: [Interface] = []
        for (i, name) in ["service0", "service1"].enumerated() {
            guard let device = try? NetDevice(name: name) else { continue }
            let ip = interfaces.count < ips.count ? ips[interfaces.count] : defaults[i]
            interfaces.append(Interface(name: name, device: device, ip: ip))
            print("netecho: \(name) is \(describe(ip: ip)), mac \(describe(mac: device.mac)), mtu \(device.mtu)")
        }
        guard !interfaces.isEmpty else {
            print("netecho: no network device service0 in the manifest")
            Skiff.exit(1)
        }
        if ring {
            NetDevice.sharedRing = true
            guard NetDevice.sharedRing else {
                print("netecho: the monitor does not offer the shared ring")
                Skiff.exit(1)
            }
            print("netecho: frames go through the shared ring")
        }
        var largest = 0
        for ifc in interfaces { largest = max(largest, ifc.device.mtu) }
        let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: largest + 14, alignment: 16)
        var echoes = 0, arps = 0
        if let limit { print("netecho: ready, exiting after \(limit) echo replies") } else { print("netecho: ready") }
        while true {
            let ready = Skiff.yield(until: UInt64.max)
            for ifc in interfaces where ready.contains(ifc.device) {
                while true {
                    let length: Int?
                    do { length = try ifc.device.read(into: frame) } catch {
                        print("netecho: read from \(ifc.name) failed: \(error)")
                        Skiff.exit(1)
                    }
                    guard let n = length else { break }
                    let (kind, size) = answer(frame, n, on: ifc)
                    guard kind != .none else { continue }
                    do { try ifc.device.write(UnsafeRawBufferPointer(rebasing: frame[0..<size])) } catch {
                        print("netecho: write to \(ifc.name) failed: \(error)")
                        Skiff.exit(1)
                    }
                    if kind == .arp { arps += 1 }
                    if kind == .echo {
                        echoes += 1
                        if let limit, echoes >= limit {
                            print("netecho: answered \(echoes) echo requests and \(arps) ARP requests")
                            print("SUCCESS")
                            return
                        }
                    }
                }
            }
        }
    }
}
