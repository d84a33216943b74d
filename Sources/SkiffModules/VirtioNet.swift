// VirtioNet.swift: a virtio-net device (virtio 1.2 §5.1) over a `--net` tap, for the arm64 Linux-Image machine: transmit on notify, receive on an I/O thread.
//
// Queues: 0 receive, 1 transmit. Every buffer starts with the 12-byte `virtio_net_hdr` (VERSION_1:
// num_buffers included); no offloads are offered, so the header is all zeros both ways. Transmit
// runs on the vCPU thread at the driver's notify: the frame after the header is gathered and
// written to the tap in one write (a write error ends the run, as hvt's NET_WRITE; frames longer than
// the MTU's are dropped). Receive runs on an I/O thread: while the tap has a frame and the driver
// has a receive chain, the frame goes into the chain (a frame longer than the chain is dropped,
// counted), under the device's lock; with no chain available the thread sleeps until the driver's
// next notify on queue 0. Offered: VIRTIO_NET_F_MAC (the `--net-mac` or a random one) and
// VIRTIO_NET_F_MTU (the tap's).

import CSkiffLinux
import SkiffCore
import SkiffHost
import Synchronization

public final class VirtioNet: VirtioBackend, @unchecked Sendable {
    static let headerSize = 12
    static let featureMTU: UInt64 = 1 << 3, featureMAC: UInt64 = 1 << 5
    static let receiveQueue = 0, transmitQueue = 1

    public let tap: NetBackend
    public let deviceID: UInt32 = 1
    public let queueCount = 2
    public var deviceFeatures: UInt64 { Self.featureMTU | Self.featureMAC }
    /// Signalled by a notify on the receive queue (new buffers) and by `stop`.
    let wake: Int32
    private let stopFlag = Atomic<UInt32>(0)
    private var thread: HostThread?
    /// The transport, set by `start` (the I/O thread fills its receive queue); released by `stop`.
    private var transport: VirtioMMIODevice?
    /// Called on the I/O thread after `fatal` is set (to stop the vCPU).
    public var onFatal: () -> Void = {}
    /// Set once by the I/O thread when receiving failed for good (a malformed chain).
    public private(set) var fatal: DeviceFault?
    private let fatalSet = Atomic<UInt32>(0)
    /// Frames dropped because they did not fit the driver's chain, or exceeded the MTU on transmit.
    public private(set) var dropped = 0

    public init?(tap: NetBackend) {
        let fd = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard fd >= 0 else { return nil }
        self.tap = tap
        wake = fd
    }

    deinit {
        stop()
        close(wake)
    }

    /// mac (6 bytes) at 0x00, status at 0x06, max_virtqueue_pairs at 0x08, mtu at 0x0A.
    public var configuration: [UInt8] {
        var c = [UInt8](repeating: 0, count: 12)
        for (i, b) in tap.mac.prefix(6).enumerated() { c[i] = b }
        c[8] = 1
        c[10] = UInt8(truncatingIfNeeded: tap.mtu)
        c[11] = UInt8(truncatingIfNeeded: tap.mtu >> 8)
        return c
    }

    /// The largest frame (without the virtio header) this device passes: Ethernet header + MTU + a VLAN tag.
    var maximumFrame: Int { Int(tap.mtu) + 14 + 4 }

    public func serve(queue: Int, chain: [VirtqBuffer], ram: GuestRAM) throws(DeviceFault) -> UInt32? {
        guard queue == Self.transmitQueue else {
            var one: UInt64 = 1
            _ = write(wake, &one, 8)           // new receive buffers: the I/O thread looks again
            return nil
        }
        var bytes: [UInt8] = []
        for b in chain where !b.deviceWritable && b.length > 0 {
            let a = try ram.address(b.address, UInt64(b.length))
            do { bytes += try ram.memory.read(at: a, count: Int(b.length)) } catch {
                throw DeviceFault("virtio: invalid guest access: gpa=\(hex(b.address))")
            }
            guard bytes.count <= Self.headerSize + 65536 else { break }
        }
        guard bytes.count > Self.headerSize else { return 0 }
        let frame = Array(bytes[Self.headerSize...])
        guard frame.count <= maximumFrame else { dropped += 1; return 0 }
        if !Host.writeAll(tap.fd, frame) {
            throw DeviceFault("Fatal error when writing to net device '\(tap.name)': \(errnoString())")
        }
        return 0
    }

    /// Starts the receive thread over `transport`'s queue 0 (before the seccomp filter is installed).
    public func start(transport: VirtioMMIODevice) -> Bool {
        self.transport = transport
        thread = Host.startThread { [self] in receiveLoop() }
        return thread != nil
    }

    /// Stops and joins the receive thread; its fatal error, if any.
    @discardableResult
    public func stop() -> DeviceFault? {
        if let t = thread {
            thread = nil
            stopFlag.store(1, ordering: .releasing)
            var one: UInt64 = 1
            _ = write(wake, &one, 8)
            t.join()
        }
        transport = nil
        return fatalSet.load(ordering: .acquiring) != 0 ? fatal : nil
    }

    public var hasFailed: Bool { fatalSet.load(ordering: .acquiring) != 0 }

    private var stopping: Bool { stopFlag.load(ordering: .acquiring) != 0 }

    /// Waits for the tap (while the driver has buffers) or a wake-up; moves frames into receive chains.
    private func receiveLoop() {
        var frame = [UInt8](repeating: 0, count: 65536 + Self.headerSize)
        var starved = false
        while !stopping {
            let ready = Host.waitReadable(starved ? [wake] : [wake, tap.fd])
            if stopping { return }
            if ready.contains(wake) {
                var v: UInt64 = 0
                _ = read(wake, &v, 8)
                starved = false
            }
            guard let transport else { return }
            do {
                starved = try transport.fill(queue: Self.receiveQueue) { (chain) throws(DeviceFault) in
                    try receive(into: chain, scratch: &frame, ram: transport.ram)
                }
            } catch {
                fatal = error
                fatalSet.store(1, ordering: .releasing)
                onFatal()
                return
            }
        }
    }

    /// One frame from the tap into `chain` (header zeroed, num_buffers 1); nil when the tap has none.
    private func receive(into chain: [VirtqBuffer], scratch: inout [UInt8], ram: GuestRAM) throws(DeviceFault) -> UInt32? {
        var n: Int
        repeat {
            n = Host.readOnce(tap.fd, into: &scratch)
            guard n > 0 else { return nil }               // EAGAIN (or EOF): nothing waiting
            let room = chain.reduce(0) { $0 + ($1.deviceWritable ? Int($1.length) : 0) }
            if n + Self.headerSize <= room { break }
            dropped += 1                                  // larger than the driver's chain: dropped
        } while true
        var packet = [UInt8](repeating: 0, count: Self.headerSize)
        packet[10] = 1                                    // num_buffers
        packet += scratch[0..<n]
        var offset = 0
        for b in chain where b.deviceWritable && offset < packet.count {
            let count = min(Int(b.length), packet.count - offset)
            let a = try ram.address(b.address, UInt64(count))
            do { try ram.memory.write(packet[offset..<(offset + count)], at: a) } catch {
                throw DeviceFault("virtio: invalid guest access: gpa=\(hex(b.address))")
            }
            offset += count
        }
        return UInt32(packet.count)
    }
}
