// ByteQueue.swift: a FIFO of bytes (append at the end, drop from the front) for TCP send and receive buffers.

struct ByteQueue {
    private var storage: [UInt8] = []
    private var head = 0

    var count: Int { storage.count - head }
    var isEmpty: Bool { count == 0 }

    mutating func append(_ bytes: [UInt8], from: Int, to: Int) {
        let lo = max(0, from), hi = min(bytes.count, to)
        guard lo < hi else { return }
        storage.append(contentsOf: bytes[lo..<hi])
    }

    mutating func append(_ bytes: [UInt8]) { storage.append(contentsOf: bytes) }

    /// Drops `n` bytes from the front (all of them if `n >= count`).
    mutating func drop(_ n: Int) {
        head += min(max(0, n), count)
        if head == storage.count {
            storage.removeAll(keepingCapacity: true); head = 0
        } else if head >= 4096 && head * 2 >= storage.count {
            storage.removeFirst(head); head = 0
        }
    }

    /// Copies `n` bytes from `offset` (relative to the front) into `out` at `at`.
    func copy(from offset: Int, count n: Int, into out: inout [UInt8], at: Int) {
        let start = head + offset
        guard offset >= 0, n > 0, start + n <= storage.count, at >= 0, at + n <= out.count else { return }
        storage.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<n { dst[at + i] = src[start + i] }
            }
        }
    }

    /// Removes and returns up to `max` bytes from the front.
    mutating func take(max n: Int) -> [UInt8] {
        let k = min(max(0, n), count)
        let out = Array(storage[head..<(head + k)])
        drop(k)
        return out
    }
}
