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
        put(Layout.gdt + 0, Layout.nullDescriptor)
        put(Layout.gdt + 8, Layout.codeDescriptor)
        put(Layout.gdt + 16, Layout.dataDescriptor)
        put(Layout.pml4, Layout.pdpt | Layout.present | Layout.writable)
        for i in 0..<UInt64(Layout.pageDirectoryCount) {
            put(Layout.pdpt + 8 * i, (Layout.pageDirectories + 0x1000 * i) | Layout.present | Layout.writable)
        }
        put(Layout.pageDirectories, Layout.pt0 | Layout.present | Layout.writable)
        var i: UInt64 = 1
        while i * 0x200000 < allocationSize && i < 2048 {
            put(Layout.pageDirectories + 8 * i, (i * 0x200000) | Layout.present | Layout.writable | Layout.largePage)
            i += 1
        }
        for j in UInt64(16)..<512 {
            let flags = j < 256 ? Layout.present : Layout.present | Layout.writable
            put(Layout.pt0 + 8 * j, (j * 0x1000) | flags)
        }
    }
}


