// PageTableTests.swift: page-table generation from an image layout, entry by entry.

import Testing
@testable import SkiffBuild
import SkiffCore

let NX: UInt64 = 1 << 63

/// The layout of a real hello build (llvm-readelf -l), as a fixed input.
func helloSpec() -> PageTableSpec {
    typealias S = ProgramHeader
    return PageTableSpec(
        segments: [
            S(type: S.load, flags: 5, vaddr: 0x100000, filesz: 0xa4b, memsz: 0xa4b),
            S(type: S.load, flags: 6, vaddr: 0x101000, filesz: 0x8000, memsz: 0x8000),
            S(type: S.load, flags: 5, vaddr: 0x109000, filesz: 0x83c2, memsz: 0x83c2),
            S(type: S.load, flags: 4, vaddr: 0x112000, filesz: 0x300, memsz: 0x300),
            S(type: S.load, flags: 6, vaddr: 0x113000, filesz: 0x1b0, memsz: 0x2684),
            S(type: S.load, flags: 6, vaddr: 0x116000, filesz: 0, memsz: 0x105000),
            S(type: S.load, flags: 6, vaddr: 0x21b000, filesz: 0x3000, memsz: 0x3000),
            S(type: S.note, flags: 4, vaddr: 0x112250, filesz: 0x24, memsz: 0x24),
        ],
        supervisor: [0x100000..<0x101000, 0x101000..<0x109000, 0x21b000..<0x21e000],
        unmapped: [0x11a000..<0x11b000],
        imageEnd: 0x21e000, ptArea: 0x21b000, ptPages: 3)
}

func pte(_ t: PageTables, _ address: UInt64) -> UInt64 {
    t.tables.u64(Int(address / 0x1000) * 8)!
}

@Test func upperLevels() throws {
    let t = try PageTables.build(helloSpec())
    #expect(t.root.count == 6 * 4096 && t.tables.count == 3 * 4096)
    #expect(t.regionsWithTables == 2)
    #expect(t.root.u64(0)! == 0x102007)                       // PML4[0] -> PDPT
    #expect((1..<512).allSatisfy { t.root.u64($0 * 8)! == 0 })
    #expect((0..<4).map { t.root.u64(4096 + $0 * 8)! } == [0x103007, 0x104007, 0x105007, 0x106007])
    #expect((4..<512).allSatisfy { t.root.u64(4096 + $0 * 8)! == 0 })
    let pd = 2 * 4096
    #expect(t.root.u64(pd)! == 0x21b007)                      // 4 KiB tables for the image
    #expect(t.root.u64(pd + 8)! == 0x21c007)
    // Everything above the image is mapped on first touch (start.S #PF handler).
    #expect((2..<2048).allSatisfy { t.root.u64(pd + $0 * 8)! == 0 })
}

@Test func fourKilobytePages() throws {
    let t = try PageTables.build(helloSpec())
    #expect(pte(t, 0) == 0)                                        // zero page
    #expect(pte(t, 0xf000) == 0)                                   // tender tables
    #expect(pte(t, 0x10000) == 0x10005 | NX)                       // boot info: user, read-only
    #expect(pte(t, 0xff000) == 0xff005 | NX)
    #expect(pte(t, 0x100000) == 0x100001)                          // CPL0 text: supervisor R+X
    #expect(pte(t, 0x101000) == 0x101003 | NX)                     // page tables, GDT: supervisor RW
    #expect(pte(t, 0x108000) == 0x108003 | NX)                     // kernel stack
    #expect(pte(t, 0x109000) == 0x109005)                          // user text R+X
    #expect(pte(t, 0x111000) == 0x111005)
    #expect(pte(t, 0x112000) == 0x112005 | NX)                     // rodata R
    #expect(pte(t, 0x113000) == 0x113007 | NX)                     // data RW
    #expect(pte(t, 0x115000) == 0x115007 | NX)                     // bss tail
    #expect(pte(t, 0x119000) == 0x119007 | NX)                     // trap stack
    #expect(pte(t, 0x11a000) == 0)                                 // guard page
    #expect(pte(t, 0x11b000) == 0x11b007 | NX)                     // stack
    #expect(pte(t, 0x21a000) == 0x21a007 | NX)
    #expect(pte(t, 0x21b000) == 0x21b003 | NX)                     // the 4 KiB tables: supervisor
    #expect(pte(t, 0x21d000) == 0x21d003 | NX)
    #expect(pte(t, 0x21e000) == 0x21e007 | NX)                     // heap
    #expect(pte(t, 0x3ff000) == 0x3ff007 | NX)
    #expect(t.tables[(2 * 4096)...].allSatisfy { $0 == 0 })         // spare table unused
}

@Test func everyUserPageIsWXorX() throws {
    let t = try PageTables.build(helloSpec())
    for i in 0..<(2 * 512) {
        let e = t.tables.u64(i * 8)!
        if e & 1 == 0 { continue }
        #expect(e & ~NX & ~0xfff == UInt64(i) * 0x1000, "identity at \(i)")
        #expect(!(e & 2 != 0 && e & NX == 0), "page \(i) is writable and executable")
    }
}

@Test func layoutErrors() {
    let message = layoutError
    #expect(message { $0.segments[2].flags = 7 } == "segment at 0x109000 is writable and executable")
    #expect(message { $0.segments[3].vaddr = 0x111800 } == "segments at 0x109000 and 0x111000 share a page")
    #expect(message { $0.ptPages = 1 } == "image needs 2 page tables, 1 reserved")
    #expect(message { $0.segments[6].memsz = 0x10000 } == "segment at 0x21b000 is outside the image")
}

func layoutError(_ change: (inout PageTableSpec) -> Void) -> String? {
    var spec = helloSpec()
    change(&spec)
    switch Result(catching: { () throws(BuildError) -> PageTables in try PageTables.build(spec) }) {
    case .success: return nil
    case .failure(let e): return e.message
    }
}
