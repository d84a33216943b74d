// VirtioMMIO.swift: the virtio-mmio (version 2) transport and split virtqueues, over checked guest memory, for the arm64 Linux-Image machine.
//
// Virtio 1.2 §4.2.2 (MMIO registers) and §2.7 (split virtqueues). The guest's driver writes
// QueueNotify; the vCPU thread then serves every available chain at once (at most the queue's
// size per notify), publishes each in the used ring, sets InterruptStatus bit 0 and raises the
// device's interrupt line until the driver acknowledges it. Every guest address is checked
// against guest RAM; a descriptor chain that loops, leaves RAM or breaks the device's layout ends
// the run with one line (as a malformed hvt hypercall does): a guest can stop itself, nothing else.
// No indirect descriptors, no event index (neither feature is offered).

import SkiffCore
import SkiffHost

/// Guest RAM as guest-physical addresses see it (`base` is where GuestMemory's offset 0 lies).
public struct GuestRAM {
    public let memory: GuestMemory
    public let base: UInt64

    public init(memory: GuestMemory, base: UInt64) {
        self.memory = memory
        self.base = base
    }

    /// The memory offset of [gpa, gpa + count), checked to lie in guest RAM.
    public func address(_ gpa: UInt64, _ count: UInt64) throws(DeviceFault) -> GuestAddress {
        guard gpa >= base else { throw DeviceFault("virtio: invalid guest access: gpa=\(hex(gpa)), sz=\(count)") }
        let a = GuestAddress(gpa - base)
        do { try memory.check(a, count) } catch { throw DeviceFault("virtio: invalid guest access: gpa=\(hex(gpa)), sz=\(count)") }
        return a
    }

    func load<T: BitwiseCopyable>(_ type: T.Type, _ gpa: UInt64) throws(DeviceFault) -> T {
        let a = try address(gpa, UInt64(MemoryLayout<T>.size))
        do { return try memory.load(type, at: a) } catch { throw DeviceFault("virtio: invalid guest access: gpa=\(hex(gpa))") }
    }

    func store<T: BitwiseCopyable>(_ value: T, _ gpa: UInt64) throws(DeviceFault) {
        let a = try address(gpa, UInt64(MemoryLayout<T>.size))
        do { try memory.store(value, at: a) } catch { throw DeviceFault("virtio: invalid guest access: gpa=\(hex(gpa))") }
    }
}

/// One buffer of a descriptor chain.
public struct VirtqBuffer: Equatable, Sendable {
    public var address: UInt64
    public var length: UInt32
    /// True if the device writes it (VIRTQ_DESC_F_WRITE).
    public var deviceWritable: Bool
}

/// What a virtio device does with its requests (the transport does the rest).
public protocol VirtioBackend: AnyObject {
    /// Virtio device ID (1: network, 2: block).
    var deviceID: UInt32 { get }
    /// Feature bits offered besides VIRTIO_F_VERSION_1.
    var deviceFeatures: UInt64 { get }
    var queueCount: Int { get }
    /// The device's configuration space (read-only here), little-endian.
    var configuration: [UInt8] { get }
    /// Serves one chain the driver made available on `queue` (after a notify); returns the bytes it wrote
    /// into device-writable buffers, or nil to leave the chain (and those after it) available (a receive
    /// queue: filled by `VirtioMMIODevice.fill` when input arrives).
    func serve(queue: Int, chain: [VirtqBuffer], ram: GuestRAM) throws(DeviceFault) -> UInt32?
}

/// One split virtqueue's state as the driver configured it.
struct SplitQueue {
    static let maximumSize: UInt16 = 256
    var size: UInt16 = maximumSize
    var ready = false
    var descriptors: UInt64 = 0, driver: UInt64 = 0, device: UInt64 = 0
    var lastAvailable: UInt16 = 0
    var used: UInt16 = 0
}

/// A virtio-mmio device: the register file of §4.2.2 around a backend.
public final class VirtioMMIODevice: MMIODevice {
    public static let magic: UInt32 = 0x7472_6976          // "virt"
    public static let version: UInt32 = 2
    public static let vendor: UInt32 = 0x4649_4B53         // "SKIF"
    static let featureVersion1: UInt64 = 1 << 32
    static let descNext: UInt16 = 1, descWrite: UInt16 = 2, descIndirect: UInt16 = 4

