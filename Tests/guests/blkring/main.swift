// main.swift: block ring conformance guest: write a pattern over the whole device in batches,
// flush, read it back in batches, verify; then check that bad requests are refused.
// Prints `SUCCESS accelerated=<bool> requests=<n>`.
import Skiff

func pattern(_ offset: Int) -> UInt8 { UInt8(truncatingIfNeeded: (offset >> 9) &* 7 &+ (offset & 511)) }

@main struct App {
    static func main() {
        do {
            let disk = try BlockDevice(name: "storage")
            let chunk = 65536
            let total = Int(disk.capacity)
            let batch = BlockBatch(capacity: 16)
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * chunk, alignment: 64)
            var requests = 0
            var off = 0
            while off < total {  // write
                var k = 0
                while k < 16 && off < total {
                    let len = min(chunk, total - off)
                    let slice = UnsafeMutableRawBufferPointer(rebasing: buf[(k * chunk)..<(k * chunk + len)])
                    for i in 0..<len { slice[i] = pattern(off + i) }
                    try batch.write(disk, at: UInt64(off), from: UnsafeRawBufferPointer(slice))
                    off += len; k += 1; requests += 1
                }
                try batch.submit()
            }
            try batch.flush(disk)
            try batch.submit()
            off = 0
            while off < total {  // read back and verify
                let start = off
                var k = 0
                while k < 16 && off < total {
                    let len = min(chunk, total - off)
                    for i in 0..<len { buf[k * chunk + i] = 0 }
                    try batch.read(disk, at: UInt64(off), into: UnsafeMutableRawBufferPointer(rebasing: buf[(k * chunk)..<(k * chunk + len)]))
                    off += len; k += 1; requests += 1
                }
                try batch.submit()
                for i in 0..<(off - start) where buf[i] != pattern(start + i) {
                    print("FAIL: byte \(start + i) is \(buf[i]), expected \(pattern(start + i))")
                    Skiff.exit(1)
                }
            }
            // Bad requests are refused before they reach the monitor.
            let one = UnsafeMutableRawBufferPointer(rebasing: buf[0..<Int(disk.blockSize)])
            for (o, why) in [(UInt64(1), "misaligned"), (disk.capacity, "at capacity")] {
                do {
                    try batch.read(disk, at: o, into: one)
                    print("FAIL: \(why) request accepted")
                    Skiff.exit(1)
                } catch { }
            }
            print("SUCCESS accelerated=\(BlockBatch.isAccelerated) requests=\(requests)")
        } catch {
            print("FAIL: \(error)")
            Skiff.exit(1)
        }
    }
}
