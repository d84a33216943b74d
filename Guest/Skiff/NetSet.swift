// NetSet.swift: the set of network devices with pending input.

/// A set of network device handles, as returned by ``Skiff/yield(until:)``:
/// bit *i* is set when the device with handle *i* has input.
public struct NetSet: Equatable {
    /// The raw `ready_set` bits of the `POLL` hypercall.
    public var rawValue: UInt64

    /// A set from its bits: bit `h` set means the device with handle `h` is ready.
    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// True when no device has input.
    public var isEmpty: Bool { rawValue == 0 }

    /// True when `device` has input.
    public func contains(_ device: NetDevice) -> Bool {
        contains(handle: device.handle)
    }

    /// True when the device with `handle` has input.
    public func contains(handle: UInt64) -> Bool {
        handle < 64 && rawValue & (1 << handle) != 0
    }
}
