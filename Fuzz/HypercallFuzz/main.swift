// HypercallFuzz/main.swift: libFuzzer target for the hypercall handlers and the run loop, with hostile guest addresses.
//
// The HypercallFuzz target of Fuzz/Package.swift; scripts/fuzz builds it with -sanitize=fuzzer,address.
//
// Two 4 MiB guests are made once:
//   A: all 4 MiB usable;
//   B: the top 1 MiB reserved (as for the net ring, spec §5.2) and mapped
//      PROT_NONE, so a handler that checks against the allocation instead of
//      the usable size faults.
// Both get PROT_NONE guard pages around the mapping (ASan cannot see mmap'd
// memory). Handlers: core (console = an unlinked temp file, POLL over a
// socketpair that always has a byte pending, as handle 1), block (handles 1 and
// 2: 64 KiB unlinked temp files with 512- and 4096-byte sectors; 0 and 3 empty)
// and the block ring (hypercall 9, docs/block-ring.md) over them, net (handles
// 3 = /dev/null: writes succeed, reads find nothing; 4 = /dev/zero: reads fill
// the buffer; 0-2 are EINVAL, 1 and 2 being block devices: handles are typed).
//
// Input: the whole input is copied into guest memory at `inputBase` (so
// argument blocks can point into fuzzer-controlled bytes), then read as up to 8
// records of 32 bytes:
//
//   0  nr         hypercall number % 12 (0, 10, 11 unregistered; 8 = HALT via
//                 the run loop; 9 = block ring); >= 0xF0: a synthetic non-hypercall exit
//   1  argMode    how the argument address is formed (see `address`)
//   2  dataMode   same, for the data pointer written into the block
//   3  flags      bit 0 patch data, 1 patch len, 2 guest B, 3 patch offset,
//                 4 dispatch through RunLoop, 5 patch handle := bits 6-7
//                 (NET: bits 6-7 + 1); block ring: bit 0 builds a ring at the
//                 data address (size, indices, entries shaped by lenParam,
//                 offParam and dataParam, see `buildRing`), bit 1 points `ring` at it
//   4  argParam   u64
//  12  dataParam  u64
//  20  lenParam   u32 (top 4 bits pick a length shape, see `length`)
//  24  offParam   u64 (block offset)
//
// Each call's outcome is checked against spec §8–9: a fault exactly when a
// guest range fails the strict bounds check, otherwise the `ret` value the
// spec prescribes. POLL's timeout field is forced to 0 before every POLL.
// A trap, a sanitizer report, a host I/O error, or a wrong outcome is a bug.

import Glibc
import CSkiffABI
import FuzzSupport
import SkiffCore
import SkiffModules

let memSize: UInt64 = 4 << 20
let ringReserve: UInt64 = 1 << 20
let inputBase: UInt64 = 0x200000
let haltArg: UInt64 = 0x180000
let recordSize = 32
let maxRecords = 8
let blockCapacity: UInt64 = 64 << 10
let blockSectors: [UInt64] = [512, 4096]
/// Handle of the socketpair end POLL watches; it always has input pending.
let pollHandle = 1

