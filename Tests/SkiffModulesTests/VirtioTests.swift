// VirtioTests.swift: the arm64 Image machine's devices without KVM: virtio-mmio negotiation and queues, virtio-blk
// requests against a real file, hostile descriptor chains, PL011, PL031 and the exit register.

import Foundation
import Testing
import SkiffCore
@testable import SkiffModules
import SkiffTestSupport

let ramBase: UInt64 = 0x4000_0000

/// A guest with a virtio-blk device over a 64 KiB file, the queue at fixed guest-physical addresses.
final class VirtioRig {
    let mem: GuestMemory
    let ram: GuestRAM
    let path: String
    let file: BlockBackend
    let device: VirtioMMIODevice
    final class LineLog { var values: [Bool] = [] }
    let lineLog = LineLog()
    /// The interrupt line's changes, in order.
    var line: [Bool] { lineLog.values }
    static let desc: UInt64 = ramBase + 0x10_0000, avail = ramBase + 0x10_1000, used = ramBase + 0x10_2000
    static let header = ramBase + 0x11_0000, data = ramBase + 0x12_0000, status = ramBase + 0x13_0000
    var nextAvail: UInt16 = 0

    init(size: Int = 64 * 1024, blockSize: UInt64 = 512) throws {
        mem = try makeGuest()
        ram = GuestRAM(memory: mem, base: ramBase)
        path = NSTemporaryDirectory() + "skiff-virtio-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).img"
        FileManager.default.createFile(atPath: path, contents: Data(count: size))
        file = try BlockBackend(name: "storage", path: path, blockSize: blockSize)
        let log = lineLog
        device = VirtioMMIODevice(backend: VirtioBlock(file: file), ram: ram) { log.values.append($0) }
    }

    deinit { unlink(path) }

    func w(_ off: UInt64, _ v: UInt64) throws { _ = try device.write(offset: off, length: 4, value: v) }
    func r(_ off: UInt64) -> UInt64 { device.read(offset: off, length: 4) }

    /// ACKNOWLEDGE | DRIVER, features (VERSION_1 | BLK_SIZE | FLUSH), FEATURES_OK, queue 0 of 8, DRIVER_OK.
    func bringUp() throws {
        try w(0x070, 1 | 2)
        try w(0x024, 0); try w(0x020, 1 << 6 | 1 << 9)
        try w(0x024, 1); try w(0x020, 1)
        try w(0x070, 1 | 2 | 8)
        #expect(r(0x070) & 8 == 8)
        try w(0x030, 0); try w(0x038, 8)
        try w(0x080, Self.desc & 0xFFFF_FFFF); try w(0x084, Self.desc >> 32)
        try w(0x090, Self.avail & 0xFFFF_FFFF); try w(0x094, Self.avail >> 32)
        try w(0x0A0, Self.used & 0xFFFF_FFFF); try w(0x0A4, Self.used >> 32)
        try w(0x044, 1)
        try w(0x070, 1 | 2 | 8 | 4)
    }

    func g(_ gpa: UInt64) -> GuestAddress { GuestAddress(gpa - ramBase) }

    func descriptor(_ i: UInt16, _ addr: UInt64, _ len: UInt32, _ flags: UInt16, next: UInt16 = 0) throws {
        let d = Self.desc + 16 * UInt64(i)
        try mem.store(addr, at: g(d)); try mem.store(len, at: g(d + 8))
        try mem.store(flags, at: g(d + 12)); try mem.store(next, at: g(d + 14))
    }

    /// Publishes the chain at `head` and notifies queue 0.
    func submit(_ head: UInt16) throws {
        try mem.store(head, at: g(Self.avail + 4 + 2 * UInt64(nextAvail % 8)))
        nextAvail &+= 1
        try mem.store(nextAvail, at: g(Self.avail + 2))
        try w(0x050, 0)
    }

    /// A three-descriptor block request; returns the status byte.
    func request(type: UInt32, sector: UInt64, length: UInt32, dataWritable: Bool) throws -> UInt8 {
        try mem.store(type, at: g(Self.header)); try mem.store(UInt32(0), at: g(Self.header + 4))
        try mem.store(sector, at: g(Self.header + 8))
        try mem.store(UInt8(0xFF), at: g(Self.status))
        try descriptor(0, Self.header, 16, 1, next: 1)
        try descriptor(1, Self.data, length, 1 | (dataWritable ? 2 : 0), next: 2)
        try descriptor(2, Self.status, 1, 2)
        try submit(0)
        return try mem.load(UInt8.self, at: g(Self.status))
    }

