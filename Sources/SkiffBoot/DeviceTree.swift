// DeviceTree.swift: a flattened device tree (DTB, version 17) written by the monitor for the hardware it provides.
//
// Devicetree Specification v0.4, chapter 5: a 40-byte big-endian header, the memory
// reservation block, the structure block (BEGIN_NODE/PROP/END_NODE tokens, 4-byte aligned)
// and the strings block (property names, shared where one is the tail of another). Nodes keep their insertion order;
// properties come before subnodes, as the format requires.

import SkiffCore

/// A property value, encoded big-endian as the format wants.
public enum DeviceTreeValue: Equatable, Sendable {
    case empty
    case u32(UInt32)
    case u64(UInt64)
    /// A list of 32-bit cells (`reg`, `interrupts`, ...).
    case cells([UInt32])
    case string(String)
    /// A string list (`compatible`).
    case strings([String])
    case bytes([UInt8])

    var encoded: [UInt8] {
        switch self {
        case .empty: return []
        case .u32(let v): return DeviceTree.be32(v)
        case .u64(let v): return DeviceTree.be32(UInt32(truncatingIfNeeded: v >> 32)) + DeviceTree.be32(UInt32(truncatingIfNeeded: v))
        case .cells(let c): return c.flatMap(DeviceTree.be32)
        case .string(let s): return Array(s.utf8) + [0]
        case .strings(let l): return l.flatMap { Array($0.utf8) + [0] }
        case .bytes(let b): return b
        }
    }
}

/// One node: its name (`unit@address`), properties in order, subnodes in order.
public struct DeviceTreeNode: Equatable, Sendable {
    public var name: String
    public var properties: [Property] = []
    public var children: [DeviceTreeNode] = []

    public struct Property: Equatable, Sendable {
        public var name: String
        public var value: DeviceTreeValue
    }

    public init(_ name: String) { self.name = name }

    /// Adds a property (builder style).
    public func with(_ name: String, _ value: DeviceTreeValue) -> DeviceTreeNode {
        var n = self
        n.properties.append(Property(name: name, value: value))
        return n
    }

    public func with(_ child: DeviceTreeNode) -> DeviceTreeNode {
        var n = self
        n.children.append(child)
        return n
    }
}

/// A whole tree: the root node and the memory reservations.
public struct DeviceTree: Equatable, Sendable {
    public static let magic: UInt32 = 0xd00d_feed
    public static let version: UInt32 = 17
    public static let lastCompatibleVersion: UInt32 = 16
    static let beginNode: UInt32 = 1, endNode: UInt32 = 2, prop: UInt32 = 3, end: UInt32 = 9

    public var root: DeviceTreeNode
    /// (address, size) ranges the guest must not use (`/memreserve/`).
    public var reservations: [(address: UInt64, size: UInt64)] = []
    public var bootCPU: UInt32 = 0

    public init(root: DeviceTreeNode) { self.root = root }

    public static func == (a: DeviceTree, b: DeviceTree) -> Bool {
        a.root == b.root && a.bootCPU == b.bootCPU
            && a.reservations.elementsEqual(b.reservations) { $0.address == $1.address && $0.size == $1.size }
    }

    /// The DTB bytes.
    public func serialized() -> [UInt8] {
        var strings: [UInt8] = []
        // A name already in the table, also as the tail of a longer one, is shared (as dtc does, so the
        // blob is byte-for-byte what `dtc` makes of `source`).
        func nameOffset(_ name: String) -> UInt32 {
            let needle = Array(name.utf8) + [0]
            if needle.count <= strings.count {
                for start in 0...(strings.count - needle.count) where strings[start..<(start + needle.count)].elementsEqual(needle) {
                    return UInt32(start)
                }
            }
            let o = UInt32(strings.count)
            strings += needle
            return o
        }
        var structure: [UInt8] = []
        func pad() { while structure.count % 4 != 0 { structure.append(0) } }
        func emit(_ node: DeviceTreeNode) {
            structure += Self.be32(Self.beginNode)
            structure += Array(node.name.utf8) + [0]
            pad()
            for p in node.properties {
                let value = p.value.encoded
                structure += Self.be32(Self.prop) + Self.be32(UInt32(value.count)) + Self.be32(nameOffset(p.name))
                structure += value
                pad()
            }
            for c in node.children { emit(c) }
            structure += Self.be32(Self.endNode)
        }
        emit(root)
        structure += Self.be32(Self.end)

        var rsv: [UInt8] = []
        for r in reservations { rsv += DeviceTreeValue.u64(r.address).encoded + DeviceTreeValue.u64(r.size).encoded }
        rsv += [UInt8](repeating: 0, count: 16)

        let header = 40
        let rsvOffset = (header + 7) & ~7
        let structOffset = rsvOffset + rsv.count
        let stringsOffset = structOffset + structure.count
        let total = stringsOffset + strings.count
        var out: [UInt8] = []
        out.reserveCapacity((total + 7) & ~7)
        for v in [Self.magic, UInt32(total), UInt32(structOffset), UInt32(stringsOffset), UInt32(rsvOffset),
                  Self.version, Self.lastCompatibleVersion, bootCPU, UInt32(strings.count), UInt32(structure.count)] {
            out += Self.be32(v)
        }
        while out.count < rsvOffset { out.append(0) }
        out += rsv + structure + strings
        return out
    }

    static func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(truncatingIfNeeded: v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8),
         UInt8(truncatingIfNeeded: v)]
    }
}

extension DeviceTree {
    /// The tree as device tree source (DTS v1), which `dtc -I dts` compiles back to the same blob:
    /// cells in hex, strings quoted, byte strings in brackets.
    public var source: String {
        var out = "/dts-v1/;\n\n"
        for r in reservations { out += "/memreserve/ \(hex(r.address)) \(hex(r.size));\n" }
        func quote(_ s: String) -> String {
            var q = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": q += "\\\""
                case "\\": q += "\\\\"
                case "\n": q += "\\n"
                default:
                    if u.value < 0x20 || u.value == 0x7F {
                        let h = String(u.value, radix: 16)
                        q += "\\x" + (h.count < 2 ? "0" : "") + h
                    } else {
                        q.unicodeScalars.append(u)
                    }
                }
            }
            return q + "\""
        }
        func value(_ v: DeviceTreeValue) -> String? {
            switch v {
            case .empty: return nil
            case .u32(let x): return "<\(hex(x))>"
            case .u64(let x): return "<\(hex(UInt32(truncatingIfNeeded: x >> 32))) \(hex(UInt32(truncatingIfNeeded: x)))>"
            case .cells(let c): return "<" + c.map { hex($0) }.joined(separator: " ") + ">"
            case .string(let s): return quote(s)
            case .strings(let l): return l.map(quote).joined(separator: ", ")
            case .bytes(let b):
                return "[" + b.map { let h = String($0, radix: 16); return h.count < 2 ? "0" + h : h }.joined(separator: " ") + "]"
            }
        }
        func emit(_ n: DeviceTreeNode, _ depth: Int) {
            let pad = String(repeating: "\t", count: depth)
            out += pad + (depth == 0 ? "/" : n.name) + " {\n"
            for p in n.properties {
                out += pad + "\t" + p.name + (value(p.value).map { " = " + $0 } ?? "") + ";\n"
            }
            for c in n.children {
                out += "\n"
                emit(c, depth + 1)
            }
            out += pad + "};\n"
        }
        emit(root, 0)
        return out
    }
}