/// An unlinked temporary file (in /dev/shm when there is one), opened read-write.
func scratchFile(size: UInt64) -> (fd: Int32, path: String) {
    let dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
    var template = Array("\(dir)/skiff-fuzz-XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    precondition(fd >= 0, "mkstemp failed")
    precondition(ftruncate(fd, off_t(size)) == 0, "ftruncate failed")
    return (fd, template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
}

final class Guest {
    let memory: GuestMemory
    var table = HypercallTable()
    init(reserveTop: UInt64, harness h: Harness) {
        memory = try! GuestMemory(size: memSize)
        addGuardPages(around: memory)
        if reserveTop > 0 {
            memory.reserveTop(reserveTop)
            precondition(memory.protect(at: GuestAddress(memory.usableSize), count: reserveTop,
                                        writable: false, readable: false))
        }
        CoreModule.registerHypercalls(&table, memory: memory, console: h.console, pollFDs: [(handle: pollHandle, fd: h.pollFD)])
        BlockModule.registerHypercalls(&table, memory: memory, devices: h.blocks)
        registerBlockRingHypercall(&table, memory: memory, devices: h.blocks)
        NetModule.registerHypercalls(&table, memory: memory, devices: h.nets)
    }
}

final class Harness: @unchecked Sendable {
    let console: Int32
    let pollFD: Int32
    let blocks: [BlockBackend?]
    let nets: [NetBackend?]
    var guests: [Guest] = []

    init() {
        console = scratchFile(size: 0).fd
        var sp: [Int32] = [-1, -1]
        precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &sp) == 0)
        var byte: UInt8 = 0x2a
        precondition(write(sp[1], &byte, 1) == 1)
        pollFD = sp[0]
        var bs: [BlockBackend?] = [nil]
        for (i, sector) in blockSectors.enumerated() {
            let f = scratchFile(size: blockCapacity)
            close(f.fd)
            bs.append(try! BlockBackend(name: "storage\(i)", path: f.path, blockSize: sector))
            unlink(f.path)
        }
        bs.append(nil)
        blocks = bs
        nets = [nil, nil, nil, NetBackend(name: "null", fd: open("/dev/null", O_RDWR)),
                NetBackend(name: "zero", fd: open("/dev/zero", O_RDWR))]
        precondition(nets[3]!.fd >= 0 && nets[4]!.fd >= 0)
        guests = [Guest(reserveTop: 0, harness: self), Guest(reserveTop: ringReserve, harness: self)]
    }
}

let harness = Harness()

/// A vCPU replaying a fixed list of exits.
final class ScriptedVCPU: VirtualCPU {
    var exits: [VCPUExit]
    init(_ exits: [VCPUExit]) { self.exits = exits }
    func run() throws(BackendError) -> VCPUExit {
        guard !exits.isEmpty else { throw BackendError("script exhausted") }
        return exits.removeFirst()
    }
    func programCounter() -> UInt64 { 0x100123 }
    let programCounterName = "rip"
}

struct Record {
    var nr, argMode, dataMode, flags: UInt8
    var argParam, dataParam, offParam: UInt64
    var lenParam: UInt32
    init(_ b: UnsafeRawBufferPointer, at o: Int) {
        nr = le(UInt8.self, b, o); argMode = le(UInt8.self, b, o + 1)
        dataMode = le(UInt8.self, b, o + 2); flags = le(UInt8.self, b, o + 3)
        argParam = le(UInt64.self, b, o + 4); dataParam = le(UInt64.self, b, o + 12)
        lenParam = le(UInt32.self, b, o + 20); offParam = le(UInt64.self, b, o + 24)
    }
    func flag(_ bit: Int) -> Bool { flags & (1 << bit) != 0 }
}

/// A guest address shaped by `mode`: inside the input copy, raw, near the end
/// of usable memory, near 0, near 2^32, near 2^64 (wrapping), 2^32 above the
/// input copy (aliases it if anything truncates to 32 bits), or near the end
/// of the allocation (inside the reserved top on guest B).
func address(_ mode: UInt8, _ p: UInt64, _ m: GuestMemory) -> UInt64 {
    let k = p % 4096
    switch mode % 8 {
    case 0: return inputBase + k
    case 1: return p
    case 2: return m.usableSize &- k
    case 3: return k
    case 4: return 0xFFFF_FFFF &- k
    case 5: return UInt64.max &- k
    case 6: return (1 << 32) &+ inputBase &+ k
    default: return m.allocationSize &- k
    }
}

/// A length shaped by the top 4 bits of `p`; some shapes end right around the end of usable memory.
func length(_ p: UInt32, data: UInt64, _ m: GuestMemory) -> UInt64 {
    let v = UInt64(p & 0x0fff_ffff)
    switch p >> 28 {
    case 0...3: return v % 8192
    case 4: return m.usableSize &- data &+ (v % 8) &- 4
    case 5: return UInt64.max &- (v % 4096)
    case 6: return (1 << 63) &+ v
    case 7: return v
    case 8: return blockCapacity &- (v % 1024) &+ 8
    default: return v % 70000
    }
}