    var usedIndex: UInt16 { (try? mem.load(UInt16.self, at: g(Self.used + 2))) ?? 0xFFFF }
}

@Test func virtioRegistersIdentifyABlockDeviceAndItsConfiguration() throws {
    let rig = try VirtioRig(size: 8192, blockSize: 4096)
    #expect(rig.r(0x000) == 0x7472_6976 && rig.r(0x004) == 2 && rig.r(0x008) == 2)
    try rig.w(0x014, 1)
    #expect(rig.r(0x010) == 1)                                  // VIRTIO_F_VERSION_1 (bit 32)
    try rig.w(0x014, 0)
    #expect(rig.r(0x010) == 1 << 6 | 1 << 9)                    // BLK_SIZE, FLUSH
    #expect(rig.device.read(offset: 0x100, length: 8) == 16)    // capacity in 512-byte sectors
    #expect(rig.device.read(offset: 0x114, length: 4) == 4096)  // blk_size
    #expect(rig.r(0x034) == 256)
    try rig.w(0x030, 1)
    #expect(rig.r(0x034) == 0)                                   // no queue 1
}

@Test func featuresOKIsRefusedForFeaturesNotOfferedOrWithoutVersion1() throws {
    let rig = try VirtioRig()
    try rig.w(0x024, 0); try rig.w(0x020, 1 << 5)              // RO: not offered
    try rig.w(0x024, 1); try rig.w(0x020, 1)
    try rig.w(0x070, 1 | 2 | 8)
    #expect(rig.r(0x070) & 8 == 0)
    try rig.w(0x070, 0)                                          // reset
    try rig.w(0x024, 0); try rig.w(0x020, 1 << 6)
    try rig.w(0x070, 1 | 2 | 8)                                  // no VERSION_1
    #expect(rig.r(0x070) & 8 == 0)
}

@Test func blockRequestsWriteReadAndInterrupt() throws {
    let rig = try VirtioRig()
    try rig.bringUp()
    try rig.mem.write(Array(repeating: 0xAB, count: 1024), at: rig.g(VirtioRig.data))
    #expect(try rig.request(type: 1, sector: 3, length: 1024, dataWritable: false) == 0)   // OUT
    #expect(rig.usedIndex == 1 && rig.line == [true] && rig.r(0x060) == 1)
    let onDisk = [UInt8](try Data(contentsOf: URL(fileURLWithPath: rig.path)))
    #expect(onDisk[1536..<2560].allSatisfy { $0 == 0xAB } && onDisk[1535] == 0 && onDisk[2560] == 0)
    // the used element: id = head 0, len = 1 (only the status byte was written)
    #expect(try rig.mem.load(UInt32.self, at: rig.g(VirtioRig.used + 4)) == 0)
    #expect(try rig.mem.load(UInt32.self, at: rig.g(VirtioRig.used + 8)) == 1)
    try rig.w(0x064, 1)                                          // InterruptACK lowers the line
    #expect(rig.line == [true, false] && rig.r(0x060) == 0)
    try rig.mem.zero(at: rig.g(VirtioRig.data), count: 1024)
    #expect(try rig.request(type: 0, sector: 3, length: 512, dataWritable: true) == 0)     // IN
    #expect(try rig.mem.read(at: rig.g(VirtioRig.data), count: 512).allSatisfy { $0 == 0xAB })
    #expect(try rig.mem.load(UInt32.self, at: rig.g(VirtioRig.used + 8 + 8)) == 513)
    #expect(try rig.request(type: 4, sector: 0, length: 0, dataWritable: false) == 0)      // FLUSH
}

