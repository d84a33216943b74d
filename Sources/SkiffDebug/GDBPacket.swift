// GDBPacket.swift: the GDB remote serial protocol's framing: `$payload#cs` packets, acks, Ctrl-C, escapes and run-length encoding; bounded, never traps.
//
// The reader is an incremental state machine fed whatever bytes the
// connection delivered; it yields events (a verified packet, an ack, a nack,
// an interrupt, a rejected packet). Everything it keeps is bounded by
// `GDBPacketReader.maxPayload`. Hostile input is rejected, never trusted:
// a bad checksum is a `.corrupt` event (the session answers `-`), an
// oversized packet is `.tooLong`, a bad run-length count is `.malformed`.

/// One thing a debugger sent.
public enum GDBInput: Equatable, Sendable {
    /// A complete packet with a valid checksum; its payload run-length decoded (escapes are
    /// left for the commands with binary data: `X`).
    case packet([UInt8])
    /// `+`: the debugger received our last packet.
    case ack
    /// `-`: the debugger wants our last packet again.
    case nack
    /// 0x03 outside a packet: interrupt the running guest.
    case interrupt
    /// A packet whose checksum did not match (or was not hex).
    case corrupt
    /// A packet longer than `maxPayload` (its checksum was still checked).
    case tooLong
    /// A packet with an invalid run-length encoding.
    case malformed
}

/// The incremental packet reader.
public struct GDBPacketReader: Sendable {
    /// The largest payload accepted (as received, before run-length decoding) and produced
    /// (after it); `qSupported` advertises `PacketSize` from it.
    public static let maxPayload = 16384

    private enum State: Sendable { case idle, payload, checksum1, checksum2 }
    private var state: State = .idle
    private var payload: [UInt8] = []
    private var sum: UInt8 = 0
    private var overflow = false
    private var high: UInt8 = 0
    private var highValid = true

    public init() {}

    /// Feeds `bytes`; returns what they completed, in order.
    public mutating func feed<S: Sequence>(_ bytes: S) -> [GDBInput] where S.Element == UInt8 {
        var out: [GDBInput] = []
        for b in bytes { if let e = feed(byte: b) { out.append(e) } }
        return out
    }

    /// `feed` for what a read delivers (not generic: specialised here, not per caller).
    public mutating func feed(_ bytes: ArraySlice<UInt8>) -> [GDBInput] {
        var out: [GDBInput] = []
        for b in bytes { if let e = feed(byte: b) { out.append(e) } }
        return out
    }

    public mutating func feed(_ bytes: [UInt8]) -> [GDBInput] { feed(bytes[...]) }

    /// Feeds one byte; the event it completes, if any.
    public mutating func feed(byte b: UInt8) -> GDBInput? {
        switch state {
        case .idle:
            switch b {
            case UInt8(ascii: "$"): start()
            case UInt8(ascii: "+"): return .ack
            case UInt8(ascii: "-"): return .nack
            case 0x03: return .interrupt
            default: break   // noise between packets is ignored, as gdb's own stubs do
            }
        case .payload:
            if b == UInt8(ascii: "#") {
                state = .checksum1
            } else if b == UInt8(ascii: "$") {
                start()      // a new packet before the end of this one: the first was lost
            } else {
                sum &+= b
                if payload.count < Self.maxPayload { payload.append(b) } else { overflow = true }
            }
        case .checksum1:
            if let v = Self.hexValue(b) { high = v; highValid = true } else { highValid = false }
            state = .checksum2
        case .checksum2:
            state = .idle
            guard highValid, let low = Self.hexValue(b), high << 4 | low == sum else { release(); return .corrupt }
            if overflow { release(); return .tooLong }
            let raw = payload
            release()
            guard let decoded = Self.runLengthDecode(raw) else { return .malformed }
            return .packet(decoded)
        }
        return nil
    }