/// The spec §8 bounds check, written out independently of `GuestMemory.check`.
func inRange(_ m: GuestMemory, _ a: UInt64, _ n: UInt64) -> Bool {
    let (end, o) = a.addingReportingOverflow(n)
    return a < m.usableSize && !o && end < m.usableSize
}

func field<T: FixedWidthInteger & BitwiseCopyable>(_ m: GuestMemory, _ arg: UInt64, _ off: UInt64, _: T.Type = T.self) -> T {
    try! m.load(T.self, at: GuestAddress(arg + off))
}

/// What a call must do, per spec §9.
enum Outcome: Equatable {
    case fault
    case done
    case unregistered
}

/// Ranges written during one input, wiped before the next so inputs run from the same state.
nonisolated(unsafe) var dirty: [(Guest, UInt64, UInt64)] = []

func wipe(_ g: Guest, _ a: UInt64, _ n: UInt64) {
    let u = g.memory.usableSize
    guard a < u, n > 0 else { return }
    try! g.memory.zero(at: GuestAddress(a), count: min(n, u - a))
}

func consoleSize() -> Int {
    var st = stat()
    precondition(fstat(harness.console, &st) == 0)
    return Int(st.st_size)
}

func argSize(_ nr: UInt32) -> UInt64 {
    switch nr {
    case 1: return 8
    case 2: return 16
    case 3: return 24
    case 4, 5: return 40
    case 6, 7: return 32
    case 8: return 16
    case 9: return 16
    default: return 0
    }
}

/// Patches the argument block (checked stores; a field outside memory is left alone) and forces POLL's timeout to 0.
func patch(_ r: Record, _ nr: UInt32, _ arg: UInt64, _ m: GuestMemory) {
    func put(_ v: UInt64, _ off: UInt64) { try? m.store(v, at: GuestAddress(arg &+ off)) }
    let data = address(r.dataMode, r.dataParam, m)
    let len = length(r.lenParam, data: data, m)
    let off = r.offParam & (1 << 63) != 0 ? r.offParam : r.offParam % 0x11000
    let handle = UInt64(r.flags >> 6)
    switch nr {
    case 2:
        if r.flag(0) { put(data, 0) }
        if r.flag(1) { put(len, 8) }
    case 3:
        put(0, 0)
    case 4, 5:
        if r.flag(5) { put(handle, 0) }
        if r.flag(3) { put(off, 8) }
        if r.flag(0) { put(data, 16) }
        if r.flag(1) { put(len, 24) }
    case 6, 7:
        if r.flag(5) { put(handle + 1, 0) }
        if r.flag(0) { put(data, 8) }
        if r.flag(1) { put(len, 16) }
    case 8:
        if r.flag(0) { put(data, 0) }   // cookie
    case 9:
        if r.flag(0) { buildRing(r, at: data, m) }
        if r.flag(1) { put(data, 0) }
    default:
        break
    }
    // POLL must never block, whatever the argument block overlaps.
    if nr == 3 { precondition(!inRange(m, arg, 8) || field(m, arg, 0, UInt64.self) == 0) }
}

