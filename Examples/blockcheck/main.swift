// main.swift: blockcheck, a unikernel that writes a pattern over a whole block device and verifies it.
//
//   skiff build Examples/blockcheck -o blockcheck.hvt
//   truncate -s 4M disk.img
//   skiff run --block:storage=disk.img blockcheck.hvt [SEED]
//
// Pass 1 writes every block, pass 2 reads every block back and compares.
// Block i starts with "SKIFFBLK", then i and SEED as little-endian UInt64s;
// the remaining bytes are (i * 131 + SEED + j) & 0xff for byte j. So a
// fresh SEED proves that pass 2 read what pass 1 wrote, and the image can be
// checked from the host afterwards. Prints SUCCESS, or the first bad block
// and exits 1. Requests are up to 64 KiB (whole blocks; the API allows
// multi-block requests, each one BLOCK_WRITE/BLOCK_READ exit).

import Skiff

let magic = Array("SKIFFBLK".utf8)

/// Reports a failed check the way the tests expect and exits with 1.
func fail(_ message: String) -> Never {
    print("blockcheck: " + message)
    print("FAILURE")
    Skiff.exit(1)
}

func fill(_ buf: UnsafeMutableRawBufferPointer, block: UInt64, blockSize: Int, seed: UInt64) {
    var j = 0
    while j < blockSize {
        buf[j] = UInt8(truncatingIfNeeded: block &* 131 &+ seed &+ UInt64(j))
        j += 1
    }
    for (k, b) in magic.enumerated() { buf[k] = b }
    buf.storeBytes(of: block.littleEndian, toByteOffset: 8, as: UInt64.self)
    buf.storeBytes(of: seed.littleEndian, toByteOffset: 16, as: UInt64.self)
}

@main
struct App {
    static func main() {
        let args = Skiff.arguments
        var seed = Clock.wallNanoseconds() / 1000
        if args.count == 1, let s = UInt64(args[0]) {
            seed = s
        } else if !args.isEmpty {
            print("usage: blockcheck [SEED]")
            Skiff.exit(2)
        }
        let disk: BlockDevice
        do { disk = try BlockDevice(name: "storage") } catch {
            print("blockcheck: no block device 'storage' (\(error))")
            Skiff.exit(1)
        }
        let bs = Int(disk.blockSize)
        let blocks = disk.capacity / disk.blockSize
        let perRequest = max(1, 65536 / bs)
        print("blockcheck: storage: \(blocks) blocks of \(bs) bytes, seed \(seed)")
        let io = UnsafeMutableRawBufferPointer.allocate(byteCount: perRequest * bs, alignment: 4096)
        let expected = UnsafeMutableRawBufferPointer.allocate(byteCount: bs, alignment: 16)

        let t0 = Clock.monotonicNanoseconds()
        var block: UInt64 = 0
        while block < blocks {
            let n = Int(min(UInt64(perRequest), blocks - block))
            for k in 0..<n {
                fill(UnsafeMutableRawBufferPointer(rebasing: io[(k * bs)..<((k + 1) * bs)]),
                     block: block + UInt64(k), blockSize: bs, seed: seed)
            }
            do {
                try disk.write(at: block * disk.blockSize, from: UnsafeRawBufferPointer(rebasing: io[0..<(n * bs)]))
            } catch {
                fail("write at block \(block) failed: \(error)")
            }
            block += UInt64(n)
        }
        print("blockcheck: wrote \(blocks) blocks")

        block = 0
        while block < blocks {
            let n = Int(min(UInt64(perRequest), blocks - block))
            for i in 0..<(n * bs) { io[i] = 0 }
            do {
                try disk.read(at: block * disk.blockSize, into: UnsafeMutableRawBufferPointer(rebasing: io[0..<(n * bs)]))
            } catch {
                fail("read at block \(block) failed: \(error)")
            }
            for k in 0..<n {
                fill(expected, block: block + UInt64(k), blockSize: bs, seed: seed)
                for j in 0..<bs where io[k * bs + j] != expected[j] {
                    fail("block \(block + UInt64(k)) byte \(j): read \(io[k * bs + j]), expected \(expected[j])")
                }
            }
            block += UInt64(n)
        }
        let ms = (Clock.monotonicNanoseconds() - t0) / 1_000_000
        print("blockcheck: verified \(blocks) blocks (\(disk.capacity) bytes) in \(ms) ms")
        print("SUCCESS")
    }
}