    private mutating func start() {
        state = .payload
        payload.removeAll(keepingCapacity: true)
        if payload.capacity < 256 { payload.reserveCapacity(256) }
        sum = 0
        overflow = false
    }

    /// Forgets the packet; its buffer is kept for the next (at most `maxPayload` bytes).
    private mutating func release() {
        payload.removeAll(keepingCapacity: true)
        overflow = false
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Expands `X*N` (N printable, repeat X N-29 more times); nil for a `*` with nothing to
    /// repeat, a count outside 32...126 or a result longer than `maxPayload`.
    public static func runLengthDecode(_ raw: [UInt8]) -> [UInt8]? {
        guard raw.contains(UInt8(ascii: "*")) else { return raw }
        var out: [UInt8] = []
        var i = 0
        while i < raw.count {
            let c = raw[i]
            if c == UInt8(ascii: "*") {
                guard let last = out.last, i + 1 < raw.count else { return nil }
                let n = raw[i + 1]
                guard n >= 32, n <= 126 else { return nil }
                let repeats = Int(n) - 29
                guard out.count + repeats <= maxPayload else { return nil }
                out += [UInt8](repeating: last, count: repeats)
                i += 2
            } else {
                guard out.count < maxPayload else { return nil }
                out.append(c)
                i += 1
            }
        }
        return out
    }
}

/// Packet encoding and the protocol's escapes.
public enum GDBPacket {
    /// Bytes that cannot appear raw in a payload: `$`, `#`, `}` and `*` (run-length marker).
    static func needsEscape(_ b: UInt8) -> Bool {
        b == UInt8(ascii: "$") || b == UInt8(ascii: "#") || b == UInt8(ascii: "}") || b == UInt8(ascii: "*")
    }

    /// `$payload#cs` with `$ # } *` escaped (`}` then the byte XOR 0x20) and the checksum of the sent bytes.
    public static func encode(_ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "$")]
        out.reserveCapacity(payload.count + 4)
        var sum: UInt8 = 0
        for b in payload {
            if needsEscape(b) {
                out.append(UInt8(ascii: "}")); out.append(b ^ 0x20)
                sum &+= UInt8(ascii: "}") &+ (b ^ 0x20)
            } else {
                out.append(b)
                sum &+= b
            }
        }
        out.append(UInt8(ascii: "#"))
        out.append(digit(sum >> 4)); out.append(digit(sum & 0xf))
        return out
    }

    public static func encode(_ payload: String) -> [UInt8] { encode(Array(payload.utf8)) }

    /// Undoes `}` escapes (binary data of `X`); nil for a trailing lone `}`.
    public static func unescape<C: Collection>(_ data: C) -> [UInt8]? where C.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(data.count)
        var escaped = false
        for b in data {
            if escaped { out.append(b ^ 0x20); escaped = false } else if b == UInt8(ascii: "}") { escaped = true } else { out.append(b) }
        }
        return escaped ? nil : out
    }

    /// The lower-case hex digit of `v` (0...15).
    @inline(__always)
    static func digit(_ v: UInt8) -> UInt8 { v < 10 ? UInt8(ascii: "0") + v : UInt8(ascii: "a") + v - 10 }

    /// Two lower-case hex digits.
    public static func hexByte(_ b: UInt8) -> [UInt8] { [digit(b >> 4), digit(b & 0xf)] }

    /// Lower-case hex of every byte.
    public static func hex<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digit(b >> 4)); out.append(digit(b & 0xf)) }
        return out
    }

    /// Bytes from pairs of hex digits; nil for an odd count or a non-hex digit.
    public static func bytes<C: Collection>(fromHex s: C) -> [UInt8]? where C.Element == UInt8 {
        guard s.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(s.count / 2)
        var it = s.makeIterator()
        while let h = it.next(), let l = it.next() {
            guard let hv = GDBPacketReader.hexValue(h), let lv = GDBPacketReader.hexValue(l) else { return nil }
            out.append(hv << 4 | lv)
        }
        return out
    }
}