/// Writes a block ring at `at` (checked stores; whatever falls outside memory is left alone): size
/// 1, 2, 4 or 8 (sometimes 3 or 2048: malformed), tail from offParam (near 2^32 to wrap), head = tail +
/// 0...size+1 (one more than allowed), entries shaped by the bytes of dataParam: op READ, WRITE, FLUSH or
/// unknown; handle 0-3; offsets and lengths in sectors (sometimes unaligned, zero, or past the device);
/// buffers in the input copy, near the end of usable memory, or on the ring itself (self-rewriting rings).
func buildRing(_ r: Record, at ring: UInt64, _ m: GuestMemory) {
    func put32(_ v: UInt32, _ a: UInt64) { try? m.store(v, at: GuestAddress(a)) }
    func put64(_ v: UInt64, _ a: UInt64) { try? m.store(v, at: GuestAddress(a)) }
    let sizes: [UInt32] = [1, 2, 4, 8, 1, 2, 3, 2048]
    let size = sizes[Int(r.lenParam & 7)]
    let tail = r.offParam & 1 != 0 ? UInt32.max &- UInt32(r.offParam >> 1 & 3) : UInt32(truncatingIfNeeded: r.offParam >> 8)
    let pending = UInt32(r.lenParam >> 3 & 15) % (min(size, 8) + 2)
    put32(size, ring); put32(tail &+ pending, ring &+ 4); put32(tail, ring &+ 8); put32(0, ring &+ 12)
    dirty.append((harness.guests[r.flag(2) ? 1 : 0], ring, 16 + 8 * 40))
    for i in 0..<min(size, 8) {
        let b = UInt8(truncatingIfNeeded: r.dataParam >> (8 * UInt64(i)))
        let slot = size <= 8 && size & (size - 1) == 0 ? (tail &+ i) & (size - 1) : i
        let e = ring &+ 16 &+ 40 &* UInt64(slot)
        let op: UInt32 = [1, 2, 2, 1, 3, 1, 2, 9][Int(b & 7)]
        let handle = UInt32(b >> 3 & 3)
        let sector: UInt64 = 4096
        var len = UInt64(b >> 5 & 3 + 1) * sector
        var off = (UInt64(b >> 5) * sector) % blockCapacity
        if b & 0x18 == 0x18 { len = [0, 513, blockCapacity, 5 << 20][Int(b >> 6)] }
        if r.argParam >> (8 * UInt64(i)) & 0x3f == 1 { off = blockCapacity - sector / 2 }
        let data: UInt64
        switch r.argParam >> (8 * UInt64(i) + 6) & 3 {
        case 0, 1: data = inputBase + 0x1000 * UInt64(i)
        case 2: data = m.usableSize &- len &- UInt64(b & 1) * 4096
        default: data = ring &+ UInt64(b & 0x3f)
        }
        put32(op, e); put32(handle, e &+ 4); put64(off, e &+ 8); put64(data, e &+ 16); put64(len, e &+ 24)
        put32(7, e &+ 32)
        if op == 1 { dirty.append((harness.guests[r.flag(2) ? 1 : 0], data, len)) }
    }
}

/// Reads a block device's bytes.
func deviceBytes(_ dev: BlockBackend, _ off: UInt64, _ n: Int) -> [UInt8] {
    var b = [UInt8](repeating: 0, count: n)
    let got = b.withUnsafeMutableBytes { pread(dev.fd, $0.baseAddress, n, off_t(off)) }
    precondition(got == n)
    return b
}

/// Computes the expected outcome before the call and checks the guest state after it.
struct Oracle {
    var outcome: Outcome = .done
    var check: () -> Void = {}
    /// Guest bytes the call may write besides its argument block.
    var writes: (UInt64, UInt64)? = nil
    /// A block call expected to move bytes (for FUZZ_STATS).
    var transfer = false
    /// A block ring that rewrites itself while served: a fault is allowed (a rewritten entry may point
    /// outside memory), `done` is not checked further.
    var selfModifying = false
}

