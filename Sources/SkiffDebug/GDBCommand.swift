// GDBCommand.swift: decoding a GDB remote packet's payload into a command; every malformed payload is `.malformed`, every unknown one `.unsupported`.
//
// Numbers are hex as the protocol says, bounded (at most 16 digits for an
// address, 8 for a length or register number) and checked for overflow;
// nothing here traps on any input (the fuzz target `gdb` checks it).

/// How the guest resumes.
public enum GDBResume: Equatable, Sendable {
    case `continue`
    case step
}

/// A breakpoint or watchpoint of `Z`/`z`.
public struct GDBBreakpoint: Equatable, Sendable {
    public enum Kind: UInt8, Equatable, Sendable {
        case software = 0, hardware = 1, writeWatch = 2, readWatch = 3, accessWatch = 4
    }
    public var kind: Kind
    public var address: UInt64
    /// The protocol's `kind` field: the breakpoint instruction's size, or the watched length.
    public var length: UInt64

    public init(kind: Kind, address: UInt64, length: UInt64) {
        self.kind = kind
        self.address = address
        self.length = length
    }
}

/// One decoded packet.
public enum GDBCommand: Equatable, Sendable {
    /// `?`
    case haltReason
    /// `g`
    case readRegisters
    /// `G XX…`: the register bytes (unavailable `xx` pairs read as 0).
    case writeRegisters([UInt8])
    /// `p n`
    case readRegister(Int)
    /// `P n=XX…`
    case writeRegister(Int, [UInt8])
    /// `m addr,length`
    case readMemory(address: UInt64, length: UInt64)
    /// `M addr,length:XX…` and `X addr,length:binary`.
    case writeMemory(address: UInt64, data: [UInt8])
    /// `c [addr]`, `s [addr]`, `C sig[;addr]`, `S sig[;addr]`, and `vCont;…` (the action for our one thread).
    case resume(GDBResume, address: UInt64?)
    /// `vCont?`
    case vContQuery
    /// `Z type,addr,kind`
    case insertBreakpoint(GDBBreakpoint)
    /// `z type,addr,kind`
    case removeBreakpoint(GDBBreakpoint)
    /// `qSupported[:features]`
    case querySupported([String])
    /// `qXfer:features:read:annex:offset,length`
    case readFeatures(annex: String, offset: UInt64, length: UInt64)
    /// `qAttached[:pid]`
    case queryAttached
    /// `qC`
    case queryCurrentThread
    /// `qfThreadInfo` (first = true) and `qsThreadInfo`.
    case threadInfo(first: Bool)
    /// `H[gcm]tid`
    case setThread
    /// `T tid`
    case threadAlive(Int64)
    /// `qSymbol::`
    case symbolLookupDone
    /// `QStartNoAckMode`
    case startNoAckMode
    /// `D`, `D;pid`
    case detach
    /// `k`, `vKill;pid`
    case kill
    /// Anything this stub does not implement: the empty reply.
    case unsupported
    /// A known command with bad syntax: an error reply.
    case malformed

