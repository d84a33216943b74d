// JSON.swift: a small strict JSON value, parser (RFC 8259) and writer; no Foundation: manifest.json, Inspect, the Swift SDKs, OCI files.

/// A parsed JSON value. Objects keep their keys in source order and remember
/// the line each value started on, for error messages.
public indirect enum JSONValue: Equatable, Sendable {
    case object([JSONMember])
    case array([JSONValue])
    case string(String)
    /// A number, as written (callers decide what integers they accept).
    case number(String)
    case bool(Bool)
    case null

    /// A short name of the value's type, for messages ("a string").
    public var kindName: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }
}

/// One `"key": value` pair of an object.
public struct JSONMember: Equatable, Sendable {
    public var key: String
    public var value: JSONValue
    /// 1-based line of the key (0 for members built in code); not part of equality.
    public var line: Int

    public init(_ key: String, _ value: JSONValue, line: Int = 0) {
        self.key = key
        self.value = value
        self.line = line
    }

    public static func == (a: JSONMember, b: JSONMember) -> Bool { a.key == b.key && a.value == b.value }
}

extension JSONValue {
    /// Compact JSON text: members in their order, numbers as written, control characters as `\u00XX`.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    public var bytes: [UInt8] {
        var out: [UInt8] = []
        write(into: &out)
        return out
    }

    func write(into out: inout [UInt8]) {
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .number(let n): out += Array(n.utf8)
        case .string(let s): JSONValue.writeString(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, m) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(m.key, into: &out)
                out.append(UInt8(ascii: ":"))
                m.value.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func writeString(_ s: String, into out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += [0x5c, 0x22]
            case 0x5c: out += [0x5c, 0x5c]
            case 0x0a: out += [0x5c, UInt8(ascii: "n")]
            case 0x0d: out += [0x5c, UInt8(ascii: "r")]
            case 0x09: out += [0x5c, UInt8(ascii: "t")]
            case 0..<0x20: out += [0x5c, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// `s` as a JSON string literal (quotes included).
public func jsonString(_ s: String) -> String { JSONValue.string(s).text }

/// Why parsing failed, with the 1-based line.
public struct JSONError: Error, Equatable, Sendable {
    public var line: Int
    public var message: String
}

/// Parses UTF-8 JSON text: one value, surrounded by optional whitespace.
/// Duplicate keys are an error (they are almost always a mistake in a
/// manifest). Nesting is limited to 64 levels.
public func parseJSON(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
    var p = JSONParser(bytes: bytes)
    p.skipSpace()
    let v = try p.value(depth: 0)
    p.skipSpace()
    guard p.pos == bytes.count else { throw p.error("unexpected text after the JSON value") }
    return v
}

struct JSONParser {
    let bytes: [UInt8]
    var pos = 0
    var line = 1

    init(bytes: [UInt8]) { self.bytes = bytes }

    func error(_ message: String) -> JSONError { JSONError(line: line, message: message) }

    var peek: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    mutating func skipSpace() {
        while let c = peek, c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d {
            if c == 0x0a { line += 1 }
            pos += 1
        }
    }

    mutating func expect(_ c: UInt8, _ what: String) throws(JSONError) {
        guard peek == c else { throw error("expected \(what)") }
        pos += 1
    }

    mutating func value(depth: Int) throws(JSONError) -> JSONValue {
        guard depth < 64 else { throw error("nesting too deep") }
        guard let c = peek else { throw error("unexpected end of input") }
        switch c {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("unexpected character '\(printable(c))'")
        }
    }

    mutating func literal(_ word: String) throws(JSONError) {
        for b in word.utf8 {
            guard peek == b else { throw error("invalid literal (expected \(word))") }
            pos += 1
        }
    }

    mutating func object(depth: Int) throws(JSONError) -> JSONValue {
        var members: [JSONMember] = []
        try elements(close: UInt8(ascii: "}"), in: "object") { (p: inout JSONParser) throws(JSONError) in
            let keyLine = p.line
            guard p.peek == UInt8(ascii: "\"") else { throw p.error("expected a string key") }
            let key = try p.string()
            if members.contains(where: { $0.key == key }) { throw p.error("duplicate key \"\(key)\"") }
            p.skipSpace()
            try p.expect(UInt8(ascii: ":"), "':' after key")
            p.skipSpace()
            members.append(JSONMember(key, try p.value(depth: depth + 1), line: keyLine))
        }
        return .object(members)
    }

    mutating func array(depth: Int) throws(JSONError) -> JSONValue {
        var items: [JSONValue] = []
        try elements(close: UInt8(ascii: "]"), in: "array") { (p: inout JSONParser) throws(JSONError) in
            items.append(try p.value(depth: depth + 1))
        }
        return .array(items)
    }

    /// The comma-separated elements of an object or array, from its opening
    /// bracket (at `pos`) through `close`; `element` parses one, spaces skipped.
    mutating func elements(close: UInt8, in what: String,
                           _ element: (inout JSONParser) throws(JSONError) -> Void) throws(JSONError) {
        pos += 1
        skipSpace()
        if peek == close { pos += 1; return }
        while true {
            skipSpace()
            try element(&self)
            skipSpace()
            if peek == UInt8(ascii: ",") { pos += 1; continue }
            try expect(close, "',' or '\(Character(Unicode.Scalar(close)))' in \(what)")
            return
        }
    }

    mutating func string() throws(JSONError) -> String {
        pos += 1
        var out: [UInt8] = []
        while true {
            guard let c = peek else { throw error("unterminated string") }
            pos += 1
            switch c {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let e = peek else { throw error("unterminated string") }
                pos += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xd800..<0xdc00).contains(scalar) {
                        guard peek == UInt8(ascii: "\\") else { throw error("unpaired surrogate in \\u escape") }
                        pos += 1
                        try expect(UInt8(ascii: "u"), "a low surrogate \\u escape")
                        let low = try hex4()
                        guard (0xdc00..<0xe000).contains(low) else { throw error("invalid surrogate pair") }
                        scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                    } else if (0xdc00..<0xe000).contains(scalar) {
                        throw error("unpaired surrogate in \\u escape")
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default:
                    throw error("invalid escape '\\\(printable(e))'")
                }
            default:
                guard c >= 0x20 else { throw error("control character in string") }
                out.append(c)
            }
        }
    }

    mutating func hex4() throws(JSONError) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let c = peek else { throw error("short \\u escape") }
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }

    mutating func number() throws(JSONError) -> String {
        let start = pos
        func digits(_ p: inout JSONParser) -> Int {
            var n = 0
            while let c = p.peek, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { p.pos += 1; n += 1 }
            return n
        }
        if peek == UInt8(ascii: "-") { pos += 1 }
        if peek == UInt8(ascii: "0") {
            pos += 1
        } else if digits(&self) == 0 {
            throw error("invalid number")
        }
        if peek == UInt8(ascii: ".") {
            pos += 1
            guard digits(&self) > 0 else { throw error("invalid number") }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            pos += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { pos += 1 }
            guard digits(&self) > 0 else { throw error("invalid number") }
        }
        return String(decoding: bytes[start..<pos], as: UTF8.self)
    }

    func printable(_ c: UInt8) -> String {
        c >= 0x20 && c < 0x7f ? String(UnicodeScalar(c)) : "\\x" + String(c, radix: 16)
    }
}