func oracle(_ nr: UInt32, _ arg: UInt64, _ g: Guest, viaRunLoop: Bool) -> Oracle {
    let m = g.memory
    var o = Oracle()
    guard (1...7).contains(nr) || nr == 9 || (nr == 8 && viaRunLoop) else { o.outcome = .unregistered; return o }
    guard inRange(m, arg, argSize(nr)) else { o.outcome = .fault; return o }
    switch nr {
    case 1:
        var t0 = timespec()
        clock_gettime(CLOCK_REALTIME, &t0)
        let before = UInt64(t0.tv_sec) * 1_000_000_000 + UInt64(t0.tv_nsec)
        o.check = {
            var t1 = timespec()
            clock_gettime(CLOCK_REALTIME, &t1)
            let after = UInt64(t1.tv_sec) * 1_000_000_000 + UInt64(t1.tv_nsec)
            let ns: UInt64 = field(m, arg, 0)
            invariant(ns >= before && ns <= after, "WALLTIME \(ns) not in [\(before), \(after)]")
        }
    case 2:
        let data: UInt64 = field(m, arg, 0), len: UInt64 = field(m, arg, 8)
        guard inRange(m, data, len) else { o.outcome = .fault; return o }
        let size0 = consoleSize()
        o.check = { invariant(consoleSize() == size0 + Int(len), "PUTS of \(len) bytes wrote \(consoleSize() - size0)") }
    case 3:
        o.check = {
            let ready: UInt64 = field(m, arg, 8), ret: Int32 = field(m, arg, 16)
            invariant(ready == 1 << UInt64(pollHandle) && ret == 1, "POLL ready_set \(hex(ready)) ret \(ret)")
        }
    case 4, 5:
        let handle: UInt64 = field(m, arg, 0), off: UInt64 = field(m, arg, 8)
        let data: UInt64 = field(m, arg, 16), len: UInt64 = field(m, arg, 24)
        let h = Int(UInt32(truncatingIfNeeded: handle))   // spec §9: truncated to 32 bits
        let dev = h < harness.blocks.count ? harness.blocks[h] : nil
        let (end, ovf) = off.addingReportingOverflow(len)
        let valid = dev != nil && len <= UInt64(Int.max) && off < blockCapacity && !ovf && end <= blockCapacity
        if !valid {
            o.check = { invariant(field(m, arg, 32, Int32.self) == 2, "BLOCK \(nr) h=\(hex(handle)) off=\(off) len=\(len): ret not EINVAL") }
            return o
        }
        guard inRange(m, data, len) else { o.outcome = .fault; return o }
        // The ret store lands after the transfer, so skip the byte check when it overlaps the buffer.
        let overlapsArg = data < arg + 40 && arg < data + len
        o.transfer = true
        o.check = {
            invariant(field(m, arg, 32, Int32.self) == 0, "BLOCK \(nr) h=\(h) off=\(off) len=\(len): ret not OK")
            if !overlapsArg {
                let guest = try! m.read(at: GuestAddress(data), count: Int(len))
                invariant(guest == deviceBytes(dev!, off, Int(len)), "BLOCK \(nr): guest and device bytes differ")
            }
        }
        if nr == 5 { dirty.append((g, data, len)); o.writes = (data, len) }
    case 6, 7:
        let handle: UInt64 = field(m, arg, 0), data: UInt64 = field(m, arg, 8), len: UInt64 = field(m, arg, 16)
        let h = Int(UInt32(truncatingIfNeeded: handle))
        guard h < harness.nets.count, harness.nets[h] != nil else {
            o.check = {
                invariant(field(m, arg, 24, Int32.self) == 2, "NET \(nr) h=\(hex(handle)) with no device: ret not EINVAL")
                invariant(field(m, arg, 16, UInt64.self) == len, "NET \(nr) changed len on EINVAL")
            }
            return o
        }
        guard inRange(m, data, len) else { o.outcome = .fault; return o }
        let zero = h == 4
        let overlapsArg = data < arg + 32 && arg < data + len
        if nr == 6 {
            o.check = { invariant(field(m, arg, 24, Int32.self) == 0, "NET_WRITE h=\(h) len=\(len): ret not OK") }
        } else {
            o.transfer = zero && len > 0
            o.check = {
                let ret: Int32 = field(m, arg, 24), got: UInt64 = field(m, arg, 16)
                if zero && len > 0 {
                    invariant(ret == 0 && got == len, "NET_READ /dev/zero len=\(len): ret \(ret) len \(got)")
                    if !overlapsArg {
                        invariant(try! m.read(at: GuestAddress(data), count: Int(len)).allSatisfy { $0 == 0 }, "NET_READ: not zeroed")
                    }
                } else {
                    invariant(ret == 1 && got == len, "NET_READ h=\(h) len=\(len): ret \(ret) len \(got), want AGAIN")
                }
            }
            dirty.append((g, data, len)); o.writes = (data, len)
        }
    case 9:
        ringOracle(arg, g, &o)
    case 8:
        let cookie: UInt64 = field(m, arg, 0)
        if cookie != 0 && !inRange(m, cookie, UInt64(HVT_HALT_COOKIE_MAX)) { o.outcome = .fault }
    default:
        break
    }
    return o
}