@Test func blockRequestsPastTheEndOrTheWrongWayAreIOErrorsUnknownTypesUnsupported() throws {
    let rig = try VirtioRig()
    try rig.bringUp()
    #expect(try rig.request(type: 0, sector: 127, length: 1024, dataWritable: true) == 1)   // crosses 64 KiB
    #expect(try rig.request(type: 0, sector: UInt64.max / 256, length: 512, dataWritable: true) == 1)
    #expect(try rig.request(type: 1, sector: 0, length: 512, dataWritable: true) == 1)      // OUT into a writable buffer
    #expect(try rig.request(type: 99, sector: 0, length: 512, dataWritable: true) == 2)
    #expect(rig.usedIndex == 4)
    #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: rig.path))).allSatisfy { $0 == 0 })
}

@Test func hostileChainsEndTheRunAndTouchNothingOutsideRAM() throws {
    let rig = try VirtioRig()
    try rig.bringUp()
    // A loop: 0 → 1 → 0.
    try rig.descriptor(0, VirtioRig.header, 16, 1, next: 1)
    try rig.descriptor(1, VirtioRig.data, 16, 1, next: 0)
    #expect(throws: DeviceFault.self) { try rig.submit(0) }
    // A next index past the queue.
    let rig2 = try VirtioRig()
    try rig2.bringUp()
    try rig2.descriptor(0, VirtioRig.header, 16, 1, next: 200)
    #expect(throws: DeviceFault.self) { try rig2.submit(0) }
    // A data buffer below RAM, and one past its end.
    for address in [UInt64(0x1000), ramBase + memSize - 100] {
        let r = try VirtioRig()
        try r.bringUp()
        try r.mem.store(UInt32(0), at: r.g(VirtioRig.header))
        try r.mem.store(UInt64(0), at: r.g(VirtioRig.header + 8))
        try r.descriptor(0, VirtioRig.header, 16, 1, next: 1)
        try r.descriptor(1, address, 512, 3, next: 2)
        try r.descriptor(2, VirtioRig.status, 1, 2)
        #expect(throws: DeviceFault.self) { try r.submit(0) }
    }
    // A queue whose rings lie outside RAM.
    let r3 = try VirtioRig()
    try r3.bringUp()
    try r3.w(0x044, 0); try r3.w(0x090, 0x10); try r3.w(0x094, 0); try r3.w(0x044, 1)
    #expect(throws: DeviceFault.self) { try r3.w(0x050, 0) }
}

@Test func notifyBeforeDriverOKOrOnAMissingQueueDoesNothing() throws {
    let rig = try VirtioRig()
    try rig.w(0x050, 0)
    try rig.w(0x050, 7)
    #expect(rig.line.isEmpty && rig.usedIndex == 0)
}

@Test func pl011WritesLinesAndReportsAnEmptyFIFO() throws {
    let p = SkiffTestSupport.Pipe()
    let uart = PL011(console: p.w)
    for c in "ab\ncd".utf8 { _ = try uart.write(offset: 0, length: 1, value: UInt64(c)) }
    #expect(p.drain() == Array("ab\n".utf8))                        // line-buffered
    try uart.flush()
    #expect(p.drain() == Array("cd".utf8))
    #expect(uart.read(offset: 0x018, length: 4) == 0x90)
    #expect((0..<8).map { uart.read(offset: 0xFE0 + 4 * UInt64($0), length: 4) } == [0x11, 0x10, 0x14, 0, 0x0D, 0xF0, 0x05, 0xB1])
    #expect(uart.read(offset: 0x030, length: 4) == 0)
    _ = try uart.write(offset: 0x030, length: 4, value: 0x301)    // UARTCR: ignored
    try uart.flush()
    #expect(p.drain() == [])
}

@Test func pl031ReadsTheHostClockAndTheExitRegisterTakesAStatus() throws {
    let rtc = PL031()
    let now = UInt64(Date().timeIntervalSince1970)
    let t = rtc.read(offset: 0, length: 4)
    #expect(t >= now - 1 && t <= now + 1)
    #expect(rtc.read(offset: 0x00C, length: 4) == 1 && rtc.read(offset: 0xFE0, length: 4) == 0x31)
    let exit = ExitRegister()
    #expect(try exit.write(offset: 0, length: 4, value: 42) == .halt(42))
    #expect(try exit.write(offset: 4, length: 4, value: 42) == .none)
    #expect(try exit.write(offset: 0, length: 1, value: 42) == .none)
}
