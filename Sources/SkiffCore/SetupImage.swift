// SetupImage.swift: bytes the monitor writes at a fixed guest-physical range before the first instruction (page tables, descriptor tables).

/// A block of guest memory built entry by entry on the host, then copied in once.
public struct SetupImage: Equatable, Sendable {
    /// The guest-physical address of `bytes[0]`.
    public let base: UInt64
    public private(set) var bytes: [UInt8]

    public init(base: UInt64, size: Int) {
        self.base = base
        bytes = [UInt8](repeating: 0, count: size)
    }

    /// Stores `value` (64 bits, little-endian) at guest-physical `gpa`, which must lie in the block.
    public mutating func put(_ gpa: UInt64, _ value: UInt64) {
        precondition(gpa >= base && gpa - base + 8 <= UInt64(bytes.count), "setup image entry outside the block")
        bytes.putLE(value, at: Int(gpa - base))
    }

    /// The 64-bit value at guest-physical `gpa`.
    public func value(at gpa: UInt64) -> UInt64? { gpa >= base ? bytes.u64(Int(gpa - base)) : nil }

    /// Copies the block into guest memory (set-up: the whole allocation may be written).
    public func write(to memory: GuestMemory) throws(GuestAccessError) {
        try memory.write(bytes, at: GuestAddress(base))
    }
}