/// The block ring (docs/block-ring.md) modelled independently of BlockRing.swift: the header checks, the
/// whole-ring bounds check, then each entry in order (EINVAL, OK, or a fault that ends the call). A ring
/// whose READs land on the ring or the argument block rewrites itself while served: then only the outcome
/// class is predicted when no entry faults before the first such READ... simply: not predicted exactly.
func ringOracle(_ arg: UInt64, _ g: Guest, _ o: inout Oracle) {
    let m = g.memory
    let ring: UInt64 = field(m, arg, 0)
    o.writes = (ring, 16 + 1024 * 40 + 0x10000)   // the ring, and READs onto it (for the closing HALT's block)
    guard inRange(m, ring, 16) else { o.outcome = .fault; return }
    let size: UInt32 = field(m, ring, 0), head: UInt32 = field(m, ring, 4), tail: UInt32 = field(m, ring, 8)
    let pending = head &- tail
    guard size >= 1, size <= 1024, size & (size - 1) == 0, pending <= size else {
        o.check = {
            invariant(field(m, arg, 12, Int32.self) == 2 && field(m, arg, 8, UInt32.self) == 0, "ring header \(size)/\(head)/\(tail): not EINVAL")
            invariant(field(m, ring, 8, UInt32.self) == tail || (ring < arg + 16 && arg < ring + 16), "ring tail moved on EINVAL")
        }
        return
    }
    let ringBytes = 16 + UInt64(size) * 40
    guard inRange(m, ring, ringBytes) else { o.outcome = .fault; return }
    var rets: [(UInt64, Int32)] = []
    var writes: [(BlockBackend, UInt64, UInt64, UInt64)] = []   // device, offset, data, len
    var reads: [(UInt64, UInt64)] = []
    func overlaps(_ a: UInt64, _ n: UInt64, _ b: UInt64, _ k: UInt64) -> Bool { a < b &+ k && b < a &+ n }
    var index = tail
    while index != head {
        let e = ring + 16 + 40 * UInt64(index & (size - 1))
        let op: UInt32 = field(m, e, 0), h = Int(field(m, e, 4, UInt32.self))
        let off: UInt64 = field(m, e, 8), data: UInt64 = field(m, e, 16), len: UInt64 = field(m, e, 24)
        let dev = h < harness.blocks.count ? harness.blocks[h] : nil
        var ret: Int32 = 2
        if let dev {
            if op == 3 { ret = 0 } else if op == 1 || op == 2 {
                let bs = dev.blockSize
                if len > 0, len <= 4 << 20, len % bs == 0, off % bs == 0, off < dev.capacity, len <= dev.capacity - off {
                    guard inRange(m, data, len) else { o.outcome = .fault; return }
                    ret = 0
                    if op == 1 {
                        // A READ onto the ring, the argument block or a later entry's buffer changes what follows.
                        if overlaps(data, len, ring, ringBytes) || overlaps(data, len, arg, 16) {
                            o.outcome = .done; o.check = {}; o.selfModifying = true; return
                        }
                        reads.append((data, len))
                        dirty.append((g, data, len))
                    } else {
                        writes.append((dev, off, data, len))
                    }
                }
            }
        }
        rets.append((e + 32, ret))
        index &+= 1
    }
    o.transfer = !reads.isEmpty || !writes.isEmpty
    let readsOverlap = reads.count + writes.count > 1
    o.check = {
        invariant(field(m, arg, 12, Int32.self) == 0, "ring: ret not OK")
        invariant(field(m, arg, 8, UInt32.self) == pending, "ring: served \(field(m, arg, 8, UInt32.self)), want \(pending)")
        invariant(overlaps(ring, 16, arg, 16) || field(m, ring, 8, UInt32.self) == head, "ring: tail not advanced to head")
        for (at, want) in rets where !overlaps(at, 4, arg, 16) && !overlaps(at, 4, ring, 16) {
            invariant(field(m, at, 0, Int32.self) == want, "ring entry at \(hex(at)): ret \(field(m, at, 0, Int32.self)), want \(want)")
        }
        if !readsOverlap, let (dev, off, data, len) = writes.first, !overlaps(data, len, ring, ringBytes),
           !overlaps(data, len, arg, 16) {
            invariant(try! m.read(at: GuestAddress(data), count: Int(len)) == deviceBytes(dev, off, Int(len)), "ring WRITE: bytes differ")
        }
    }
}

