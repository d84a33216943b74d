// Layout.swift: every x86_64 guest layout constant of the monitor, with the memory map (spec §5.3, §6).
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

    /// Page-table entry bits (Intel SDM vol. 3, 4.5).
    public static let present: UInt64 = 1 << 0
    public static let writable: UInt64 = 1 << 1
    public static let largePage: UInt64 = 1 << 7

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

/// The bytes of the low tables (GDT through PT0, 0x1000–0x8FFF) for an allocation of `allocationSize` bytes.
public struct LowTables: Equatable {
    public static let base: UInt64 = Layout.gdt
    public static let size = 0x8000
    public private(set) var bytes: [UInt8]

    public init(allocationSize: UInt64) {
        bytes = [UInt8](repeating: 0, count: Self.size)
        func put(_ gpa: UInt64, _ v: UInt64) { bytes.putQword(v, at: Int(gpa - Self.base)) }
        put(Layout.gdt + 0, Layout.nullDescriptor)
        put(Layout.gdt + 8, Layout.codeDescriptor)
        put(Layout.gdt + 16, Layout.dataDescriptor)
        put(Layout.pml4, Layout.pdpt | Layout.present | Layout.writable)
        for i in 0..<UInt64(Layout.pageDirectoryCount) {
            put(Layout.pdpt + 8 * i, (Layout.pageDirectories + 0x1000 * i) | Layout.present | Layout.writable)
        }
        put(Layout.pageDirectories, Layout.pt0 | Layout.present | Layout.writable)
        var i: UInt64 = 1
        while i * 0x200000 < allocationSize && i < 2048 {
            put(Layout.pageDirectories + 8 * i, (i * 0x200000) | Layout.present | Layout.writable | Layout.largePage)
            i += 1
        }
        for j in UInt64(16)..<512 {
            let flags = j < 256 ? Layout.present : Layout.present | Layout.writable
            put(Layout.pt0 + 8 * j, (j * 0x1000) | flags)
        }
    }
}

extension Array where Element == UInt8 {
    mutating func putQword(_ v: UInt64, at o: Int) {
        for i in 0..<8 { self[o + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) }
    }
}

/// A segment register's hidden state, as loaded directly into the vCPU.
public struct Segment: Equatable, Sendable {
    public var base: UInt64
    public var limit: UInt32
    public var selector: UInt16
    public var type: UInt8
    public var present: Bool
    public var dpl: UInt8
    public var db: Bool
    public var s: Bool
    public var l: Bool
    public var g: Bool
    public var unusable: Bool

    public init(base: UInt64 = 0, limit: UInt32, selector: UInt16, type: UInt8, present: Bool = true,
                dpl: UInt8 = 0, db: Bool, s: Bool = true, l: Bool, g: Bool = true, unusable: Bool = false) {
        self.base = base; self.limit = limit; self.selector = selector; self.type = type
        self.present = present; self.dpl = dpl; self.db = db; self.s = s; self.l = l; self.g = g
        self.unusable = unusable
    }
}

/// The x86_64 vCPU state at the guest's first instruction (spec §6.2–6.3).
public struct BootCPUState: Equatable, Sendable {
    public var rip: UInt64
    public var rsp: UInt64
    public var rdi: UInt64 = 0x10000
    public var rflags: UInt64 = Layout.rflags
    public var cr0: UInt64 = Layout.cr0
    public var cr3: UInt64 = Layout.cr3
    public var cr4: UInt64 = Layout.cr4
    public var efer: UInt64 = Layout.efer
    public var cs = Segment(limit: 0xFFFF_FFFF, selector: Layout.codeSelector, type: 9, db: false, l: true)
    public var data = Segment(limit: 0xFFFF_FFFF, selector: Layout.dataSelector, type: 3, db: true, l: false)
    public var tr = Segment(limit: 0, selector: 0, type: 11, db: false, s: false, l: false, g: false)
    public var gdtBase: UInt64 = Layout.gdt, gdtLimit: UInt16 = Layout.gdtLimit

    /// Entry at `entry` with the stack just below the top of guest-usable memory.
    public init(entry: UInt64, guestMemSize: UInt64) {
        rip = entry
        rsp = guestMemSize - 8
    }
}
