// PageTableEntry.swift: x86_64 4-level paging entries (Intel SDM vol. 3, 4.5), the one encoding for the monitor's low tables and the guest's own (SkiffBuild).

import SkiffCore

/// One 8-byte paging-structure entry: a page-aligned physical address and flag bits.
public struct PageTableEntry: Equatable, Sendable {
    /// P: the entry maps something.
    public static let present: UInt64 = 1 << 0
    /// R/W: writes allowed.
    public static let writable: UInt64 = 1 << 1
    /// U/S: user-mode (CPL 3) access allowed.
    public static let user: UInt64 = 1 << 2
    /// PS: in a page directory, a 2 MiB page rather than a page table.
    public static let largePage: UInt64 = 1 << 7
    /// XD: instruction fetches not allowed (needs EFER.NXE).
    public static let noExecute: UInt64 = 1 << 63

    /// Bytes per entry, entries per table (one 4 KiB page).
    public static let size = 8
    public static let entriesPerTable = 512
    public static let pageSize: UInt64 = 0x1000
    public static let largePageSize: UInt64 = 0x20_0000

    public var raw: UInt64

    public init(raw: UInt64) { self.raw = raw }

    /// `address` (page aligned) with `flags`.
    public init(address: UInt64, flags: UInt64) {
        precondition(address & (Self.pageSize - 1) == 0, "page-table entry address not page aligned")
        raw = address | flags
    }

    /// The not-present entry.
    public static let empty = PageTableEntry(raw: 0)
}

extension Array where Element == UInt8 {
    /// Stores `entry` as entry `index` of the table that starts at byte `table`.
    public mutating func setPageTableEntry(_ entry: PageTableEntry, table: Int, index: Int) {
        putLE(entry.raw, at: table + index * PageTableEntry.size)
    }

    /// Entry `index` of the table that starts at byte `table` (the range must be inside the array).
    public func pageTableEntry(table: Int, index: Int) -> PageTableEntry {
        PageTableEntry(raw: u64(table + index * PageTableEntry.size)!)
    }
}
