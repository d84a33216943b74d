// main.swift (Tests/guests/blk): Solo5 test_blk: block I/O through the checked and the raw API.
//
// 1. Every 10th block and the last one: write a pattern, read it back, compare.
//    Block i holds i (8 bytes, little-endian) then bytes (i + j) & 0xff, so
//    the e2e test can check the image from the host afterwards.
// 2. The checked API (`read`/`write`) refuses what Solo5's bindings refuse:
//    offset at capacity, size ±1, misaligned offset → SkiffError.invalid.
// 3. The raw API goes straight to the monitor: out-of-range requests come
//    back EINVAL from the monitor (→ .invalid); a misaligned, odd-sized
//    request inside the device succeeds (the monitor checks ranges only).

import Skiff

func pattern(_ block: UInt64, _ buf: UnsafeMutableRawBufferPointer) {
    for j in 0..<buf.count { buf[j] = UInt8(truncatingIfNeeded: block &+ UInt64(j)) }
    buf.storeBytes(of: block.littleEndian, toByteOffset: 0, as: UInt64.self)
}

func same(_ a: UnsafeMutableRawBufferPointer, _ b: UnsafeMutableRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    for i in 0..<a.count where a[i] != b[i] { return false }
    return true
}

@main
struct App {
    static func main() {
        var ok = true
        func fail(_ s: String) { print("FAILURE: " + s); ok = false }

        let disk: BlockDevice
        do { disk = try BlockDevice(name: "storage") } catch {
            print("FAILURE: no block device 'storage': \(error)")
            Skiff.exit(1)
        }
        let bs = disk.blockSize
        let blocks = disk.capacity / bs
        print("blk: capacity \(disk.capacity) bytes, block size \(bs), \(blocks) blocks")
        let wbuf = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(bs) * 2, alignment: 16)
        let rbuf = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(bs) * 2, alignment: 16)
        let w = UnsafeMutableRawBufferPointer(rebasing: wbuf[0..<Int(bs)])
        let r = UnsafeMutableRawBufferPointer(rebasing: rbuf[0..<Int(bs)])

        var checked = 0
        var block: UInt64 = 0
        while block < blocks {
            pattern(block, w)
            do {
                try disk.write(at: block * bs, from: UnsafeRawBufferPointer(w))
                for i in 0..<r.count { r[i] = 0 }
                try disk.read(at: block * bs, into: r)
            } catch { fail("block \(block): \(error)"); break }
            if !same(w, r) { fail("block \(block) read back different data"); break }
            checked += 1
            block = block + 10 < blocks || block == blocks - 1 ? block + 10 : blocks - 1
        }
        print("blk: \(checked) blocks written and verified (last block included)")

        func expectInvalid(_ what: String, _ body: () throws(SkiffError) -> Void) {
            do {
                try body()
                fail("\(what): accepted")
            } catch {
                if error != .invalid { fail("\(what): \(error) instead of invalid") }
            }
        }
        let twoBlocks = UnsafeMutableRawBufferPointer(rebasing: rbuf[0..<Int(bs) * 2])
        let plusOne = UnsafeMutableRawBufferPointer(rebasing: rbuf[0..<Int(bs) + 1])
        let minusOne = UnsafeMutableRawBufferPointer(rebasing: rbuf[0..<Int(bs) - 1])
        // Checked API (the runtime's own rules).
        expectInvalid("read at capacity") { () throws(SkiffError) in try disk.read(at: disk.capacity, into: r) }
        expectInvalid("write at capacity") { () throws(SkiffError) in try disk.write(at: disk.capacity, from: UnsafeRawBufferPointer(w)) }
        expectInvalid("read of size + 1") { () throws(SkiffError) in try disk.read(at: 0, into: plusOne) }
        expectInvalid("read of size - 1") { () throws(SkiffError) in try disk.read(at: 0, into: minusOne) }
        expectInvalid("misaligned read") { () throws(SkiffError) in try disk.read(at: 1, into: r) }
        expectInvalid("read past the end") { () throws(SkiffError) in try disk.read(at: disk.capacity - bs, into: twoBlocks) }
        // Raw API (the monitor's rules, spec 9.4).
        expectInvalid("raw read at capacity") { () throws(SkiffError) in try disk.rawRead(at: disk.capacity, into: r) }
        expectInvalid("raw write at capacity") { () throws(SkiffError) in try disk.rawWrite(at: disk.capacity, from: UnsafeRawBufferPointer(w)) }
        expectInvalid("raw read past the end") { () throws(SkiffError) in try disk.rawRead(at: disk.capacity - bs, into: twoBlocks) }
        expectInvalid("raw read far past the end") { () throws(SkiffError) in try disk.rawRead(at: UInt64.max - bs, into: r) }
        do {
            pattern(0, w)
            try disk.rawRead(at: 1, into: minusOne)   // misaligned and odd-sized, inside block 0
            for i in 0..<minusOne.count where minusOne[i] != w[i + 1] {
                fail("misaligned raw read: wrong byte at \(i + 1)")
                break
            }
        } catch {
            fail("misaligned raw read refused (\(error)); the monitor checks ranges only")
        }
        print(ok ? "SUCCESS" : "FAILURE")
        if !ok { Skiff.exit(1) }
    }
}