    /// Decodes one packet payload (after framing and run-length decoding).
    public static func parse(_ p: [UInt8]) -> GDBCommand {
        guard let first = p.first else { return .unsupported }
        let rest = p[1...]
        switch first {
        case UInt8(ascii: "?"): return rest.isEmpty ? .haltReason : .malformed
        case UInt8(ascii: "g"): return rest.isEmpty ? .readRegisters : .malformed
        case UInt8(ascii: "G"):
            return registerBytes(rest).map { .writeRegisters($0) } ?? .malformed
        case UInt8(ascii: "p"):
            guard let n = number(rest, maxDigits: 8) else { return .malformed }
            return .readRegister(Int(n))
        case UInt8(ascii: "P"):
            let parts = split(rest, UInt8(ascii: "="))
            guard parts.count == 2, let n = number(parts[0], maxDigits: 8), let v = registerBytes(parts[1]), !v.isEmpty else {
                return .malformed
            }
            return .writeRegister(Int(n), v)
        case UInt8(ascii: "m"):
            let parts = split(rest, UInt8(ascii: ","))
            guard parts.count == 2, let a = number(parts[0], maxDigits: 16), let l = number(parts[1], maxDigits: 8) else { return .malformed }
            return .readMemory(address: a, length: l)
        case UInt8(ascii: "M"), UInt8(ascii: "X"):
            guard let colon = rest.firstIndex(of: UInt8(ascii: ":")) else { return .malformed }
            let head = split(rest[rest.startIndex..<colon], UInt8(ascii: ","))
            guard head.count == 2, let a = number(head[0], maxDigits: 16), let l = number(head[1], maxDigits: 8) else { return .malformed }
            let body = rest[(colon + 1)...]
            let data = first == UInt8(ascii: "M") ? GDBPacket.bytes(fromHex: body) : GDBPacket.unescape(body)
            guard let data, UInt64(data.count) == l else { return .malformed }
            return .writeMemory(address: a, data: data)
        case UInt8(ascii: "c"), UInt8(ascii: "s"):
            let mode: GDBResume = first == UInt8(ascii: "c") ? .continue : .step
            if rest.isEmpty { return .resume(mode, address: nil) }
            guard let a = number(rest, maxDigits: 16) else { return .malformed }
            return .resume(mode, address: a)
        case UInt8(ascii: "C"), UInt8(ascii: "S"):
            // The signal is not delivered (a unikernel has no signals); an address is honoured.
            let mode: GDBResume = first == UInt8(ascii: "C") ? .continue : .step
            let parts = split(rest, UInt8(ascii: ";"))
            guard parts.count <= 2, number(parts[0], maxDigits: 2) != nil else { return .malformed }
            if parts.count == 1 { return .resume(mode, address: nil) }
            guard let a = number(parts[1], maxDigits: 16) else { return .malformed }
            return .resume(mode, address: a)
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            let parts = split(split(rest, UInt8(ascii: ";"))[0], UInt8(ascii: ","))
            guard parts.count == 3, let t = number(parts[0], maxDigits: 1), let kind = GDBBreakpoint.Kind(rawValue: UInt8(t)),
                  let a = number(parts[1], maxDigits: 16), let l = number(parts[2], maxDigits: 8) else { return .malformed }
            let b = GDBBreakpoint(kind: kind, address: a, length: l)
            return first == UInt8(ascii: "Z") ? .insertBreakpoint(b) : .removeBreakpoint(b)
        case UInt8(ascii: "H"):
            guard let op = rest.first, [UInt8(ascii: "g"), UInt8(ascii: "c"), UInt8(ascii: "m")].contains(op),
                  threadID(rest.dropFirst()) != nil else { return .malformed }
            return .setThread
        case UInt8(ascii: "T"):
            guard let t = threadID(rest) else { return .malformed }
            return .threadAlive(t)
        case UInt8(ascii: "D"):
            if rest.isEmpty { return .detach }
            guard rest.first == UInt8(ascii: ";"), number(rest.dropFirst(), maxDigits: 16) != nil else { return .malformed }
            return .detach
        case UInt8(ascii: "k"): return .kill
        case UInt8(ascii: "q"), UInt8(ascii: "Q"), UInt8(ascii: "v"): return parseNamed(p)
        default: return .unsupported
        }
    }

