// BlockRing.swift: Skiff's block ring extension: serve every queued block request with one exit (docs/block-ring.md).

import CSkiffABI
import SkiffCore

/// Registers the block-ring hypercall over `devices[handle]`.
///
/// The ring header is copied once; each entry is copied once and checked on
/// the copy (a concurrent guest cannot change what was validated). A
/// malformed header is EINVAL for the whole call; a malformed entry gets
/// EINVAL in its own `ret`; a buffer outside guest memory is fatal, as for
/// BLOCK_READ/BLOCK_WRITE. `stopRequested` is checked between entries: once it is
/// true (a SIGINT/SIGTERM is pending) the call stops with what it served (`tail`,
/// `served`; `ret` = EUNSPEC), so a full ring of 4 MiB requests cannot delay the
/// end of the run; the guest does not run again.
public func registerBlockRingHypercall(_ table: inout HypercallTable, memory: GuestMemory, devices: [BlockBackend?],
                                       stopRequested: @escaping () -> Bool = { false }) {
    let headerSize = UInt64(MemoryLayout<skiff_block_ring>.size)
    let entrySize = UInt64(MemoryLayout<skiff_block_ring_entry>.size)
    try! table.register(.skiffBlockRing) { (arg) throws(HypercallFault) in
        let hc = try memory.argument(skiff_hc_block_ring.self, at: arg)
        let ring = GuestAddress(hc.ring)
        // struct skiff_block_ring's fixed part: size, head, tail, reserved.
        let (size, head, tail, _) = try memory.argument((UInt32, UInt32, UInt32, UInt32).self, at: ring)
        let pending = head &- tail
        guard size >= 1, size <= SKIFF_BLOCK_RING_MAX_SIZE, size & (size - 1) == 0, pending <= size else {
            try memory.result(UInt32(0), at: arg, offset: 8)
            try memory.result(HypercallResult.invalid.rawValue, at: arg, offset: 12)
            return
        }
        // The whole ring must be inside guest memory.
        try memory.checkBuffer(ring, count: headerSize + UInt64(size) * entrySize)
        var index = tail
        while index != head {
            if stopRequested() {
                try memory.result(index, at: ring, offset: 8)
                try memory.result(index &- tail, at: arg, offset: 8)
                try memory.result(HypercallResult.unspecified.rawValue, at: arg, offset: 12)
                return
            }
            let at = GuestAddress(hc.ring + headerSize + UInt64(index & (size - 1)) * entrySize)
            let e = try memory.argument(skiff_block_ring_entry.self, at: at)
            let r = try serveBlockRingEntry(e, memory: memory, devices: devices)
            try memory.result(r.rawValue, at: at, offset: 32)
            index &+= 1
        }
        try memory.result(head, at: ring, offset: 8)
        try memory.result(pending, at: arg, offset: 8)
        try memory.result(HypercallResult.ok.rawValue, at: arg, offset: 12)
    }
}

func serveBlockRingEntry(_ e: skiff_block_ring_entry, memory: GuestMemory,
                         devices: [BlockBackend?]) throws(HypercallFault) -> HypercallResult {
    guard Int(e.handle) < devices.count, let dev = devices[Int(e.handle)] else { return .invalid }
    switch e.op {
    case UInt32(SKIFF_BLOCK_OP_FLUSH.rawValue):
        return fdatasync(dev.fd) == 0 ? .ok : .unspecified
    case UInt32(SKIFF_BLOCK_OP_READ.rawValue), UInt32(SKIFF_BLOCK_OP_WRITE.rawValue):
        let isWrite = e.op == UInt32(SKIFF_BLOCK_OP_WRITE.rawValue)
        let bs = dev.blockSize
        guard e.len > 0, e.len <= UInt64(SKIFF_BLOCK_RING_MAX_LEN), e.len % bs == 0, e.offset % bs == 0,
              e.offset < dev.capacity, e.len <= dev.capacity - e.offset else { return .invalid }
        try dev.transfer(write: isWrite, memory: memory, GuestAddress(e.data), count: e.len, at: e.offset)
        return .ok
    default:
        return .invalid
    }
}