    public let backend: any VirtioBackend
    let ram: GuestRAM
    /// Raises (true) or lowers (false) the device's interrupt line.
    let interrupt: (Bool) -> Void
    private var queues: [SplitQueue]
    private var status: UInt32 = 0
    private var deviceFeatureSelect: UInt32 = 0, driverFeatureSelect: UInt32 = 0
    private(set) var driverFeatures: UInt64 = 0
    private var queueSelect: UInt32 = 0
    private(set) var interruptStatus: UInt32 = 0

    public init(backend: any VirtioBackend, ram: GuestRAM, interrupt: @escaping (Bool) -> Void) {
        self.backend = backend
        self.ram = ram
        self.interrupt = interrupt
        queues = [SplitQueue](repeating: SplitQueue(), count: backend.queueCount)
    }

    var offeredFeatures: UInt64 { backend.deviceFeatures | Self.featureVersion1 }

    private var selected: Int? { Int(queueSelect) < queues.count ? Int(queueSelect) : nil }

    /// Guards the queues and registers: the vCPU thread's accesses against an I/O thread's `fill`.
    let lock = HostLock()

    public func read(offset: UInt64, length: Int) -> UInt64 {
        lock.withLock { readLocked(offset: offset, length: length) }
    }

    public func write(offset: UInt64, length: Int, value: UInt64) throws(DeviceFault) -> MMIOWriteEffect {
        try lock.withLock { () throws(DeviceFault) in try writeLocked(offset: offset, length: length, value: value) }
    }

    private func readLocked(offset: UInt64, length: Int) -> UInt64 {
        if offset >= 0x100 {
            let config = backend.configuration
            var v: UInt64 = 0
            for i in 0..<min(length, 8) {
                let o = Int(offset - 0x100) + i
                if o < config.count { v |= UInt64(config[o]) << (8 * UInt64(i)) }
            }
            return v
        }
        guard length == 4 else { return 0 }
        switch offset {
        case 0x000: return UInt64(Self.magic)
        case 0x004: return UInt64(Self.version)
        case 0x008: return UInt64(backend.deviceID)
        case 0x00C: return UInt64(Self.vendor)
        case 0x010: return deviceFeatureSelect < 2 ? (offeredFeatures >> (32 * UInt64(deviceFeatureSelect))) & 0xFFFF_FFFF : 0
        case 0x034: return selected == nil ? 0 : UInt64(SplitQueue.maximumSize)
        case 0x044: return selected.map { queues[$0].ready ? 1 : 0 } ?? 0
        case 0x060: return UInt64(interruptStatus)
        case 0x070: return UInt64(status)
        case 0x0FC: return 0                                  // ConfigGeneration: the configuration never changes
        default: return 0
        }
    }

    private func writeLocked(offset: UInt64, length: Int, value: UInt64) throws(DeviceFault) -> MMIOWriteEffect {
        guard length == 4, offset < 0x100 else { return .none }   // configuration space is read-only here
        let v = UInt32(truncatingIfNeeded: value)
        func setQueue(_ update: (inout SplitQueue) -> Void) {
            if let q = selected, !queues[q].ready { update(&queues[q]) }
        }
        func low(_ old: UInt64) -> UInt64 { old & ~0xFFFF_FFFF | UInt64(v) }
        func high(_ old: UInt64) -> UInt64 { old & 0xFFFF_FFFF | UInt64(v) << 32 }
        switch offset {
        case 0x014: deviceFeatureSelect = v
        case 0x020:
            if driverFeatureSelect < 2 {
                let shift = 32 * UInt64(driverFeatureSelect)
                driverFeatures = driverFeatures & ~(0xFFFF_FFFF << shift) | UInt64(v) << shift
            }
        case 0x024: driverFeatureSelect = v
        case 0x030: queueSelect = v
        case 0x038: setQueue { $0.size = UInt16(truncatingIfNeeded: min(v, UInt32(SplitQueue.maximumSize))) }
        case 0x044:
            if let q = selected {
                queues[q].ready = v == 1 && queues[q].size > 0
                if v == 0 { queues[q].lastAvailable = 0; queues[q].used = 0 }
            }
        case 0x050: if Int(v) < queues.count { try notify(queue: Int(v)) }
        case 0x064:
            interruptStatus &= ~v
            if interruptStatus == 0 { interrupt(false) }
        case 0x070: setStatus(v)
        case 0x080: setQueue { $0.descriptors = low($0.descriptors) }
        case 0x084: setQueue { $0.descriptors = high($0.descriptors) }
        case 0x090: setQueue { $0.driver = low($0.driver) }
        case 0x094: setQueue { $0.driver = high($0.driver) }
        case 0x0A0: setQueue { $0.device = low($0.device) }
        case 0x0A4: setQueue { $0.device = high($0.device) }
        default: break
        }
        return .none
    }

