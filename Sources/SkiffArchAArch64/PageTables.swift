// PageTables.swift: the aarch64 tables the monitor writes for an hvt guest: L0, L1, four L2s of 2 MiB blocks, the L3 of the first 2 MiB (spec §7.2).

import SkiffCore

/// The tables at 0x1000–0x7FFF for an allocation of `allocationSize` bytes (VA = PA, 4 KiB granule).
public enum PageTables {
    public static func image(allocationSize: UInt64) -> SetupImage {
        var t = SetupImage(base: Layout.l0, size: 0x7000)
        t.put(Layout.l0, Layout.l1 | Layout.table)
        // One L1 entry per GiB of RAM, each pointing at its L2; entry 4 maps the MMIO window.
        for i in 0..<UInt64(Layout.l2Count) where i << 30 < allocationSize {
            t.put(Layout.l1 + 8 * i, (Layout.l2 + 0x1000 * i) | Layout.table)
        }
        t.put(Layout.l1 + 8 * 4, HypercallMMIO.window | Layout.mmioBlockAttributes)
        // L2: the first 2 MiB through L3, then 2 MiB blocks up to the allocation.
        t.put(Layout.l2, Layout.l3 | Layout.table)
        var k: UInt64 = 1
        while k * 0x20_0000 < allocationSize && k < 2048 {
            t.put(Layout.l2 + 8 * k, (k * 0x20_0000) | Layout.ramBlockAttributes)
            k += 1
        }
        // L3: nothing below 0x10000; boot data read-only; the rest of the first 2 MiB read-write.
        for j in UInt64(16)..<512 {
            t.put(Layout.l3 + 8 * j, (j * 0x1000) | (j < 256 ? Layout.readOnlyPageAttributes : Layout.ramPageAttributes))
        }
        return t
    }
}

/// The aarch64 vCPU state at an hvt guest's first instruction (spec §7.3), as plain values for any backend.
public struct BootCPUState: Equatable, Sendable {
    public var pc: UInt64, sp: UInt64, x0: UInt64 = 0x10000
    public var pstate = Layout.pstate, mair = Layout.mair, tcr = Layout.tcr, ttbr0 = Layout.ttbr0, sctlr = Layout.sctlr

    /// Entry at `entry` with SP_EL1 16 bytes below the top of guest-usable memory.
    public init(entry: UInt64, guestMemSize: UInt64) {
        pc = entry
        sp = guestMemSize - 16
    }
}