    /// `q…`, `Q…` and `v…` packets.
    static func parseNamed(_ p: [UInt8]) -> GDBCommand {
        func starts(_ s: String) -> Bool { p.starts(with: s.utf8) }
        func after(_ s: String) -> ArraySlice<UInt8> { p[min(s.utf8.count, p.count)...] }
        if p == Array("qSupported".utf8) { return .querySupported([]) }
        if starts("qSupported:") {
            return .querySupported(split(after("qSupported:"), UInt8(ascii: ";")).map { String(decoding: $0, as: UTF8.self) })
        }
        if starts("qXfer:features:read:") {
            let rest = after("qXfer:features:read:")
            guard let colon = rest.firstIndex(of: UInt8(ascii: ":")) else { return .malformed }
            let range = split(rest[(colon + 1)...], UInt8(ascii: ","))
            guard range.count == 2, let o = number(range[0], maxDigits: 8), let l = number(range[1], maxDigits: 8) else { return .malformed }
            return .readFeatures(annex: String(decoding: rest[rest.startIndex..<colon], as: UTF8.self), offset: o, length: l)
        }
        if p == Array("qAttached".utf8) || starts("qAttached:") { return .queryAttached }
        if p == Array("qC".utf8) { return .queryCurrentThread }
        if p == Array("qfThreadInfo".utf8) { return .threadInfo(first: true) }
        if p == Array("qsThreadInfo".utf8) { return .threadInfo(first: false) }
        if p == Array("qSymbol::".utf8) { return .symbolLookupDone }
        if p == Array("QStartNoAckMode".utf8) { return .startNoAckMode }
        if p == Array("vCont?".utf8) { return .vContQuery }
        if starts("vCont;") { return parseVCont(after("vCont;")) }
        if starts("vKill") { return .kill }
        return .unsupported
    }

    /// `vCont;action[:tid];…`: the first action for our thread (1, or any: -1 / no tid).
    /// `c`/`C sig` continue, `s`/`S sig` step; `t` (stop) leaves the guest stopped: nothing to do.
    static func parseVCont(_ s: ArraySlice<UInt8>) -> GDBCommand {
        for action in split(s, UInt8(ascii: ";")) {
            let parts = split(action, UInt8(ascii: ":"))
            guard parts.count <= 2, let op = parts[0].first else { return .malformed }
            if parts.count == 2 {
                guard let t = threadID(parts[1]) else { return .malformed }
                if t != 1 && t != -1 && t != 0 { continue }
            }
            switch op {
            case UInt8(ascii: "c"), UInt8(ascii: "s"):
                guard parts[0].count == 1 else { return .malformed }
                return .resume(op == UInt8(ascii: "c") ? .continue : .step, address: nil)
            case UInt8(ascii: "C"), UInt8(ascii: "S"):
                guard number(parts[0].dropFirst(), maxDigits: 2) != nil else { return .malformed }
                return .resume(op == UInt8(ascii: "C") ? .continue : .step, address: nil)
            case UInt8(ascii: "t"):
                return .unsupported
            default:
                return .malformed
            }
        }
        return .malformed
    }

    /// A thread id: hex, `-1` (all) or `0` (any); `p`-prefixed multiprocess ids are not offered.
    static func threadID(_ s: ArraySlice<UInt8>) -> Int64? {
        if Array(s) == Array("-1".utf8) { return -1 }
        return number(s, maxDigits: 8).map { Int64($0) }
    }

    /// A non-empty hex number of at most `maxDigits` digits.
    public static func number(_ s: ArraySlice<UInt8>, maxDigits: Int) -> UInt64? {
        guard !s.isEmpty, s.count <= maxDigits, maxDigits <= 16 else { return nil }
        var v: UInt64 = 0
        for c in s {
            guard let d = GDBPacketReader.hexValue(c) else { return nil }
            v = v << 4 | UInt64(d)
        }
        return v
    }

    /// Register bytes in hex; `xx` (unavailable) reads as 0.
    static func registerBytes(_ s: ArraySlice<UInt8>) -> [UInt8]? {
        let x = UInt8(ascii: "x")
        return GDBPacket.bytes(fromHex: s.map { $0 == x ? UInt8(ascii: "0") : $0 })
    }

    /// Splits on `sep`, keeping empty parts (always at least one part).
    static func split(_ s: ArraySlice<UInt8>, _ sep: UInt8) -> [ArraySlice<UInt8>] {
        s.split(separator: sep, omittingEmptySubsequences: false)
    }
}
