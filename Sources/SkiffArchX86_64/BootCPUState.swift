// BootCPUState.swift: the x86_64 vCPU state at an hvt guest's first instruction (spec §6.2–6.3), as plain values for any backend.

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
    /// EBX at entry (the PVH start_info; 0 for hvt).
    public var rbx: UInt64 = 0
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
