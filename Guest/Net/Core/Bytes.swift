// Bytes.swift: addresses, big-endian field access that never traps, and the Internet checksum (SkiffNet core, host-testable).

/// An IPv4 address as a 32-bit number (first octet in the top byte).
public struct IPv4Address: Equatable, Sendable {
    public var raw: UInt32
    public init(raw: UInt32) { self.raw = raw }
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        raw = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }
    public static let any = IPv4Address(raw: 0)
    public static let broadcast = IPv4Address(raw: 0xffff_ffff)

    /// "a.b.c.d" → the address, or nil for anything else.
    public init?(_ text: String) {
        var value: UInt32 = 0, part: UInt32 = 0, digits = 0, dots = 0
        for c in text.utf8 {
            if c == UInt8(ascii: ".") {
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | part; part = 0; digits = 0; dots += 1
            } else if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                part = part * 10 + UInt32(c - UInt8(ascii: "0")); digits += 1
                guard part <= 255, digits <= 3 else { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0, dots == 3 else { return nil }
        raw = value << 8 | part
    }

    public var description: String {
        "\(raw >> 24).\(raw >> 16 & 0xff).\(raw >> 8 & 0xff).\(raw & 0xff)"
    }
}

/// A 48-bit Ethernet address (first byte in bits 47-40).
public struct MACAddress: Equatable, Sendable {
    public var raw: UInt64
    public init(raw: UInt64) { self.raw = raw & 0xffff_ffff_ffff }
    public init(bytes: [UInt8]) {
        var r: UInt64 = 0
        for i in 0..<6 { r = r << 8 | UInt64(i < bytes.count ? bytes[i] : 0) }
        raw = r
    }
    public static let broadcast = MACAddress(raw: 0xffff_ffff_ffff)
    public static let zero = MACAddress(raw: 0)

    public var description: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for i in 0..<6 {
            let b = UInt8(truncatingIfNeeded: raw >> UInt64(40 - 8 * i))
            if i > 0 { out.append(UInt8(ascii: ":")) }
            out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Bounds-checked big-endian reads and writes on a byte array. Reads past the
/// end give 0 (parsers check lengths first; this is the second line of defence).
extension Array where Element == UInt8 {
    @inline(__always) func u8(_ i: Int) -> UInt8 { i >= 0 && i < count ? self[i] : 0 }
    @inline(__always) func u16(_ i: Int) -> UInt16 { UInt16(u8(i)) << 8 | UInt16(u8(i + 1)) }
    @inline(__always) func u32(_ i: Int) -> UInt32 { UInt32(u16(i)) << 16 | UInt32(u16(i + 2)) }
    func mac(_ i: Int) -> MACAddress {
        var r: UInt64 = 0
        for k in 0..<6 { r = r << 8 | UInt64(u8(i + k)) }
        return MACAddress(raw: r)
    }
    func ip(_ i: Int) -> IPv4Address { IPv4Address(raw: u32(i)) }

    @inline(__always) mutating func put8(_ i: Int, _ v: UInt8) { if i >= 0 && i < count { self[i] = v } }
    @inline(__always) mutating func put16(_ i: Int, _ v: UInt16) { put8(i, UInt8(v >> 8)); put8(i + 1, UInt8(v & 0xff)) }
    @inline(__always) mutating func put32(_ i: Int, _ v: UInt32) { put16(i, UInt16(v >> 16)); put16(i + 2, UInt16(v & 0xffff)) }
    mutating func putMAC(_ i: Int, _ m: MACAddress) {
        for k in 0..<6 { put8(i + k, UInt8(truncatingIfNeeded: m.raw >> UInt64(40 - 8 * k))) }
    }
    mutating func putIP(_ i: Int, _ a: IPv4Address) { put32(i, a.raw) }
}

/// The Internet checksum (RFC 1071).
public enum Checksum {
    /// The 32-bit one's-complement partial sum of `count` bytes of `bytes` from `start`
    /// (clipped to the array), added to `initial`.
    public static func sum(_ bytes: [UInt8], _ start: Int, _ count: Int, initial: UInt32 = 0) -> UInt32 {
        let lo = Swift.max(0, start), hi = Swift.min(bytes.count, start + Swift.max(0, count))
        var s = UInt64(initial)
        var i = lo
        bytes.withUnsafeBufferPointer { b in
            while i + 1 < hi {
                s += UInt64(b[i]) << 8 | UInt64(b[i + 1])
                i += 2
            }
            if i < hi { s += UInt64(b[i]) << 8 }
        }
        while s > 0xffff_ffff { s = (s & 0xffff_ffff) + (s >> 32) }
        return UInt32(s)
    }

    /// Folds a partial sum to 16 bits and complements it.
    public static func finish(_ sum: UInt32) -> UInt16 {
        var s = sum
        while s > 0xffff { s = (s & 0xffff) + (s >> 16) }
        return ~UInt16(s)
    }

    /// The IPv4 pseudo-header sum for TCP/UDP.
    public static func pseudo(src: IPv4Address, dst: IPv4Address, proto: UInt8, length: Int) -> UInt32 {
        (src.raw >> 16) + (src.raw & 0xffff) + (dst.raw >> 16) + (dst.raw & 0xffff) + UInt32(proto) + UInt32(length & 0xffff)
    }
}
