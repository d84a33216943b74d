// Bytes.swift: little-endian reads and writes on byte arrays, each bounds-checked (nil when out of range); the one set of byte helpers.

extension Array where Element == UInt8 {
    @inlinable public func le<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T? {
        let n = MemoryLayout<T>.size
        guard offset >= 0, offset <= count - n else { return nil }
        var v: T = 0
        for i in (0..<n).reversed() { v = (v << 8) | T(self[offset + i]) }
        return v
    }
    @inlinable public func u8(_ o: Int) -> UInt8? { le(UInt8.self, at: o) }
    @inlinable public func u16(_ o: Int) -> UInt16? { le(UInt16.self, at: o) }
    @inlinable public func u32(_ o: Int) -> UInt32? { le(UInt32.self, at: o) }
    @inlinable public func u64(_ o: Int) -> UInt64? { le(UInt64.self, at: o) }

    /// Overwrites `value` little-endian at `offset` (the caller guarantees the range).
    @inlinable public mutating func putLE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        for i in 0..<MemoryLayout<T>.size { self[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }
    /// Appends `value` little-endian.
    @inlinable public mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        for i in 0..<MemoryLayout<T>.size { append(UInt8(truncatingIfNeeded: value >> (8 * i))) }
    }
    /// A checked sub-range copy, nil if out of range or overflowing.
    @inlinable public func slice(_ offset: UInt64, _ length: UInt64) -> [UInt8]? {
        let (end, o) = offset.addingReportingOverflow(length)
        guard !o, end <= UInt64(count) else { return nil }
        return Array(self[Int(offset)..<Int(end)])
    }
}

/// `0x...` in lower case, as upstream's messages print addresses.
@inlinable public func hex<T: BinaryInteger>(_ v: T) -> String { "0x" + String(v, radix: 16) }
