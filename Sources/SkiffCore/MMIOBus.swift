// MMIOBus.swift: devices the monitor emulates at guest-physical MMIO ranges (UART, exit register, virtio-mmio), found by address.
//
// The backend decodes an MMIO exit outside guest RAM into `VCPUExit.mmio`; the run loop looks the
// address up here and calls the device, which sees only an offset into its own range. A read's value
// goes back through `VirtualCPU.completeMMIORead` before the vCPU resumes. Protocols whose guests talk
// through hypercalls (hvt) leave the bus empty: every such access is then an invalid MMIO access.

/// One guest access to MMIO, as the backend decoded it.
public struct MMIOAccess: Equatable, Sendable {
    public var address: UInt64
    /// 1, 2, 4 or 8 bytes.
    public var length: Int
    public var isWrite: Bool
    /// The value written (little-endian, `length` bytes); 0 for a read.
    public var value: UInt64

    public init(address: UInt64, length: Int, isWrite: Bool, value: UInt64 = 0) {
        self.address = address
        self.length = length
        self.isWrite = isWrite
        self.value = value
    }
}

/// What a device write may do to the run besides changing the device.
public enum MMIOWriteEffect: Equatable, Sendable {
    /// Nothing: the guest continues.
    case none
    /// The guest asked to end with this status (an exit register).
    case halt(Int32)
}

/// A device on the bus. Offsets are relative to the device's base; accesses outside the range never
/// reach it. Reads of registers a device does not have return 0, writes to them are ignored (as on
/// hardware); a write the device cannot carry out at all is a `DeviceFault` that ends the run.
public protocol MMIODevice: AnyObject {
    func read(offset: UInt64, length: Int) -> UInt64
    func write(offset: UInt64, length: Int, value: UInt64) throws(DeviceFault) -> MMIOWriteEffect
}

/// A device's fatal error (the run ends with its one-line message, status 1).
public struct DeviceFault: Error, Equatable, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// The emulated devices of one VM, by guest-physical range (ranges never overlap).
public struct MMIOBus {
    public struct Region {
        public let base: UInt64
        public let size: UInt64
        public let device: any MMIODevice
    }
    public private(set) var regions: [Region] = []

    public init() {}

    /// Adds `device` at [base, base + size); false (and nothing added) if the range is empty, wraps
    /// or overlaps a device already there.
    @discardableResult
    public mutating func add(_ device: any MMIODevice, at base: UInt64, size: UInt64) -> Bool {
        guard size > 0, base <= UInt64.max - (size - 1) else { return false }
        for r in regions where base < r.base &+ r.size && r.base < base &+ size { return false }
        regions.append(Region(base: base, size: size, device: device))
        return true
    }

    /// The device covering the whole access at `address` (`length` bytes) and the offset into it.
    public func device(at address: UInt64, length: Int) -> (device: any MMIODevice, offset: UInt64)? {
        for r in regions where address >= r.base && address - r.base < r.size {
            let offset = address - r.base
            guard length > 0, UInt64(length) <= r.size - offset else { return nil }
            return (r.device, offset)
        }
        return nil
    }
}

/// A power request a guest made through the hypervisor's firmware interface (PSCI on arm64).
public enum SystemEvent: Equatable, Sendable {
    /// SYSTEM_OFF: the guest powered off (status 0).
    case shutdown
    /// SYSTEM_RESET: treated as a power-off, as QEMU does with `-no-reboot` (status 0).
    case reset
    /// The guest reported a crash (status 255).
    case crash
}
