// Monitor+aarch64.swift: what the monitor's Machine needs from aarch64: the page tables, the ring kick at MMIO 0x100000100.

#if arch(arm64)
import SkiffCore
import SkiffArchAArch64

enum ArchGlue {
    /// L0–L3 identity tables at 0x1000–0x7FFF, with the MMIO window as a device block (spec §7.2).
    static func bootTables(allocationSize: UInt64) -> SetupImage { PageTables.image(allocationSize: allocationSize) }

    /// The net ring's kick: 4-byte stores to MMIO 0x100000100 (spec §8).
    static let ringKick = HypercallMMIO.ringKick

    /// Upstream's aarch64 bindings abort with cookie 0; Skiff's pass their exception frame
    /// (`TrapFrame`), which the core dumper reads, but the abort line has no x86-style frame to print.
    static func trapFrame(_ cookie: GuestAddress?, in memory: GuestMemory) -> [UInt64]? { nil }

    /// The registers Skiff's exception frame at `cookie` saved (all of x0–x30, sp, pc, PSTATE).
    static func faultRegisters(cookie: GuestAddress, in memory: GuestMemory, halt: CPURegisters) -> CPURegisters? {
        TrapFrame.read(at: cookie, in: memory).map { .aarch64($0.registers) }
    }
}
#endif
