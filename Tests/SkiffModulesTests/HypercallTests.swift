// HypercallTests.swift: hypercall handlers against an in-memory guest with hostile arguments, and the run loop.

import Testing
import Glibc
import CSkiffABI
@testable import SkiffCore
@testable import SkiffModules
import SkiffTestSupport


@Test func putsWritesGuestBytes() throws {
    let mem = try makeGuest()
    let p = Pipe()
    let t = coreTable(mem, console: p.w)
    try mem.write(Array("hello\n".utf8), at: GuestAddress(0x300000))
    try mem.store(hvt_hc_puts(data: 0x300000, len: 6), at: argAt)
    try t.handler(for: 2)!(argAt)
    #expect(p.drain() == Array("hello\n".utf8))
}

@Test(arguments: [
    (UInt64(0), UInt64(0)),                 // address 0, empty: accepted (inside memory)
    (memSize - 1, 0),                        // last byte, empty
    (memSize - 16, 15),                      // ends one byte before the end
] as [(UInt64, UInt64)])
func putsAcceptsInRange(_ data: UInt64, _ len: UInt64) throws {
    let mem = try makeGuest()
    let p = Pipe()
    try mem.store(hvt_hc_puts(data: data, len: len), at: argAt)
    try coreTable(mem, console: p.w).handler(for: 2)!(argAt)
    #expect(p.drain().count == Int(len))
}

@Test(arguments: [
    (memSize - 16, UInt64(16)),             // ends exactly at the end: refused (strict bound, spec §8)
    (memSize, 1),                            // starts at the end
    (memSize - 8, 1 << 63),                  // length 2^63
    (UInt64.max - 4, 16),                    // wraps past 2^64
    (0x1000, UInt64.max),                    // length wraps
    (1 << 30, 1 << 30),                      // PUTS of 1 GiB beyond memory
] as [(UInt64, UInt64)])
func putsRefusesOutOfRange(_ data: UInt64, _ len: UInt64) throws {
    let mem = try makeGuest()
    let p = Pipe()
    try mem.store(hvt_hc_puts(data: data, len: len), at: argAt)
    #expect(throws: HypercallFault.self) { try coreTable(mem, console: p.w).handler(for: 2)!(argAt) }
    #expect(p.drain().isEmpty)
}

@Test(arguments: [UInt64.max - 7, memSize - 8, memSize, UInt64(UInt32.max)])
func argumentBlockOutsideMemoryIsAFault(_ at: UInt64) throws {
    let mem = try makeGuest()
    let t = coreTable(mem, console: -1)
    for nr: UInt32 in [1, 2, 3] {
        #expect(throws: HypercallFault.self) { try t.handler(for: nr)!(GuestAddress(at)) }
    }
}

@Test func faultMessageNamesAddressAndSize() throws {
    let mem = try makeGuest()
    do {
        try coreTable(mem, console: -1).handler(for: 1)!(GuestAddress(memSize - 4))
        Issue.record("no fault")
    } catch {
        #expect(error.message.contains("Invalid guest access: gpa=0x3ffffc, sz=8"))
        #expect(error.message.contains(".swift:"))
    }
}

@Test func walltimeAndPoll() throws {
    let mem = try makeGuest()
    let t = coreTable(mem, console: -1)
    try t.handler(for: 1)!(argAt)
    let ns = try mem.load(UInt64.self, at: argAt)
    #expect(ns > 1_483_228_800 * 1_000_000_000)  // after 2017-01-01
    try mem.store(hvt_hc_poll(timeout_nsecs: 1_000_000, ready_set: 0xff, ret: 7), at: argAt)
    try t.handler(for: 3)!(argAt)
    let p = try mem.load(hvt_hc_poll.self, at: argAt)
    #expect(p.ready_set == 0 && p.ret == 0)
}

