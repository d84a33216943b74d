// Layout.swift: every aarch64 hvt layout constant (spec §5.3, §7): page-table GPAs, descriptor bits, system registers, the MMIO window.
//
//   GPA
//   0x0000_0000 zero page (not mapped)
//   0x0000_1000 L0 table        0x0000_2000 L1 table
//   0x0000_3000 L2 tables (4, 2048 entries of 2 MiB)   0x0000_7000 L3 (first 2 MiB)
//   0x0001_0000 boot info, manifest copy, command line (read-only)
//   0x0010_0000 ELF image, heap, stack ... mem_size, net ring ... allocation (≤ 4 GiB)
//   0x1_0000_0000 MMIO window (1 GiB, Device-nGnRE): hypercalls at +nr×8, ring kick at +0x100

public enum Layout {
    public static let l0: UInt64 = 0x1000
    public static let l1: UInt64 = 0x2000
    public static let l2: UInt64 = 0x3000
    public static let l2Count = 4
    public static let l3: UInt64 = 0x7000

    /// Descriptor bits (Arm ARM D8.3).
    public static let table: UInt64 = 3, block: UInt64 = 1, page: UInt64 = 3
    /// L1 entry 4: the MMIO window as a 1 GiB Device-nGnRE block, PXN, UXN.
    public static let mmioBlockAttributes: UInt64 = 0x60_0000_0000_0705
    /// L2 entries k ≥ 1: Normal, RW, EL1-executable, UXN.
    public static let ramBlockAttributes: UInt64 = 0x40_0000_0000_0711
    /// L3 entries 16..255 (boot data): Normal, read-only, PXN, UXN.
    public static let readOnlyPageAttributes: UInt64 = 0x60_0000_0000_0793
    /// L3 entries 256..511: Normal, RW, EL1-executable.
    public static let ramPageAttributes: UInt64 = 0x40_0000_0000_0713

    /// System registers at entry (spec §7.3).
    public static let mair: UInt64 = 0x0000_BBFF_440C_0400
    public static let tcr: UInt64 = 0x32_B518_3518
    public static let ttbr0: UInt64 = l0
    public static let sctlr: UInt64 = 0x1005
    public static let pstate: UInt64 = 0x3C5
    /// CPACR_EL1.FPEN = 0b11: FP/SIMD not trapped.
    public static let cpacrFPEN: UInt64 = 3 << 20
}
