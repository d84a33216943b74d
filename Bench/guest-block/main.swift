// main.swift: block throughput benchmark guest.
// Arguments: read|write  hc|ring  REQUEST_BYTES  TOTAL_BYTES  [BATCH]
// Sequential I/O from offset 0; prints `ns=<elapsed> bytes=<n> requests=<r>`.
import Skiff

@main struct App {
    static func main() {
        let a = Skiff.arguments
        guard a.count >= 4, let req = Int(a[2]), let total = Int(a[3]) else {
            print("usage: read|write hc|ring REQUEST_BYTES TOTAL_BYTES [BATCH]")
            Skiff.exit(2)
        }
        let write = a[0] == "write", ring = a[1] == "ring"
        let batchSize = a.count > 4 ? Int(a[4]) ?? 16 : 16
        do {
            let disk = try BlockDevice(name: "storage")
            let span = ring ? req * batchSize : req
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: span, alignment: 4096)
            for i in 0..<span { buf[i] = UInt8(truncatingIfNeeded: i) }
            let batch = BlockBatch(capacity: batchSize)
            let limit = min(total, Int(disk.capacity))
            var off = 0, requests = 0
            let t0 = Clock.monotonicNanoseconds()
            while off + req <= limit {
                if ring {
                    var k = 0
                    while k < batchSize && off + req <= limit {
                        let s = UnsafeMutableRawBufferPointer(rebasing: buf[(k * req)..<((k + 1) * req)])
                        if write { try batch.write(disk, at: UInt64(off), from: UnsafeRawBufferPointer(s)) }
                        else { try batch.read(disk, at: UInt64(off), into: s) }
                        off += req; k += 1; requests += 1
                    }
                    try batch.submit()
                } else {
                    if write { try disk.write(at: UInt64(off), from: UnsafeRawBufferPointer(buf)) }
                    else { try disk.read(at: UInt64(off), into: buf) }
                    off += req; requests += 1
                }
            }
            let t1 = Clock.monotonicNanoseconds()
            print("ns=\(t1 - t0) bytes=\(off) requests=\(requests)")
        } catch {
            print("FAIL: \(error)")
            Skiff.exit(1)
        }
    }
}
