// Heap.swift: heap statistics, for tests and diagnostics.

import SkiffRuntime

/// The guest heap: `[end of image, mem_size - 4 KiB)`, managed by the C
/// runtime's allocator (size-class caches plus coalescing bins). Memory
/// freed by Swift (ARC) is reused.
public enum Heap {
    /// Bytes the heap manages.
    public static var capacity: Int { stats().capacity }
    /// Bytes in live allocations (chunk headers included).
    public static var bytesInUse: Int { stats().in_use }
    /// Number of live allocations.
    public static var allocations: Int { stats().allocations }

    private static func stats() -> skiff_heap_stats {
        var s = skiff_heap_stats()
        skiff_heap_get_stats(&s)
        return s
    }
}
