// JSON.swift: OCI files use SkiffBuild's JSON value, parser and writer; here the accessors a config rewrite needs.

import SkiffBuild

/// A JSON value (SkiffBuild's): objects keep their members' order (OCI files are written and rewritten, not
/// merged), numbers keep their text, so a rewritten config.json says exactly what containerd wrote.
public typealias JSON = JSONValue

extension JSONValue {
    public typealias Member = JSONMember

    public static func int(_ v: Int) -> JSON { .number(String(v)) }

    /// The member `key` of an object (nil for other values or a missing key); setting nil removes it.
    public subscript(key: String) -> JSON? {
        get {
            guard case .object(let members) = self else { return nil }
            for m in members where m.key == key { return m.value }
            return nil
        }
        set {
            guard case .object(var members) = self else { return }
            if let i = members.firstIndex(where: { $0.key == key }) {
                if let v = newValue { members[i].value = v } else { members.remove(at: i) }
            } else if let v = newValue {
                members.append(Member(key, v))
            }
            self = .object(members)
        }
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var arrayValue: [JSON]? { if case .array(let a) = self { return a } else { return nil } }
    public var intValue: Int? { if case .number(let n) = self { return Int(n) } else { return nil } }

    /// Parses one JSON document (SkiffBuild's strict parser: duplicate keys and nesting beyond 64 refused).
    public static func parse(_ bytes: [UInt8]) throws(JSONError) -> JSON { try parseJSON(bytes) }
    public static func parse(_ text: String) throws(JSONError) -> JSON { try parseJSON(Array(text.utf8)) }
}