func failOnHostIO(_ f: HypercallFault) {
    if case .hostIO(let s) = f { fatalError("host I/O error on healthy host files (unchecked range?): \(s)") }
    invariant(!f.message.contains("\n"), "multi-line fault message")
}

func runCall(_ r: Record) {
    let g = harness.guests[r.flag(2) ? 1 : 0]
    let m = g.memory
    let arg = address(r.argMode, r.argParam, m)
    if r.nr >= 0xF0 { count(12, .done); return syntheticExit(r, g) }
    let nr = UInt32(r.nr % 12)
    let viaRunLoop = r.flag(4) || nr == 8
    if viaRunLoop {
        // The HALT that ends the run; the call below may overwrite it (`clobbered`).
        try! m.store(hvt_hc_halt(cookie: 0, exit_status: 0x5a), at: GuestAddress(haltArg))
        dirty.append((g, haltArg, 16))
    }
    patch(r, nr, arg, m)
    dirty.append((g, arg, 48))
    let o = oracle(nr, arg, g, viaRunLoop: viaRunLoop)
    func overlapsHalt(_ a: UInt64, _ n: UInt64) -> Bool {
        let (end, ovf) = a.addingReportingOverflow(n)
        return a < haltArg + 16 && (ovf || end > haltArg)
    }
    let clobbered = nr != 8 && (overlapsHalt(arg, 48) || o.writes.map { overlapsHalt($0.0, $0.1) } ?? false)
    var got: Outcome
    if viaRunLoop {
        var loop = RunLoop(memory: m, vcpu: ScriptedVCPU([.hypercall(number: nr, argument: GuestAddress(arg)),
                                                          .hypercall(number: 8, argument: GuestAddress(haltArg))]),
                           table: g.table)
        var hooked: Int32? = nil
        loop.haltHooks = [{ hooked = $0.exitStatus }]
        do {
            let s = try loop.run()
            got = .done
            invariant(hooked == s.exitStatus, "halt hook saw \(String(describing: hooked)), status \(s.exitStatus)")
            if nr == 8 {
                let status: Int32 = field(m, arg, 8), cookie: UInt64 = field(m, arg, 0)
                invariant(s.exitStatus == status && s.cookie?.rawValue == (cookie == 0 ? nil : cookie), "HALT status/cookie")
            } else if !clobbered {
                invariant(s.exitStatus == 0x5a && s.cookie == nil, "HALT after call: \(s)")
            }
        } catch {
            invariant(hooked == nil, "halt hook ran on a failed run")
            invariant(!error.message.contains("\n"), "multi-line run error")
            switch error {
            case .fault(let f):
                failOnHostIO(f)
                // A call that overwrote the closing HALT's block may make that HALT fault instead.
                got = clobbered && o.outcome == .done ? .done : .fault
            case .invalidHypercall(let n): invariant(n == nr, "invalid hypercall \(n) for \(nr)"); got = .unregistered
            default: fatalError("unexpected run error for hypercall \(nr): \(error.message)")
            }
        }
    } else if let h = g.table.handler(for: nr) {
        do { try h(GuestAddress(arg)); got = .done } catch { failOnHostIO(error); got = .fault }
    } else {
        got = .unregistered
    }
    if o.selfModifying && got == .fault { got = .done }
    invariant(got == o.outcome, "hypercall \(nr) arg \(hex(arg)) on guest \(r.flag(2) ? "B" : "A"): got \(got), spec says \(o.outcome)")
    if got == .done && !clobbered { o.check() }
    count(Int(nr), got)
    if statsEnabled && got == .done && o.transfer { stats[Int(nr)][3] += 1 }
}

