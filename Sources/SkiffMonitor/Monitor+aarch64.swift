// Monitor+aarch64.swift: what the monitor's Machine needs from aarch64: the page tables, the ring kick at MMIO 0x100000100.

#if arch(arm64)
import SkiffCore
import SkiffArchAArch64

enum ArchGlue {
    /// L0–L3 identity tables at 0x1000–0x7FFF, with the MMIO window as a device block (spec §7.2).
    static func bootTables(allocationSize: UInt64) -> SetupImage { PageTables.image(allocationSize: allocationSize) }

    /// The net ring's kick: 4-byte stores to MMIO 0x100000100 (spec §8).
    static let ringKick = HypercallMMIO.ringKick

    /// aarch64 hvt guests abort with cookie 0: no trap frame is defined for them.
    static func trapFrame(_ cookie: GuestAddress?, in memory: GuestMemory) -> [UInt64]? { nil }
}
#endif
