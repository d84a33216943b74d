// Packets.swift: parsers and builders for Ethernet, ARP, IPv4, ICMP, UDP and TCP; parsers return nil on anything malformed, never trap.

public enum EtherType {
    public static let ipv4: UInt16 = 0x0800
    public static let arp: UInt16 = 0x0806
}

public enum IPProtocol {
    public static let icmp: UInt8 = 1
    public static let tcp: UInt8 = 6
    public static let udp: UInt8 = 17
}

/// An Ethernet II header; the payload is `frame[14..<length]`.
public struct EthernetFrame {
    public var destination: MACAddress
    public var source: MACAddress
    public var type: UInt16
    public static let headerSize = 14

    public static func parse(_ f: [UInt8], length: Int) -> EthernetFrame? {
        guard length >= headerSize, length <= f.count else { return nil }
        return EthernetFrame(destination: f.mac(0), source: f.mac(6), type: f.u16(12))
    }
}

/// An ARP packet for IPv4 over Ethernet (RFC 826), at `offset` in a frame.
public struct ARPPacket: Equatable {
    public var operation: UInt16          // 1 request, 2 reply
    public var senderMAC: MACAddress
    public var senderIP: IPv4Address
    public var targetMAC: MACAddress
    public var targetIP: IPv4Address
    public static let size = 28

    public init(operation: UInt16, senderMAC: MACAddress, senderIP: IPv4Address, targetMAC: MACAddress, targetIP: IPv4Address) {
        self.operation = operation
        self.senderMAC = senderMAC; self.senderIP = senderIP
        self.targetMAC = targetMAC; self.targetIP = targetIP
    }

    public static func parse(_ f: [UInt8], at o: Int, end: Int) -> ARPPacket? {
        guard end <= f.count, o >= 0, end - o >= size else { return nil }
        guard f.u16(o) == 1, f.u16(o + 2) == EtherType.ipv4, f.u8(o + 4) == 6, f.u8(o + 5) == 4 else { return nil }
        let op = f.u16(o + 6)
        guard op == 1 || op == 2 else { return nil }
        return ARPPacket(operation: op, senderMAC: f.mac(o + 8), senderIP: f.ip(o + 14),
                         targetMAC: f.mac(o + 18), targetIP: f.ip(o + 24))
    }

    public func write(into f: inout [UInt8], at o: Int) {
        f.put16(o, 1); f.put16(o + 2, EtherType.ipv4); f.put8(o + 4, 6); f.put8(o + 5, 4)
        f.put16(o + 6, operation)
        f.putMAC(o + 8, senderMAC); f.putIP(o + 14, senderIP)
        f.putMAC(o + 18, targetMAC); f.putIP(o + 24, targetIP)
    }
}

/// An IPv4 header (RFC 791) at `offset`; the payload is `payloadStart..<payloadEnd`.
public struct IPv4Packet {
    public var headerLength: Int
    public var totalLength: Int
    public var identification: UInt16
    public var isFragment: Bool
    public var ttl: UInt8
    public var proto: UInt8
    public var source: IPv4Address
    public var destination: IPv4Address
    public var payloadStart: Int
    public var payloadEnd: Int
    public static let minimumHeader = 20

    public enum Failure: Error, Equatable { case truncated, version, headerLength, totalLength, checksum }

    /// Parses and validates (version, lengths, header checksum). Fragments
    /// parse (isFragment) so that the caller can count and drop them.
    public static func parse(_ f: [UInt8], at o: Int, end: Int) -> Result<IPv4Packet, Failure> {
        guard o >= 0, end <= f.count, end - o >= minimumHeader else { return .failure(.truncated) }
        let vihl = f.u8(o)
        guard vihl >> 4 == 4 else { return .failure(.version) }
        let ihl = Int(vihl & 15) * 4
        guard ihl >= minimumHeader, ihl <= end - o else { return .failure(.headerLength) }
        let total = Int(f.u16(o + 2))
        guard total >= ihl, total <= end - o else { return .failure(.totalLength) }
        guard Checksum.finish(Checksum.sum(f, o, ihl)) == 0 else { return .failure(.checksum) }
        let flagsFrag = f.u16(o + 6)
        let fragment = flagsFrag & 0x2000 != 0 || flagsFrag & 0x1fff != 0
        return .success(IPv4Packet(headerLength: ihl, totalLength: total, identification: f.u16(o + 4),
                                   isFragment: fragment, ttl: f.u8(o + 8), proto: f.u8(o + 9),
                                   source: f.ip(o + 12), destination: f.ip(o + 16),
                                   payloadStart: o + ihl, payloadEnd: o + total))
    }

    /// Writes a 20-byte header with its checksum at `o`.
    public static func writeHeader(into f: inout [UInt8], at o: Int, payloadLength: Int, id: UInt16, ttl: UInt8,
                                   proto: UInt8, source: IPv4Address, destination: IPv4Address) {
        f.put8(o, 0x45); f.put8(o + 1, 0); f.put16(o + 2, UInt16(truncatingIfNeeded: 20 + payloadLength))
        f.put16(o + 4, id); f.put16(o + 6, 0x4000)      // DF: we never fragment
        f.put8(o + 8, ttl); f.put8(o + 9, proto); f.put16(o + 10, 0)
        f.putIP(o + 12, source); f.putIP(o + 16, destination)
        f.put16(o + 10, Checksum.finish(Checksum.sum(f, o, 20)))
    }
}

