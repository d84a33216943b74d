// Descriptors.swift: x86_64 GDT segment descriptors and IDT gates decoded from their in-memory form (what a debugger needs to undo an exception the guest took).
//
// Pure data. The KVM backend's PVM debugging path (KVMVCPU+debug_x86_64.swift)
// reads the guest's #BP/#DB handler addresses from its IDT and, after stopping
// there, restores the interrupted context's code and stack segments from its GDT.

extension Segment {
    /// The segment an 8-byte GDT descriptor `raw` describes, as loaded with `selector`; nil for a
    /// descriptor that is not present. (System descriptors such as the 16-byte TSS are not decoded.)
    public init?(descriptor raw: UInt64, selector: UInt16) {
        let access = UInt8(truncatingIfNeeded: raw >> 40)
        guard access & 0x80 != 0 else { return nil }
        let flags = UInt8(truncatingIfNeeded: raw >> 52) & 0xf
        let base = (raw >> 16) & 0xff_ffff | ((raw >> 56) & 0xff) << 24
        var limit = UInt32(truncatingIfNeeded: raw & 0xffff | ((raw >> 48) & 0xf) << 16)
        let granular = flags & 0x8 != 0
        if granular { limit = limit << 12 | 0xfff }
        self.init(base: base, limit: limit, selector: selector, type: access & 0xf, present: true,
                  dpl: (access >> 5) & 3, db: flags & 0x4 != 0, s: access & 0x10 != 0, l: flags & 0x2 != 0,
                  g: granular)
    }
}

/// A 64-bit IDT gate (16 bytes, given as its two little-endian words).
public struct InterruptGate: Equatable, Sendable {
    public var handler: UInt64
    public var selector: UInt16
    public var present: Bool
    /// The privilege level that may raise it with `int n` (3 for Skiff's #BP gate: `int3` from CPL3).
    public var dpl: UInt8

    public init(low: UInt64, high: UInt64) {
        handler = low & 0xffff | ((low >> 48) & 0xffff) << 16 | (high & 0xffff_ffff) << 32
        selector = UInt16(truncatingIfNeeded: low >> 16)
        let attributes = UInt8(truncatingIfNeeded: low >> 40)
        present = attributes & 0x80 != 0
        dpl = (attributes >> 5) & 3
    }

    /// Bytes per gate in a 64-bit IDT.
    public static let size: UInt64 = 16
    /// The vectors a debugger cares about.
    public static let debugVector: UInt64 = 1, breakpointVector: UInt64 = 3
}
