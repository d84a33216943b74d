// PageTables.swift: the guest's own x86_64 page tables, computed from the linked image's layout (entries: SkiffArchX86_64's PageTableEntry).

import SkiffCore
import SkiffArchX86_64

/// Fixed guest addresses of the x86_64 platform layer; must match
/// Guest/arch/x86_64/cpl3/layout.h (SkiffBuildTests checks a built image against both).
public enum X86_64Layout {
    public static let ktext: UInt64 = 0x10_0000
    public static let pml4: UInt64 = 0x10_1000
    public static let pdpt: UInt64 = 0x10_2000
    public static let pd: UInt64 = 0x10_3000         // 4 pages, 2048 PDEs
    public static let kernelDataEnd: UInt64 = 0x10_9000
    public static let bootInfo: UInt64 = 0x1_0000     // 0x10000-0xfffff: boot info, manifest, cmdline
    public static let imageBase: UInt64 = 0x10_0000
    public static let pageSize = PageTableEntry.pageSize
    public static let largePage = PageTableEntry.largePageSize
    public static let pdEntries = 4 * PageTableEntry.entriesPerTable   // 4 GiB of 2 MiB pages
}

/// The inputs and outputs of page-table generation.
///
/// Identity map, 4-level. The 2 MiB regions the image touches get 4 KiB
/// tables (`ptArea`); every other PDE stays empty: start.S's #PF handler
/// installs a 2 MiB user RW NX page on first touch below mem_size (which is
/// not known here), so nothing at or above mem_size is ever mapped. Rules
/// for a 4 KiB page at address `a` in a 4 KiB-mapped region:
///
/// | range | entry |
/// |---|---|
/// | `a < 0x10000` (zero page, tender tables) | not present |
/// | `0x10000 ≤ a < 0x100000` (boot info) | user, read-only, NX |
/// | inside a PT_LOAD segment | user unless in a supervisor range; W from PF_W; NX unless PF_X |
/// | inside an unmapped range (stack guard) | not present |
/// | in the image but in no segment | not present |
/// | `a ≥ imageEnd` (heap) | user, RW, NX |
///
/// Non-leaf entries are P|RW|US so that the leaf decides.
public struct PageTableSpec: Equatable, Sendable {
    public var segments: [ProgramHeader]
    /// Address ranges mapped supervisor-only (CPL0 text, system tables).
    public var supervisor: [Range<UInt64>]
    /// Address ranges left unmapped inside segments (the stack guard page).
    public var unmapped: [Range<UInt64>]
    /// End of the image (page aligned); the heap starts here.
    public var imageEnd: UInt64
    /// Where the 4 KiB page tables live, and how many pages are reserved.
    public var ptArea: UInt64
    public var ptPages: Int

    public init(segments: [ProgramHeader], supervisor: [Range<UInt64>], unmapped: [Range<UInt64>],
                imageEnd: UInt64, ptArea: UInt64, ptPages: Int) {
        self.segments = segments; self.supervisor = supervisor; self.unmapped = unmapped
        self.imageEnd = imageEnd; self.ptArea = ptArea; self.ptPages = ptPages
    }
}

public struct PageTables: Equatable, Sendable {
    /// PML4, PDPT and 4 PDs: 6 pages for `X86_64Layout.pml4`.
    public var root: [UInt8]
    /// `ptPages` pages for `ptArea` (unused ones zero).
    public var tables: [UInt8]
    /// How many 2 MiB regions are mapped with 4 KiB tables.
    public var regionsWithTables: Int

    /// Computes the tables for `spec`; throws if the layout breaks a rule
    /// (overlapping segments, W+X, too few reserved tables, beyond 4 GiB).
    public static func build(_ spec: PageTableSpec) throws(BuildError) -> PageTables {
        let page = X86_64Layout.pageSize, large = X86_64Layout.largePage
        var perms: [(range: Range<UInt64>, flags: UInt64)] = []
        for s in spec.segments where s.type == ProgramHeader.load && s.memsz > 0 {
            let start = s.vaddr & ~(page - 1)
            let end = (s.vaddr + s.memsz + page - 1) & ~(page - 1)
            guard start >= X86_64Layout.imageBase, end <= spec.imageEnd else {
                throw BuildError("segment at \(hex(s.vaddr)) is outside the image")
            }
            if s.flags & ProgramHeader.flagW != 0 && s.flags & ProgramHeader.flagX != 0 {
                throw BuildError("segment at \(hex(s.vaddr)) is writable and executable")
            }
            for p in perms where p.range.overlaps(start..<end) {
                throw BuildError("segments at \(hex(p.range.lowerBound)) and \(hex(start)) share a page")
            }
            var f = PageTableEntry.present | PageTableEntry.user
            if s.flags & ProgramHeader.flagW != 0 { f |= PageTableEntry.writable }
            if s.flags & ProgramHeader.flagX == 0 { f |= PageTableEntry.noExecute }
            perms.append((start..<end, f))
        }
        let regions = Int((spec.imageEnd + large - 1) / large)
        guard regions <= spec.ptPages else {
            throw BuildError("image needs \(regions) page tables, \(spec.ptPages) reserved")
        }
        guard regions < X86_64Layout.pdEntries else { throw BuildError("image larger than 4 GiB") }

        typealias E = PageTableEntry
        var tables = [UInt8](repeating: 0, count: spec.ptPages * Int(page))
        for i in 0..<(regions * E.entriesPerTable) {
            tables.setPageTableEntry(entry(for: UInt64(i) * page, spec: spec, perms: perms), table: 0, index: i)
        }

        // PML4, PDPT, then the 4 PDs as one table of 2048 entries.
        var root = [UInt8](repeating: 0, count: 6 * Int(page))
        let table = E.present | E.writable | E.user
        root.setPageTableEntry(E(address: X86_64Layout.pdpt, flags: table), table: 0, index: 0)
        for j in 0..<4 {
            root.setPageTableEntry(E(address: X86_64Layout.pd + UInt64(j) * page, flags: table), table: Int(page), index: j)
        }
        for i in 0..<X86_64Layout.pdEntries {
            guard i < regions else { break }   // demand-mapped by the #PF handler
            root.setPageTableEntry(E(address: spec.ptArea + UInt64(i) * page, flags: table), table: 2 * Int(page), index: i)
        }
        return PageTables(root: root, tables: tables, regionsWithTables: regions)
    }

    static func entry(for a: UInt64, spec: PageTableSpec,
                      perms: [(range: Range<UInt64>, flags: UInt64)]) -> PageTableEntry {
        typealias E = PageTableEntry
        if a < X86_64Layout.bootInfo { return .empty }
        if a < X86_64Layout.imageBase { return E(address: a, flags: E.present | E.user | E.noExecute) }
        if spec.unmapped.contains(where: { $0.contains(a) }) { return .empty }
        if let p = perms.first(where: { $0.range.contains(a) }) {
            var f = p.flags
            if spec.supervisor.contains(where: { $0.contains(a) }) { f &= ~E.user }
            return E(address: a, flags: f)
        }
        if a >= spec.imageEnd { return E(address: a, flags: E.present | E.writable | E.user | E.noExecute) }
        return .empty
    }
}
