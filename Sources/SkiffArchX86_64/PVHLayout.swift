// PVHLayout.swift: the x86_64 PVH machine skiff-hvt builds (Xen's PVH boot ABI without Xen): boot data addresses, ports, entry state.
//
//   GPA
//   0x0000_1000  struct hvm_start_info (version 1)      0x0000_1040  its memory map (struct hvm_memmap_entry[])
//   0x0000_2000  the command line (NUL-terminated, at most 8191 bytes, as hvt's)
//   0x0010_0000  the ELF's PT_LOAD segments ... --mem: RAM
//   0xFEE0_0000  the local APIC (KVM's in-kernel irqchip)
//   ports        0x3F8-0x3FF a 16550 UART (transmit only)   0x70/0x71 the CMOS clock (read-only)
//                0xF4 an isa-debug-exit register (a 4-byte OUT of the exit status ends the run)
// Entry (Xen's docs/misc/pvh.pandoc): 32-bit protected mode, paging off, flat 4 GiB CS (read/execute) and
// DS/ES/SS (read/write), a 32-bit TSS, CR0 = PE | ET, CR4 = 0, EFER = 0, EBX = the start_info's GPA,
// EIP = XEN_ELFNOTE_PHYS32_ENTRY. Interrupts arrive through the in-kernel LAPIC (its timer); the 8259s
// and the PIT are the kernel's too.

public enum PVHLayout {
    public static let startInfo: UInt64 = 0x1000
    public static let memoryMap: UInt64 = 0x1040
    public static let commandLine: UInt64 = 0x2000
    public static let commandLineSize = 8192
    /// RAM the memory map offers: from here (the image's base) to --mem; below it, reserved.
    public static let ramStart: UInt64 = 0x10_0000
    public static let startInfoMagic: UInt32 = 0x336E_C578
    /// struct hvm_memmap_entry types.
    public static let memmapRAM: UInt32 = 1, memmapReserved: UInt32 = 2
    public static let com1: UInt16 = 0x3F8, com1Size: UInt16 = 8
    public static let debugExit: UInt16 = 0xF4
    public static let cmosIndex: UInt16 = 0x70, cmosSize: UInt16 = 2
    /// Xen's ELF note: the 32-bit physical entry point (XEN_ELFNOTE_PHYS32_ENTRY).
    public static let phys32EntryNote: UInt32 = 18
}

extension BootCPUState {
    /// The PVH entry state: 32-bit flat protected mode at `entry`, EBX = `startInfo`.
    public static func pvh(entry: UInt64, startInfo: UInt64) -> BootCPUState {
        var s = BootCPUState(entry: entry, guestMemSize: 8)
        s.rsp = 0
        s.rdi = 0
        s.rbx = startInfo
        s.cr0 = 0x11                     // PE | ET
        s.cr3 = 0
        s.cr4 = 0
        s.efer = 0
        s.cs = Segment(limit: 0xFFFF_FFFF, selector: 0x08, type: 11, db: true, l: false)   // code, read/execute, accessed
        s.data = Segment(limit: 0xFFFF_FFFF, selector: 0x10, type: 3, db: true, l: false)  // data, read/write, accessed
        s.tr = Segment(limit: 0x67, selector: 0x18, type: 11, db: false, s: false, l: false, g: false)  // 32-bit busy TSS
        s.gdtBase = 0
        s.gdtLimit = 0
        return s
    }
}
