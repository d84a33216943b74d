// LayoutTests.swift: the x86_64 page tables, GDT, boot info and memory sizing, byte by byte against the spec.

import Testing
@testable import SkiffCore
@testable import SkiffX86_64

@Test func lowTablesMatchSpec() {
    let t = LowTables(allocationSize: 64 << 20).bytes
    func q(_ gpa: UInt64) -> UInt64 { t.qword(Int(gpa - 0x1000)) }
    // GDT (spec §6.2)
    #expect(q(0x1000) == 0)
    #expect(q(0x1008) == 0x00AF_9900_0000_FFFF)
    #expect(q(0x1010) == 0x00CF_9300_0000_FFFF)
    // PML4, PDPT
    #expect(q(0x2000) == 0x3003)
    for i in 1..<512 { #expect(q(0x2000 + 8 * UInt64(i)) == 0) }
    #expect([q(0x3000), q(0x3008), q(0x3010), q(0x3018)] == [0x4003, 0x5003, 0x6003, 0x7003])
    #expect(q(0x3020) == 0)
    // PDs: entry 0 → PT0, then 2 MiB pages below the allocation, zero above.
    #expect(q(0x4000) == 0x8003)
    for i in UInt64(1)..<32 { #expect(q(0x4000 + 8 * i) == (i * 0x200000) | 0x83) }
    #expect(q(0x4000 + 8 * 32) == 0)
    #expect(q(0x7ff8) == 0)
    // PT0: 0–0xFFFF absent, 0x10000–0xFFFFF read-only, then read-write.
    for j in UInt64(0)..<16 { #expect(q(0x8000 + 8 * j) == 0) }
    #expect(q(0x8000 + 8 * 16) == 0x10001)
    #expect(q(0x8000 + 8 * 255) == 0xFF001)
    #expect(q(0x8000 + 8 * 256) == 0x100003)
    #expect(q(0x8000 + 8 * 511) == 0x1FF003)
}

@Test func lowTablesFullFourGiB() {
    let t = LowTables(allocationSize: 4 << 30).bytes
    #expect(t.qword(0x7ff8 - 0x1000) == (2047 * 0x200000) | 0x83)
}

@Test func bootCPUStateMatchesSpec() {
    let s = BootCPUState(entry: 0x100040, guestMemSize: 64 << 20)
    #expect(s.cr0 == 0x8001_0021 && s.cr3 == 0x2000 && s.cr4 == 0x620 && s.efer == 0x500)
    #expect(s.rip == 0x100040 && s.rsp == (64 << 20) - 8 && s.rdi == 0x10000 && s.rflags == 2)
    #expect(s.cs.selector == 8 && s.cs.type == 9 && s.cs.l && !s.cs.db)
    #expect(s.data.selector == 0x10 && s.data.type == 3 && s.data.db && !s.data.l)
    #expect(s.gdtBase == 0x1000 && s.gdtLimit == 23)
    #expect(s.tr.type == 11)
}

@Test func bootInfoLayout() {
    let m = Manifest(devices: [(name: "storage", type: .blockBasic)])
    let w = BootInfoWriter(memSize: 0x4000000, kernelEnd: 0x105000, cpuCycleFrequency: 2_596_142_000,
                           manifest: m, commandLine: Array("a b".utf8))
    let b = w.bytes
    #expect(b.qword(0) == 0x4000000)
    #expect(b.qword(8) == 0x105000)
    #expect(b.qword(16) == 2_596_142_000)
    #expect(b.qword(24) == 0x10110)  // N=2 → cmdline at 0x10110 (spec §5.3)
    #expect(b.qword(32) == 0x10038)
    #expect(b.qword(40) == 0 && b.qword(48) == 0)
    #expect(Array(b[0x38..<0x40]) == [1, 0, 0, 0, 2, 0, 0, 0])
    #expect(Array(b[0x110..<0x114]) == [0x61, 0x20, 0x62, 0])
    #expect(b.count == 0x110 + 8192)
    let one = BootInfoWriter(memSize: 1, kernelEnd: 0, cpuCycleFrequency: 0, manifest: Manifest(devices: []), commandLine: [])
    #expect(one.commandLineAddress == 0x100A8)
}

@Test func memorySizing() throws {
    let d = try MemorySize(requestedBytes: 512 << 20, withRing: false)
    #expect(d.guest == 512 << 20 && d.allocation == 512 << 20 && !d.adjusted)
    let r = try MemorySize(requestedBytes: 64 << 20, withRing: true)
    #expect(r.allocation == 66 << 20 && r.guest == 64 << 20)
    let cap = try MemorySize(requestedBytes: 4096 << 20, withRing: true)
    #expect(cap.allocation == 4 << 30 && cap.guest == 0xFFE0_0000)
    let odd = try MemorySize(requestedBytes: 3 << 20, withRing: false)
    #expect(odd.guest == 2 << 20 && odd.adjusted)
    let tiny = try MemorySize(requestedBytes: 1 << 20, withRing: false)
    #expect(tiny.guest == 2 << 20)
    #expect(throws: MemorySizeError.tooLarge(8192 << 20)) { try MemorySize(requestedBytes: 8192 << 20, withRing: false) }
}

@Test func commandLineAssembly() throws {
    #expect(try guestCommandLine([String]()) == [])
    #expect(try guestCommandLine(["a", "", "b"]) == Array("a  b".utf8))
    #expect(try guestCommandLine([String(repeating: "x", count: 8191)]).count == 8191)
    #expect(throws: CommandLineTooLong.self) { try guestCommandLine([String(repeating: "x", count: 8192)]) }
}
