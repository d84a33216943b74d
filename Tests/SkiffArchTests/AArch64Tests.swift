// AArch64Tests.swift: the aarch64 hvt page tables, entry state and MMIO hypercall decoding against the spec (§7, §8), without KVM.

import Testing
import SkiffTestSupport
import SkiffCore
import SkiffArchAArch64

@Test func pageTablesMatchSpec() {
    let t = PageTables.image(allocationSize: 64 << 20).bytes
    func q(_ gpa: UInt64) -> UInt64 { t.qword(Int(gpa - 0x1000)) }
    #expect(q(0x1000) == 0x2003)
    #expect(q(0x1008) == 0)
    #expect(q(0x2000) == 0x3003)           // 64 MiB: one GiB entry
    #expect(q(0x2008) == 0)
    #expect(q(0x2020) == 0x1_0000_0000 | 0x60_0000_0000_0705)
    #expect(q(0x3000) == 0x7003)
    #expect(q(0x3008) == 0x20_0000 | 0x40_0000_0000_0711)
    #expect(q(0x3000 + 8 * 31) == 31 * 0x20_0000 | 0x40_0000_0000_0711)
    #expect(q(0x3000 + 8 * 32) == 0)       // 64 MiB = 32 blocks
    #expect(q(0x7000 + 8 * 15) == 0)
    #expect(q(0x7000 + 8 * 16) == 0x10000 | 0x60_0000_0000_0793)
    #expect(q(0x7000 + 8 * 255) == 0xFF000 | 0x60_0000_0000_0793)
    #expect(q(0x7000 + 8 * 256) == 0x100000 | 0x40_0000_0000_0713)
}

@Test func pageTablesForFourGiB() {
    let t = PageTables.image(allocationSize: 4 << 30).bytes
    func q(_ gpa: UInt64) -> UInt64 { t.qword(Int(gpa - 0x1000)) }
    for i in UInt64(0)..<4 { #expect(q(0x2000 + 8 * i) == (0x3000 + 0x1000 * i) | 3) }
    #expect(q(0x3000 + 8 * 2047) == 2047 * 0x20_0000 | 0x40_0000_0000_0711)
}

@Test func bootStateMatchesSpec() {
    let s = BootCPUState(entry: 0x100000, guestMemSize: 64 << 20)
    #expect(s.pc == 0x100000 && s.sp == (64 << 20) - 16 && s.x0 == 0x10000)
    #expect(s.pstate == 0x3C5 && s.sctlr == 0x1005 && s.ttbr0 == 0x1000)
    #expect(s.mair == 0x0000_BBFF_440C_0400 && s.tcr == 0x32_B518_3518)
}

@Test(arguments: [
    // address, length, write → expected exit
    (UInt64(0x1_0000_0000) + 8 * 2, 4, true, VCPUExit.hypercall(number: 2, argument: GuestAddress(0x1234))),
    (0x1_0000_0000 + 8 * 8, 4, true, .hypercall(number: 8, argument: GuestAddress(0x1234))),
    (0x1_0000_0000 + 8 * 2 + 4, 4, true, .hypercall(number: 2, argument: GuestAddress(0x1234))),  // no alignment check (§8)
    (0x1_0000_0000 + 8 * 9, 4, true, .invalidMMIOAccess(address: 0x1_0000_0048, length: nil, isWrite: true)),
    (0x1_0000_0000 + 8 * 2, 8, true, .invalidMMIOAccess(address: 0x1_0000_0010, length: 8, isWrite: true)),
    (0x1_0000_0000 + 8 * 2, 4, false, .invalidMMIOAccess(address: 0x1_0000_0010, length: 4, isWrite: false)),
] as [(UInt64, Int, Bool, VCPUExit)])
func mmioHypercallDecoding(_ address: UInt64, _ length: Int, _ write: Bool, _ expected: VCPUExit) {
    #expect(HypercallMMIO.decode(address: address, length: length, isWrite: write, value: { 0x1234 }, limit: 9) == expected)
}

@Test func benchAddressesAreIgnoredOnlyForFourByteStores() {
    let bench = HypercallMMIO.address(ofPort: 0x510)
    #expect(bench == 0x1_0000_0080)
    #expect(HypercallMMIO.decode(address: bench, length: 4, isWrite: true, value: { 1 }, limit: 9, ignored: [bench]) == .ignored)
    #expect(HypercallMMIO.decode(address: bench, length: 4, isWrite: false, value: { 1 }, limit: 9, ignored: [bench])
            == .invalidMMIOAccess(address: bench, length: 4, isWrite: false))
    #expect(HypercallMMIO.decode(address: bench, length: 4, isWrite: true, value: { 1 }, limit: 9)
            == .invalidMMIOAccess(address: bench, length: nil, isWrite: true))
    // An ignored address never hides a hypercall below the limit from its own slot.
    #expect(HypercallMMIO.decode(address: bench + 8, length: 4, isWrite: true, value: { 1 }, limit: 9, ignored: [bench])
            == .invalidMMIOAccess(address: bench + 8, length: nil, isWrite: true))
}

