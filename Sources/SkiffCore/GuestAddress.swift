// GuestAddress.swift: guest physical addresses as a type, with overflow-checked arithmetic.

/// A guest physical address (on hvt, guest virtual == guest physical).
///
/// Guest addresses are values, never host pointers: turning one into host
/// memory goes through `GuestMemory`, which checks bounds.
public struct GuestAddress: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }
    @inlinable public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// `self + n`, or nil if it wraps past 2^64.
    @inlinable public func adding(_ n: UInt64) -> GuestAddress? {
        let (r, o) = rawValue.addingReportingOverflow(n)
        return o ? nil : GuestAddress(r)
    }

    @inlinable public static func < (a: GuestAddress, b: GuestAddress) -> Bool { a.rawValue < b.rawValue }

    public var description: String { "0x" + String(rawValue, radix: 16) }
}