    /// Status writes (§2.1): 0 resets the device; FEATURES_OK sticks only for features we offered, with VERSION_1.
    private func setStatus(_ v: UInt32) {
        if v == 0 {
            status = 0
            driverFeatures = 0
            queues = [SplitQueue](repeating: SplitQueue(), count: backend.queueCount)
            if interruptStatus != 0 { interruptStatus = 0; interrupt(false) }
            return
        }
        var s = v
        let featuresOK: UInt32 = 8
        if s & featuresOK != 0, status & featuresOK == 0 {
            let acceptable = driverFeatures & ~offeredFeatures == 0 && driverFeatures & Self.featureVersion1 != 0
            if !acceptable { s &= ~featuresOK }
        }
        status = s
    }

    /// Serves every available chain of `queue` (at most its size) and interrupts if any was used.
    func notify(queue q: Int) throws(DeviceFault) {
        _ = try serveAvailable(queue: q) { (chain) throws(DeviceFault) in try backend.serve(queue: q, chain: chain, ram: ram) }
    }

    /// From an I/O thread: fills available chains of `queue` with `fill` (bytes written, or nil when it has
    /// nothing more); true if it stopped because no chain was available.
    public func fill(queue q: Int, _ fill: ([VirtqBuffer]) throws(DeviceFault) -> UInt32?) throws(DeviceFault) -> Bool {
        try lock.withLock { () throws(DeviceFault) in try serveAvailable(queue: q, fill) }
    }

    /// The loop both share: chains in order while `serve` takes them; publishes each in the used ring,
    /// interrupts once if any was used. True if it ran out of chains (or the queue is not live).
    private func serveAvailable(queue q: Int, _ serve: ([VirtqBuffer]) throws(DeviceFault) -> UInt32?) throws(DeviceFault) -> Bool {
        guard q < queues.count, queues[q].ready, status & 4 != 0 else { return true }   // DRIVER_OK
        var queue = queues[q]
        defer { queues[q] = queue }
        let size = queue.size
        let available: UInt16 = try ram.load(UInt16.self, queue.driver + 2)
        var served = 0
        defer { if served > 0 { interruptStatus |= 1; interrupt(true) } }
        while queue.lastAvailable != available && served < Int(size) {
            let slot = UInt64(queue.lastAvailable % size)
            let head: UInt16 = try ram.load(UInt16.self, queue.driver + 4 + 2 * slot)
            let chain = try self.chain(head, in: queue)
            guard let written = try serve(chain) else { return false }
            let element = queue.device + 4 + 8 * UInt64(queue.used % size)
            try ram.store(UInt32(head), element)
            try ram.store(written, element + 4)
            queue.used &+= 1
            try ram.store(queue.used, queue.device + 2)
            queue.lastAvailable &+= 1
            served += 1
        }
        return queue.lastAvailable == available
    }

    /// The buffers of the chain starting at descriptor `head` (at most the queue's size, no loops).
    func chain(_ head: UInt16, in queue: SplitQueue) throws(DeviceFault) -> [VirtqBuffer] {
        var out: [VirtqBuffer] = []
        var index = head
        while true {
            guard index < queue.size, out.count < Int(queue.size) else {
                throw DeviceFault("virtio: descriptor chain from \(head) is malformed (index \(index), queue size \(queue.size))")
            }
            let d = queue.descriptors + 16 * UInt64(index)
            let address: UInt64 = try ram.load(UInt64.self, d)
            let length: UInt32 = try ram.load(UInt32.self, d + 8)
            let flags: UInt16 = try ram.load(UInt16.self, d + 12)
            let next: UInt16 = try ram.load(UInt16.self, d + 14)
            guard flags & Self.descIndirect == 0 else { throw DeviceFault("virtio: indirect descriptor (not offered)") }
            out.append(VirtqBuffer(address: address, length: length, deviceWritable: flags & Self.descWrite != 0))
            guard flags & Self.descNext != 0 else { return out }
            index = next
        }
    }
}