@Test func oneRegIDsMatchKVMHeaders() {
    // Platform notes §9.2 (checked on a real arm64 KVM) and arch/arm64/include/uapi/asm/kvm.h.
    #expect(OneRegID.x0 == 0x6030_0000_0010_0000)
    #expect(OneRegID.pc == 0x6030_0000_0010_0040)
    #expect(OneRegID.pstate == 0x6030_0000_0010_0042)
    #expect(OneRegID.spEL1 == 0x6030_0000_0010_0044)
    #expect(OneRegID.sctlrEL1 == 0x6030_0000_0013_C080)
    #expect(OneRegID.cpacrEL1 == 0x6030_0000_0013_C082)
    #expect(OneRegID.ttbr0EL1 == 0x6030_0000_0013_C100)
    #expect(OneRegID.tcrEL1 == 0x6030_0000_0013_C102)
    #expect(OneRegID.mairEL1 == 0x6030_0000_0013_C510)
}

@Test func registerWritesAreTheEntryState() {
    let s = BootCPUState(entry: 0x100abc, guestMemSize: 32 << 20)
    #expect(s.registerWrites == [
        RegisterWrite(0x6030_0000_0013_C510, 0x0000_BBFF_440C_0400),   // MAIR_EL1
        RegisterWrite(0x6030_0000_0013_C102, 0x32_B518_3518),          // TCR_EL1
        RegisterWrite(0x6030_0000_0013_C100, 0x1000),                  // TTBR0_EL1
        RegisterWrite(0x6030_0000_0013_C080, 0x1005),                  // SCTLR_EL1, after the tables' registers
        RegisterWrite(0x6030_0000_0010_0042, 0x3C5),                   // PSTATE: EL1h, DAIF masked
        RegisterWrite(0x6030_0000_0010_0044, (32 << 20) - 16),         // SP_EL1
        RegisterWrite(0x6030_0000_0010_0040, 0x100abc),                // PC
        RegisterWrite(0x6030_0000_0010_0000, 0x10000),                 // X0: boot info
    ])
}

@Test func cpacrReadModifyWriteSetsOnlyFPEN() {
    #expect(BootCPUState.cpacr(from: 0) == 0x30_0000)
    #expect(BootCPUState.cpacr(from: 0x1_0000_0001) == 0x1_0030_0001)
    #expect(BootCPUState.cpacr(from: 0x10_0000) == 0x30_0000)
}

@Test func mmioWindowBounds() {
    #expect(!HypercallMMIO.inWindow(0xFFFF_FFFF))
    #expect(HypercallMMIO.inWindow(0x1_0000_0000))
    #expect(HypercallMMIO.inWindow(0x1_0000_0100))       // the ring kick
    #expect(HypercallMMIO.inWindow(0x1_3FFF_FFFF))
    #expect(!HypercallMMIO.inWindow(0x1_4000_0000))
    #expect(!HypercallMMIO.inWindow(0x10_0000))           // RAM: the backend's protection fault
}