/// A UDP header (RFC 768) at `offset`; data is `dataStart..<dataEnd`.
public struct UDPDatagram {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var dataStart: Int
    public var dataEnd: Int

    /// Parses and checks length and (when non-zero) the checksum.
    public static func parse(_ f: [UInt8], at o: Int, end: Int, source: IPv4Address, destination: IPv4Address) -> UDPDatagram? {
        guard o >= 0, end <= f.count, end - o >= 8 else { return nil }
        let length = Int(f.u16(o + 4))
        guard length >= 8, length <= end - o else { return nil }
        if f.u16(o + 6) != 0 {
            let s = Checksum.sum(f, o, length, initial: Checksum.pseudo(src: source, dst: destination, proto: IPProtocol.udp, length: length))
            guard Checksum.finish(s) == 0 else { return nil }
        }
        return UDPDatagram(sourcePort: f.u16(o), destinationPort: f.u16(o + 2), dataStart: o + 8, dataEnd: o + length)
    }
}

/// TCP header flags.
public struct TCPFlags: Equatable, Sendable {
    public var raw: UInt8
    public init(raw: UInt8) { self.raw = raw }
    public static let fin = TCPFlags(raw: 0x01)
    public static let syn = TCPFlags(raw: 0x02)
    public static let rst = TCPFlags(raw: 0x04)
    public static let psh = TCPFlags(raw: 0x08)
    public static let ack = TCPFlags(raw: 0x10)
    public func has(_ f: TCPFlags) -> Bool { raw & f.raw != 0 }
    public static func | (a: TCPFlags, b: TCPFlags) -> TCPFlags { TCPFlags(raw: a.raw | b.raw) }
}

/// A TCP segment (RFC 9293) at `offset`; data is `dataStart..<dataEnd`.
public struct TCPSegment {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var sequence: UInt32
    public var acknowledgment: UInt32
    public var flags: TCPFlags
    public var window: UInt16
    public var mss: UInt16?
    /// The window scale option's shift (RFC 7323), if present (only meaningful on a SYN).
    public var windowScale: UInt8?
    public var dataStart: Int
    public var dataEnd: Int
    public var dataLength: Int { dataEnd - dataStart }
    /// Sequence space the segment occupies: data, plus one each for SYN and FIN.
    public var sequenceLength: Int { dataLength + (flags.has(.syn) ? 1 : 0) + (flags.has(.fin) ? 1 : 0) }

    /// Parses and checks the header length, the options' framing and the checksum.
    public static func parse(_ f: [UInt8], at o: Int, end: Int, source: IPv4Address, destination: IPv4Address) -> TCPSegment? {
        guard o >= 0, end <= f.count, end - o >= 20 else { return nil }
        let offset = Int(f.u8(o + 12) >> 4) * 4
        guard offset >= 20, offset <= end - o else { return nil }
        let length = end - o
        let s = Checksum.sum(f, o, length, initial: Checksum.pseudo(src: source, dst: destination, proto: IPProtocol.tcp, length: length))
        guard Checksum.finish(s) == 0 else { return nil }
        var mss: UInt16? = nil
        var windowScale: UInt8? = nil
        var i = o + 20
        let optionsEnd = o + offset
        while i < optionsEnd {
            let kind = f.u8(i)
            if kind == 0 { break }                      // end of options
            if kind == 1 { i += 1; continue }           // no-op
            guard i + 1 < optionsEnd else { return nil }
            let len = Int(f.u8(i + 1))
            guard len >= 2, i + len <= optionsEnd else { return nil }
            if kind == 2 && len == 4 { mss = f.u16(i + 2) }
            if kind == 3 && len == 3 { windowScale = f.u8(i + 2) }
            i += len
        }
        return TCPSegment(sourcePort: f.u16(o), destinationPort: f.u16(o + 2), sequence: f.u32(o + 4),
                          acknowledgment: f.u32(o + 8), flags: TCPFlags(raw: f.u8(o + 13) & 0x3f),
                          window: f.u16(o + 14), mss: mss, windowScale: windowScale, dataStart: o + offset, dataEnd: end)
    }
}

/// Sequence-number arithmetic modulo 2^32 (RFC 9293 section 3.4).
@inline(__always) func seqLT(_ a: UInt32, _ b: UInt32) -> Bool { Int32(bitPattern: a &- b) < 0 }
@inline(__always) func seqLE(_ a: UInt32, _ b: UInt32) -> Bool { Int32(bitPattern: a &- b) <= 0 }
@inline(__always) func seqGT(_ a: UInt32, _ b: UInt32) -> Bool { Int32(bitPattern: a &- b) > 0 }
@inline(__always) func seqGE(_ a: UInt32, _ b: UInt32) -> Bool { Int32(bitPattern: a &- b) >= 0 }
