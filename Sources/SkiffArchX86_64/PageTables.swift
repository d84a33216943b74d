// PageTables.swift: the x86_64 low tables the monitor writes for an hvt guest: GDT, PML4, PDPT, 4 PDs of 2 MiB pages, PT0 (spec §6.1).

import SkiffCore

/// The low tables (GDT through PT0, 0x1000–0x8FFF) for an allocation of `allocationSize` bytes.
public enum LowTables {
    public static let base: UInt64 = Layout.gdt
    public static let size = 0x8000

    public static func image(allocationSize: UInt64) -> SetupImage {
        var t = SetupImage(base: base, size: size)
        typealias E = PageTableEntry
        func set(table gpa: UInt64, _ index: Int, _ address: UInt64, _ flags: UInt64) {
            t.put(gpa + UInt64(index * E.size), E(address: address, flags: flags).raw)
        }
        t.put(Layout.gdt + 0, Layout.nullDescriptor)
        t.put(Layout.gdt + 8, Layout.codeDescriptor)
        t.put(Layout.gdt + 16, Layout.dataDescriptor)
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
        return t
    }
}
