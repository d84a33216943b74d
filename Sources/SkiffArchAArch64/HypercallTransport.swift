// HypercallTransport.swift: aarch64 hypercalls: a 32-bit store of the argument's GPA to 0x100000000 + nr × 8 (spec §8).

import SkiffCore

public enum HypercallMMIO {
    /// The MMIO window: 1 GiB, not backed by memory.
    public static let window: UInt64 = 0x1_0000_0000
    public static let windowSize: UInt64 = 0x4000_0000
    /// The net ring's kick (an ioeventfd when ring I/O is offered; spec §11).
    public static let ringKick: UInt64 = 0x1_0000_0100

    /// True if `address` lies in the window: such exits are decoded here; any other MMIO exit is the
    /// backend's common case (inside RAM a protection fault, else an unexpected MMIO exit).
    @inlinable
    public static func inWindow(_ address: UInt64) -> Bool {
        address >= window && address - window < windowSize
    }

    /// The address standing for x86's I/O port `port` (0x500 + n ↔ 0x100000000 + n × 8): where
    /// `--bench-port=PORT` makes 4-byte stores exits the monitor ignores (the bare exit cost).
    @inlinable
    public static func address(ofPort port: UInt32) -> UInt64 {
        window + (UInt64(port) &- 0x500) * 8
    }

    /// Decodes an MMIO exit in the window. `limit` is the first hypercall number not decoded; 4-byte
    /// stores to an address in `ignored` are `.ignored` (benchmarks).
    /// Wrong length or a read: `len` is reported; a write outside the hypercall range: address only.
    @inlinable
    public static func decode(address: UInt64, length: Int, isWrite: Bool, value: () -> UInt32, limit: UInt32,
                              ignored: [UInt64] = []) -> VCPUExit {
        guard isWrite, length == 4 else { return .invalidMMIOAccess(address: address, length: length, isWrite: isWrite) }
        if !ignored.isEmpty, ignored.contains(address) { return .ignored }
        guard address >= window, address < window + UInt64(limit) * 8 else {
            return .invalidMMIOAccess(address: address, length: nil, isWrite: isWrite)
        }
        return .hypercall(number: UInt32((address - window) >> 3), argument: GuestAddress(UInt64(value())))
    }
}