@Test func unregisteredNumbersHaveNoHandler() {
    let t = coreTable(try! makeGuest(), console: -1)
    for nr: UInt32 in [0, 4, 5, 6, 7, 8, 9, 0xffff_ffff] { #expect(t.handler(for: nr) == nil) }
    var t2 = HypercallTable()
    try! t2.register(.puts) { _ throws(HypercallFault) in }
    #expect(throws: HypercallTable.DuplicateHandler.self) { try t2.register(.puts) { _ throws(HypercallFault) in } }
}

// MARK: Block

func tempImage(size: Int) -> String {
    var template = Array("/tmp/skiff-test-XXXXXX".utf8CString)
    let fd = mkstemp(&template)
    ftruncate(fd, off_t(size))
    close(fd)
    return String(cString: template)
}

func blockTable(_ mem: GuestMemory, path: String, blockSize: UInt64 = 512) throws -> HypercallTable {
    var t = HypercallTable()
    let dev = try BlockBackend(name: "storage", path: path, blockSize: blockSize)
    BlockModule.registerHypercalls(&t, memory: mem, devices: [nil, dev])
    return t
}

func blockCall(_ t: HypercallTable, _ mem: GuestMemory, write: Bool, handle: UInt64 = 1,
               offset: UInt64, data: UInt64, len: UInt64) throws -> Int32 {
    try mem.store(hvt_hc_block(handle: handle, offset: offset, data: data, len: len, ret: -1), at: argAt)
    try t.handler(for: write ? 4 : 5)!(argAt)
    return try mem.load(hvt_hc_block.self, at: argAt).ret
}

@Test func blockRoundTrip() throws {
    let path = tempImage(size: 1 << 20)
    defer { unlink(path) }
    let mem = try makeGuest()
    let t = try blockTable(mem, path: path)
    let pattern = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
    try mem.write(pattern, at: GuestAddress(0x300000))
    #expect(try blockCall(t, mem, write: true, offset: 8192, data: 0x300000, len: 4096) == 0)
    #expect(try blockCall(t, mem, write: false, offset: 8192, data: 0x310000, len: 4096) == 0)
    #expect(try mem.read(at: GuestAddress(0x310000), count: 4096) == pattern)
    // Handle truncation: 0x1_0000_0001 is handle 1 (spec §15.6).
    #expect(try blockCall(t, mem, write: false, handle: 0x1_0000_0001, offset: 0, data: 0x310000, len: 512) == 0)
    // Misaligned requests are the guest's business; the monitor serves them.
    #expect(try blockCall(t, mem, write: false, offset: 100, data: 0x310000, len: 3) == 0)
}

@Test(arguments: [
    (UInt64(1), UInt64(1 << 20), UInt64(512)),       // offset == capacity
    (1, (1 << 20) - 256, 512),                        // crosses the end
    (1, UInt64.max - 100, 512),                       // offset + len wraps
    (1, 0, UInt64(1) << 63),                          // len > SSIZE_MAX
    (0, 0, 512),                                      // handle 0 (reserved)
    (2, 0, 512),                                      // unknown handle
] as [(UInt64, UInt64, UInt64)])
func blockInvalidRequests(_ handle: UInt64, _ offset: UInt64, _ len: UInt64) throws {
    let path = tempImage(size: 1 << 20)
    defer { unlink(path) }
    let mem = try makeGuest()
    let t = try blockTable(mem, path: path)
    #expect(try blockCall(t, mem, write: false, handle: handle, offset: offset, data: 0x300000, len: len) == 2)
    #expect(try blockCall(t, mem, write: true, handle: handle, offset: offset, data: 0x300000, len: len) == 2)
}

@Test func blockBufferOutsideMemoryIsAFault() throws {
    let path = tempImage(size: 1 << 20)
    defer { unlink(path) }
    let mem = try makeGuest()
    let t = try blockTable(mem, path: path)
    // NET_READ into the monitor-only low tables is allowed by the ABI (they are guest RAM);
    // but a buffer past the end of memory is fatal.
    #expect(throws: HypercallFault.self) { _ = try blockCall(t, mem, write: false, offset: 0, data: memSize - 256, len: 512) }
    #expect(throws: HypercallFault.self) { _ = try blockCall(t, mem, write: true, offset: 0, data: UInt64.max - 10, len: 512) }
}

@Test func blockConfigurationErrors() {
    let odd = tempImage(size: 6 * 1024)
    defer { unlink(odd) }
    #expect(throws: DeviceError.notBlockAligned(name: "s", blockSize: 4096)) { try BlockBackend(name: "s", path: odd, blockSize: 4096) }
    let small = tempImage(size: 256)
    defer { unlink(small) }
    #expect(throws: DeviceError.notBlockAligned(name: "s", blockSize: 512)) { try BlockBackend(name: "s", path: small, blockSize: 512) }
    let empty = tempImage(size: 0)
    defer { unlink(empty) }
    #expect(throws: DeviceError.tooSmall(name: "s", blockSize: 512)) { try BlockBackend(name: "s", path: empty, blockSize: 512) }
    #expect(throws: DeviceError.self) { try BlockBackend(name: "s", path: "/nonexistent/x.img", blockSize: 512) }
    #expect(throws: DeviceError.cannotOpenBlock(path: "/tmp", error: "Is a directory")) { try BlockBackend(name: "s", path: "/tmp", blockSize: 512) }
}

@Test func deviceNamesAgainstManifest() throws {
    let m = Manifest(devices: [(name: "storage", type: .blockBasic), (name: "net0", type: .netBasic)])
    var o = RunOptions(kernel: "k")
    o.blocks = [.init(name: "other", value: "/x")]
    #expect(throws: DeviceError.notDeclared("other")) { try ModuleSet.checkNames(o, against: m) }
    o.blocks = [.init(name: "net0", value: "/x")]
    #expect(throws: DeviceError.notDeclared("net0")) { try ModuleSet.checkNames(o, against: m) }
    o.blocks = [.init(name: "storage", value: "/x"), .init(name: "storage", value: "/y")]
    #expect(throws: DeviceError.duplicate("storage")) { try ModuleSet.checkNames(o, against: m) }
    o.blocks = []
    do {
        _ = try ModuleSet(setup: ModuleSetup(options: o, manifest: m))
        Issue.record("unattached devices accepted")
    } catch {
        #expect(error.message == """
            Device 'storage' of type BLOCK_BASIC declared but not attached.
            Device 'net0' of type NET_BASIC declared but not attached.
            All declared devices must be attached. See --help for syntax.
            """)
    }
}

// MARK: Block ring (Skiff extension)

func ringTable(_ mem: GuestMemory, path: String, blockSize: UInt64 = 512) throws -> HypercallTable {
    var t = HypercallTable()
    let dev = try BlockBackend(name: "storage", path: path, blockSize: blockSize)
    registerBlockRingHypercall(&t, memory: mem, devices: [nil, dev])
    return t
}

let ringAt: UInt64 = 0x280000

func putRing(_ mem: GuestMemory, size: UInt32, head: UInt32, tail: UInt32) throws {
    try mem.store((size, head, tail, UInt32(0)), at: GuestAddress(ringAt))
}

func putEntry(_ mem: GuestMemory, slot: UInt64, _ e: skiff_block_ring_entry) throws {
    try mem.store(e, at: GuestAddress(ringAt + 16 + 40 * slot))
}

func entryRet(_ mem: GuestMemory, slot: UInt64) throws -> Int32 {
    try mem.load(skiff_block_ring_entry.self, at: GuestAddress(ringAt + 16 + 40 * slot)).ret
}

func kick(_ t: HypercallTable, _ mem: GuestMemory) throws -> skiff_hc_block_ring {
    try mem.store(skiff_hc_block_ring(ring: ringAt, served: 99, ret: -1), at: argAt)
    try t.handler(for: 9)!(argAt)
    return try mem.load(skiff_hc_block_ring.self, at: argAt)
}

func entry(_ op: UInt32, handle: UInt32 = 1, offset: UInt64, data: UInt64, len: UInt64) -> skiff_block_ring_entry {
    skiff_block_ring_entry(op: op, handle: handle, offset: offset, data: data, len: len, ret: -1, reserved: 0)
}

@Test func blockRingServesABatch() throws {
    let path = tempImage(size: 1 << 20)
    defer { unlink(path) }
    let mem = try makeGuest()
    let t = try ringTable(mem, path: path)
    let pattern = (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
    try mem.write(pattern, at: GuestAddress(0x300000))
    // Free-running indices that wrap the 32-bit counter: tail 0xffff_fffe, head 0x0000_0004 (6 entries).
    try putRing(mem, size: 8, head: 4, tail: 0xffff_fffe)
    try putEntry(mem, slot: 6, entry(2, offset: 4096, data: 0x300000, len: 8192))        // write 16 blocks
    try putEntry(mem, slot: 7, entry(3, offset: 0, data: 0, len: 0))                      // flush
    try putEntry(mem, slot: 0, entry(1, offset: 4096, data: 0x320000, len: 8192))        // read back
    try putEntry(mem, slot: 1, entry(1, offset: 100, data: 0x320000, len: 512))          // misaligned
    try putEntry(mem, slot: 2, entry(1, offset: (1 << 20) - 512, data: 0x320000, len: 1024))  // past the end
    try putEntry(mem, slot: 3, entry(1, handle: 0, offset: 0, data: 0x320000, len: 512)) // reserved handle
    let r = try kick(t, mem)
    #expect(r.ret == 0 && r.served == 6)
    #expect(try [6, 7, 0, 1, 2, 3].map { try entryRet(mem, slot: $0) } == [0, 0, 0, 2, 2, 2])
    #expect(try mem.read(at: GuestAddress(0x320000), count: 8192) == pattern)
    #expect(try mem.load(UInt32.self, at: GuestAddress(ringAt + 8)) == 4)   // tail caught up with head
    // Nothing pending: a second kick serves nothing.
    #expect(try kick(t, mem).served == 0)
}

@Test(arguments: [(UInt32(3), UInt32(0), UInt32(0)), (0, 0, 0), (2048, 0, 0), (8, 9, 0)] as [(UInt32, UInt32, UInt32)])
func blockRingMalformedHeader(_ size: UInt32, _ head: UInt32, _ tail: UInt32) throws {
    let path = tempImage(size: 1 << 20)
    defer { unlink(path) }
    let mem = try makeGuest()
    let t = try ringTable(mem, path: path)
    try putRing(mem, size: size, head: head, tail: tail)
    let r = try kick(t, mem)
    #expect(r.ret == 2 && r.served == 0)
}

@Test func blockRingOutsideMemoryIsAFault() throws {
    let path = tempImage(size: 1 << 20)
    defer { unlink(path) }
    let mem = try makeGuest()
    let t = try ringTable(mem, path: path)
    // An entry whose buffer is past the end of guest memory.
    try putRing(mem, size: 4, head: 1, tail: 0)
    try putEntry(mem, slot: 0, entry(1, offset: 0, data: memSize - 256, len: 512))
    #expect(throws: HypercallFault.self) { _ = try kick(t, mem) }
    // A ring whose entries would run past the end of memory.
    try mem.store(skiff_hc_block_ring(ring: memSize - 64, served: 0, ret: 0), at: argAt)
    try mem.store((UInt32(1024), UInt32(1), UInt32(0), UInt32(0)), at: GuestAddress(memSize - 64))
    #expect(throws: HypercallFault.self) { try t.handler(for: 9)!(argAt) }
}

// MARK: Modules

/// A module that records what the run tells it.
final class RecordingModule: MonitorModule, @unchecked Sendable {
    var faults: [GuestFault] = []
    var finished = 0
    func attach(table: inout HypercallTable, host: any ModuleHost, setup: ModuleSetup) -> ModuleAttachment { ModuleAttachment() }
    func guestFaulted(_ fault: GuestFault) { faults.append(fault) }
    func finish() -> HypercallFault? { finished += 1; return .hostIO("flush failed") }
}

@Test func moduleSetForwardsFaultsAndFinishesOnce() throws {
    let recorder = RecordingModule()
    let d = ModuleDescriptor(name: "rec", usage: "", parseOption: { _, _ in false }, make: { _ in recorder })
    let set = try ModuleSet(setup: ModuleSetup(options: RunOptions(kernel: "k"), manifest: Manifest(devices: [])),
                            descriptors: [d])
    let f = GuestFault(kind: .shutdown, message: "x")
    set.guestFaulted(f)
    #expect(recorder.faults == [f])
    #expect(set.finish() == .hostIO("flush failed"))
    #expect(set.finish() == nil && recorder.finished == 1)
    #expect(set.finishError == .hostIO("flush failed"))
}
