// BlockBatch.swift: queue many block requests and have them served together (Skiff's block ring).

import SkiffRuntime

/// A batch of block requests served with one hypercall.
///
/// hvt's BLOCK_READ/BLOCK_WRITE cost one VM exit per request. A batch queues
/// up to ``capacity`` reads, writes and flushes, then ``submit()`` hands all
/// of them to the monitor at once through Skiff's block ring extension
/// (docs/block-ring.md). Under a monitor without the extension (upstream
/// solo5-hvt) the same code still works, one hypercall per request.
///
/// ```swift
/// let disk = try BlockDevice(name: "storage")
/// let batch = BlockBatch(capacity: 64)
/// for i in 0..<64 { try batch.read(disk, at: UInt64(i) * 65536, into: buffers[i]) }
/// try batch.submit()
/// ```
///
/// The buffers must stay valid until ``submit()`` returns.
public final class BlockBatch {
    /// Most requests a batch holds (a power of two, at most 1024).
    public let capacity: Int
    /// Largest request, in bytes (4 MiB).
    public static let maxRequestBytes = Int(SKIFF_BLOCK_RING_MAX_LEN)
    // SAFETY: header (16 bytes) + capacity × 40-byte entries, owned by this object.
    private let ring: UnsafeMutableRawPointer

    /// True if the monitor serves a batch with one exit (`SKIFF_FEATURE_BLOCK_RING`).
    public static var isAccelerated: Bool { Platform.offers(SKIFF_CAP_BLOCK_RING) }

    /// A batch of at most `capacity` requests (rounded up to a power of two, 1...1024).
    public init(capacity: Int = 64) {
        var c = 1
        while c < capacity && c < Int(SKIFF_BLOCK_RING_MAX_SIZE) { c <<= 1 }
        self.capacity = c
        let bytes = 16 + 40 * c
        ring = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        ring.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        header.pointee.size = UInt32(c)
    }

    deinit { ring.deallocate() }

    private var header: UnsafeMutablePointer<skiff_block_ring> { ring.assumingMemoryBound(to: skiff_block_ring.self) }

    private func entry(_ index: UInt32) -> UnsafeMutablePointer<skiff_block_ring_entry> {
        (ring + 16 + 40 * Int(index & UInt32(capacity - 1))).assumingMemoryBound(to: skiff_block_ring_entry.self)
    }

    /// Requests queued and not yet submitted.
    public var count: Int { Int(header.pointee.head &- header.pointee.tail) }

    private func enqueue(_ op: UInt32, _ dev: BlockDevice, _ offset: UInt64, _ data: UnsafeRawPointer?, _ len: Int) throws(SkiffError) {
        guard count < capacity else { throw .again }
        if op != UInt32(SKIFF_BLOCK_OP_FLUSH.rawValue) {
            let size = UInt64(len)
            guard len > 0, len <= BlockBatch.maxRequestBytes, offset % dev.blockSize == 0, size % dev.blockSize == 0,
                  offset < dev.capacity, size <= dev.capacity - offset else { throw .invalid }
        }
        let e = entry(header.pointee.head)
        e.pointee = skiff_block_ring_entry(op: op, handle: UInt32(truncatingIfNeeded: dev.handle), offset: offset,
                                           data: UInt64(UInt(bitPattern: data)), len: UInt64(len),
                                           ret: Int32(HVT_R_EUNSPEC.rawValue), reserved: 0)
        header.pointee.head &+= 1
    }

    /// Queues a read of `buffer.count` bytes at `offset` (block-aligned, a multiple of the block size, ≤ 4 MiB).
    /// Throws ``SkiffError/again`` when the batch is full, ``SkiffError/invalid`` for a bad request.
    public func read(_ device: BlockDevice, at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(SkiffError) {
        try enqueue(UInt32(SKIFF_BLOCK_OP_READ.rawValue), device, offset, UnsafeRawPointer(buffer.baseAddress), buffer.count)
    }

    /// Queues a write of `buffer` at `offset` (same rules as ``read(_:at:into:)``).
    public func write(_ device: BlockDevice, at offset: UInt64, from buffer: UnsafeRawBufferPointer) throws(SkiffError) {
        try enqueue(UInt32(SKIFF_BLOCK_OP_WRITE.rawValue), device, offset, buffer.baseAddress, buffer.count)
    }

    /// Queues a flush: every write submitted before it is durable once it completes.
    public func flush(_ device: BlockDevice) throws(SkiffError) {
        try enqueue(UInt32(SKIFF_BLOCK_OP_FLUSH.rawValue), device, 0, nil, 0)
    }

    /// Serves every queued request and returns when all are complete. Throws
    /// the first failure (after every request was attempted); the batch is empty afterwards.
    public func submit() throws(SkiffError) {
        let first = header.pointee.tail, last = header.pointee.head
        guard first != last else { return }
        _ = skiff_block_ring_submit(header)
        var i = first
        var failure: SkiffError? = nil
        while i != last {
            let r = entry(i).pointee.ret
            if r != 0 && failure == nil { failure = SkiffError(result: r) }
            i &+= 1
        }
        header.pointee.tail = last
        if let failure { throw failure }
    }
}
