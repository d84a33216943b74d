// HypercallTransport.swift: x86_64 hypercalls: a 4-byte OUT of the argument's GPA to port 0x500 + nr (spec §8).

import SkiffCore

public enum HypercallPorts {
    /// Hypercall N is a 4-byte OUT to port `base + N`.
    public static let base: UInt32 = 0x500
    /// The net ring's kick (an ioeventfd when ring I/O is offered; spec §11).
    public static let ringKick: UInt32 = 0x600

    /// Decodes a port I/O exit: a hypercall, an ignored port, or an invalid access.
    /// `limit` is the first number not decoded (hvt's 9, or more with Skiff's extensions).
    @inlinable
    public static func decode(port: UInt32, size: Int, count: Int, isOut: Bool, value: () -> UInt32,
                              limit: UInt32, ignoredPorts: [UInt32]) -> VCPUExit {
        if isOut, size == 4, !ignoredPorts.isEmpty, ignoredPorts.contains(port) { return .ignored }
        guard isOut, size == 4, count == 1, port >= base, port < base + limit else {
            return .invalidPortAccess(port: port, size: size, isWrite: isOut)
        }
        return .hypercall(number: port - base, argument: GuestAddress(UInt64(value())))
    }
}