/// A non-hypercall exit through the run loop: it must end the run with the
/// matching one-line error (a fault after the fault hooks saw it), never trap;
/// `.interrupted` and `.ignored` resume the vCPU, whose script is then exhausted.
func syntheticExit(_ r: Record, _ g: Guest) {
    let p = r.argParam, q = r.dataParam
    let kinds: [GuestFault.Kind] = [.protection, .unexpectedMMIO, .halted, .shutdown, .entryFailure, .internalError, .unhandled]
    let exits: [VCPUExit] = [
        .invalidPortAccess(port: UInt32(truncatingIfNeeded: p), size: Int(truncatingIfNeeded: q), isWrite: r.flag(0)),
        .invalidMMIOAccess(address: p, length: r.flag(1) ? Int(truncatingIfNeeded: q) : nil, isWrite: r.flag(0)),
        .interrupted, .ignored,
    ] + kinds.map { .fault(GuestFault(kind: $0, message: "fuzz: \($0) exit: reason=\(hex(p))", programCounter: r.flag(1) ? q : nil)) }
    let e = exits[Int(r.nr & 0x0f) % exits.count]
    var loop = RunLoop(memory: g.memory, vcpu: ScriptedVCPU([e]), table: g.table)
    var hooked: [GuestFault] = []
    loop.faultHooks = [{ hooked.append($0) }]
    loop.haltHooks = [{ _ in fatalError("halt hook ran after \(e)") }]
    do {
        _ = try loop.run()
        fatalError("run returned after \(e) with an exhausted script")
    } catch {
        invariant(!error.message.isEmpty && !error.message.contains("\n"), "run error message: \(error.message)")
        let expected: RunError
        switch e {
        case .invalidPortAccess(let port, _, _): expected = .invalidPortAccess(port)
        case .invalidMMIOAccess(let a, let l, _): expected = .invalidMMIOAccess(a, l)
        case .fault(let f): expected = .guest(f)
        default: expected = .backend(BackendError("script exhausted"))
        }
        invariant(error == expected, "\(e) ended the run with \(error), expected \(expected)")
        if case .fault(let f) = e { invariant(hooked == [f], "fault hooks saw \(hooked) for \(f)") } else {
            invariant(hooked.isEmpty, "fault hooks ran after \(e)")
        }
    }
}

/// Outcome counts per hypercall number (12 = synthetic exits), printed at exit
/// when FUZZ_STATS is set: shows which paths a corpus reaches.
nonisolated(unsafe) var stats = [[Int]](repeating: [0, 0, 0, 0], count: 13)
let statsEnabled: Bool = {
    guard getenv("FUZZ_STATS") != nil else { return false }
    atexit {
        for (nr, c) in stats.enumerated() {
            print("hypercall-fuzz stats: nr \(nr == 12 ? "exit" : String(nr)): fault \(c[0]) done \(c[1]) unregistered \(c[2]) (block transfers \(c[3]))")
        }
    }
    return true
}()

func count(_ nr: Int, _ o: Outcome) {
    guard statsEnabled else { return }
    stats[nr][o == .fault ? 0 : o == .done ? 1 : 2] += 1
}

/// The entry SwiftPM links as `main` (see `libFuzzerMain`).
@_cdecl("HypercallFuzz_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    libFuzzerMain(argc, argv, fuzzOne)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let copied = min(size, 1 << 16)
    for g in harness.guests {
        try! g.memory.write(UnsafeRawBufferPointer(rebasing: input[0..<copied]), at: GuestAddress(inputBase))
        dirty.append((g, inputBase, UInt64(copied)))
    }
    precondition(ftruncate(harness.console, 0) == 0 && lseek(harness.console, 0, SEEK_SET) == 0)
    let records = max(1, min(size / recordSize, maxRecords))
    for i in 0..<records { runCall(Record(input, at: i * recordSize)) }
    for (g, a, n) in dirty { wipe(g, a, n) }
    dirty.removeAll(keepingCapacity: true)
    return 0
}
