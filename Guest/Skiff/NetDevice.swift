// NetDevice.swift: network devices declared in the manifest (NET_BASIC).

import SkiffRuntime

/// A network device: a manifest entry of type `NET_BASIC`, attached by the
/// monitor with `--net:NAME=TAP`. Frames are whole Ethernet frames (14-byte
/// header included, no checksum offload).
///
/// ```swift
/// let net = try NetDevice(name: "service0")
/// var frame = [UInt8](repeating: 0, count: net.mtu + 14)
/// while true {
///     if Skiff.yield(until: .max).contains(net) {
///         while let n = try net.read(into: &frame) {
///             try net.write(frame, count: n)     // echo
///         }
///     }
/// }
/// ```
public struct NetDevice {
    /// The device handle: its index in the manifest (1...63).
    public let handle: UInt64
    /// The device's MAC address, 6 bytes.
    public let mac: [UInt8]
    /// The interface MTU (payload bytes; a frame is at most `mtu + 14`).
    public let mtu: Int

    /// Whether frames go through the monitor's shared ring (spec section 11)
    /// instead of the `NET_WRITE`/`NET_READ` hypercalls. Off by default:
    /// on PVM hosts a request/response round trip measured 0.4-1.5 ms
    /// through the ring (waking the monitor's I/O thread) against 0.1-0.2 ms
    /// with hypercalls; bulk writes are cheaper through it (no VM exit per
    /// frame). Setting it to `true` takes effect only if the monitor offers
    /// the ring (it does when a net device is attached and it can); reading
    /// it tells whether the ring is in use.
    public static var sharedRing: Bool {
        get { skiff_net_ring_active() != 0 }   // 0 where the platform has no ring
        set { skiff_net_ring_enable(newValue ? 3 : 0) }
    }

    /// Looks up the attached network device `name` in the boot manifest.
    ///
    /// - Throws: ``SkiffError/notFound`` if no attached `NET_BASIC` device
    ///   has that name.
    public init(name: String) throws(SkiffError) {
        let (handle, entry) = try Platform.device(named: name, type: UInt32(MFT_DEV_NET_BASIC))
        self.handle = handle
        let info = entry.u.net_basic
        self.mac = [info.mac.0, info.mac.1, info.mac.2, info.mac.3, info.mac.4, info.mac.5]
        self.mtu = Int(info.mtu)
    }

    /// Receives one frame into `buffer` (give it at least `mtu + 14` bytes).
    ///
    /// - Returns: the frame length, or `nil` when no frame is pending.
    /// - Throws: ``SkiffError/invalid`` for a bad handle.
    ///
    /// The corresponding hypercall is `NET_READ` (or a ring request, see
    /// ``sharedRing``).
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SkiffError) -> Int? {
        var length = 0
        let r = skiff_net_read(handle, buffer.baseAddress, buffer.count, &length)
        switch UInt32(bitPattern: r) {
        case HVTResult.ok: return length
        case HVTResult.again: return nil
        default: throw SkiffError(result: r)
        }
    }

    /// Sends one frame. With the shared ring, frames of up to 2048 bytes are
    /// queued and the call returns at once; errors are then not reported.
    ///
    /// The corresponding hypercall is `NET_WRITE` (or a ring entry, see
    /// ``sharedRing``).
    public func write(_ frame: UnsafeRawBufferPointer) throws(SkiffError) {
        let r = skiff_net_write(handle, frame.baseAddress, frame.count)
        if r != 0 { throw SkiffError(result: r) }
    }

    /// Receives one frame into `buffer` from its start (array form: Embedded
    /// Swift cannot throw typed errors out of `withUnsafeMutableBytes`).
    ///
    /// - Returns: the frame length, or `nil` when no frame is pending.
    public func read(into buffer: inout [UInt8]) throws(SkiffError) -> Int? {
        var length = 0
        let r = buffer.withUnsafeMutableBytes { b in
            skiff_net_read(handle, b.baseAddress, b.count, &length)
        }
        switch UInt32(bitPattern: r) {
        case HVTResult.ok: return length
        case HVTResult.again: return nil
        default: throw SkiffError(result: r)
        }
    }

    /// Sends the first `count` bytes of `frame` (all of it by default).
    public func write(_ frame: [UInt8], count: Int? = nil) throws(SkiffError) {
        let n = min(count ?? frame.count, frame.count)
        let r = frame.withUnsafeBytes { b in skiff_net_write(handle, b.baseAddress, n) }
        if r != 0 { throw SkiffError(result: r) }
    }
}
