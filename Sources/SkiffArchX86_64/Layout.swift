// Layout.swift: every x86_64 guest layout constant of the monitor (hvt boot protocol), with the memory map (spec §5.3, §6).
//
//   GPA
//   0x0000_0000 +--------------------------+
//               | zero page (not mapped)   |
//   0x0000_1000 +--------------------------+
//               | GDT (3 entries)          |  not mapped in the guest
//   0x0000_2000 | PML4                     |  not mapped
//   0x0000_3000 | PDPT                     |  not mapped
//   0x0000_4000 | PD0..PD3 (2048 PDEs)     |  not mapped
//   0x0000_8000 | PT0 (first 2 MiB, 4 KiB) |  not mapped
//   0x0000_9000 | unused                   |  not mapped
//   0x0001_0000 +--------------------------+
//               | hvt_boot_info (56 B)     |  read-only
//   0x0001_0038 | manifest copy            |  read-only
//               | command line (8 KiB)     |  read-only
//               | (rest reserved)          |  read-only
//   0x0010_0000 +--------------------------+  HVT_GUEST_MIN_BASE
//               | ELF image, heap, stack   |  read-write, executable
//               |            ...           |
//               |   initial RSP = mem - 8  |
//   mem_size    +--------------------------+
//               | net ring (2 MiB, if any) |  read-write (not a hypercall buffer)
//   allocation  +--------------------------+  (≤ 4 GiB; nothing above is mapped)
public enum Layout {
    public static let gdt: UInt64 = 0x1000
    public static let pml4: UInt64 = 0x2000
    public static let pdpt: UInt64 = 0x3000
    /// Four page directories, 512 entries each, contiguous: 4 GiB of 2 MiB pages.
    public static let pageDirectories: UInt64 = 0x4000
    public static let pageDirectoryCount = 4
    /// The page table mapping the first 2 MiB with 4 KiB pages.
    public static let pt0: UInt64 = 0x8000
    /// First page mapped read-only (boot info); pages below it (0x0–0xFFFF) are not present.
    public static let firstMappedPage: UInt64 = 0x10000
    /// The GDT limit covers three 8-byte descriptors.
    public static let gdtLimit: UInt16 = 23

    /// GDT descriptors and their selectors.
    public static let codeSelector: UInt16 = 0x08
    public static let dataSelector: UInt16 = 0x10
    public static let nullDescriptor: UInt64 = 0
    public static let codeDescriptor: UInt64 = 0x00AF_9900_0000_FFFF  // 64-bit code, DPL0, exec-only, accessed
    public static let dataDescriptor: UInt64 = 0x00CF_9300_0000_FFFF  // data, DPL0, RW, accessed

    /// Control registers at entry.
    public static let cr0: UInt64 = 0x8001_0021  // PE | NE | WP | PG
    public static let cr3: UInt64 = pml4
    public static let cr4: UInt64 = 0x620        // PAE | OSFXSR | OSXMMEXCPT
    public static let efer: UInt64 = 0x500       // LME | LMA
    public static let rflags: UInt64 = 0x2
}

