// LayoutTests.swift: the x86_64 page tables, GDT and boot CPU state, byte by byte against the spec.

import Testing
import SkiffTestSupport
@testable import SkiffCore
@testable import SkiffArchX86_64

@Test func lowTablesMatchSpec() {
    let t = LowTables.image(allocationSize: 64 << 20).bytes
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
    let t = LowTables.image(allocationSize: 4 << 30).bytes
    #expect(t.qword(0x7ff8 - 0x1000) == (2047 * 0x200000) | 0x83)
}

@Test func pageTableEntryEncoding() {
    typealias E = PageTableEntry
    #expect(E(address: 0x21b000, flags: E.present | E.writable | E.user).raw == 0x21b007)
    #expect(E(address: 0x200000, flags: E.present | E.writable | E.largePage).raw == 0x200083)
    #expect(E(address: 0x1000, flags: E.present | E.noExecute).raw == 0x8000_0000_0000_1001)
    var t = [UInt8](repeating: 0, count: 2 * 4096)
    t.setPageTableEntry(E(address: 0x5000, flags: E.present), table: 4096, index: 511)
    #expect(t.qword(4096 + 511 * 8) == 0x5001)
    #expect(t.pageTableEntry(table: 4096, index: 511) == E(raw: 0x5001))
    #expect(t.pageTableEntry(table: 0, index: 0) == .empty)
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


@Test(arguments: [
    // port, size, count, out → expected exit
    (UInt32(0x502), 4, 1, true, VCPUExit.hypercall(number: 2, argument: GuestAddress(0x1234))),
    (0x508, 4, 1, true, .hypercall(number: 8, argument: GuestAddress(0x1234))),
    (0x509, 4, 1, true, .invalidPortAccess(port: 0x509, size: 4, isWrite: true)),   // beyond hvt's limit
    (0x502, 2, 1, true, .invalidPortAccess(port: 0x502, size: 2, isWrite: true)),
    (0x502, 4, 1, false, .invalidPortAccess(port: 0x502, size: 4, isWrite: false)),
    (0x502, 4, 2, true, .invalidPortAccess(port: 0x502, size: 4, isWrite: true)),   // rep outsl
    (0x4ff, 4, 1, true, .invalidPortAccess(port: 0x4ff, size: 4, isWrite: true)),
    (0x510, 4, 1, true, .ignored),                                                 // --bench-port
] as [(UInt32, Int, Int, Bool, VCPUExit)])
func portHypercallDecoding(_ port: UInt32, _ size: Int, _ count: Int, _ out: Bool, _ expected: VCPUExit) {
    #expect(HypercallPorts.decode(port: port, size: size, count: count, isOut: out, value: { 0x1234 },
                                  limit: 9, ignoredPorts: [0x510]) == expected)
}
