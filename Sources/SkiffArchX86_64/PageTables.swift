// PageTables.swift: the x86_64 low tables the monitor writes for an hvt guest: GDT, PML4, PDPT, 4 PDs of 2 MiB pages, PT0 (spec §6.1).

import SkiffCore

/// The bytes of the low tables (GDT through PT0, 0x1000–0x8FFF) for an allocation of `allocationSize` bytes.
public struct LowTables: Equatable {
    public static let base: UInt64 = Layout.gdt
    public static let size = 0x8000
    public private(set) var bytes: [UInt8]

    public init(allocationSize: UInt64) {
        bytes = [UInt8](repeating: 0, count: Self.size)
        func put(_ gpa: UInt64, _ v: UInt64) { bytes.putLE(v, at: Int(gpa - Self.base)) }
        func set(table gpa: UInt64, _ index: Int, _ address: UInt64, _ flags: UInt64) {
            bytes.setPageTableEntry(PageTableEntry(address: address, flags: flags), table: Int(gpa - Self.base), index: index)
        }
        typealias E = PageTableEntry
        put(Layout.gdt + 0, Layout.nullDescriptor)
        put(Layout.gdt + 8, Layout.codeDescriptor)
        put(Layout.gdt + 16, Layout.dataDescriptor)
        set(table: Layout.pml4, 0, Layout.pdpt, E.present | E.writable)
        for i in 0..<Layout.pageDirectoryCount {
            set(table: Layout.pdpt, i, Layout.pageDirectories + E.pageSize * UInt64(i), E.present | E.writable)
        }
        // The four page directories are contiguous: one table of 2048 entries.
        set(table: Layout.pageDirectories, 0, Layout.pt0, E.present | E.writable)
        var i = 1
        while UInt64(i) * E.largePageSize < allocationSize && i < Layout.pageDirectoryCount * E.entriesPerTable {
            set(table: Layout.pageDirectories, i, UInt64(i) * E.largePageSize, E.present | E.writable | E.largePage)
            i += 1
        }
        for j in 16..<E.entriesPerTable {
            set(table: Layout.pt0, j, UInt64(j) * E.pageSize, j < 256 ? E.present : E.present | E.writable)
        }
    }
}


