// CoreFile.swift: the layout of an ELF core file of a guest (ELF header, PT_NOTE with NT_PRSTATUS/NT_PRPSINFO, PT_LOADs of guest memory): pure bytes.
//
// What `gdb IMAGE CORE` reads. The header part (everything before the first
// memory segment) is built here as bytes; the memory itself is copied by the
// caller (DumpCoreModule) from guest memory into each segment's file range,
// skipping zero pages so that the file stays sparse. Guest virtual addresses
// equal guest physical ones (both architectures identity-map guest RAM), so
// each PT_LOAD has vaddr = paddr = the guest address.
//
// Register layouts are Linux's, which gdb (and BFD) read from NT_PRSTATUS:
// x86_64 `struct user_regs_struct` (27 u64), aarch64 `struct user_pt_regs`
// (34 u64); `struct elf_prstatus` is 336 / 392 bytes with them.

import SkiffCore

/// One range of guest memory in the core file.
public struct CoreSegment: Equatable, Sendable {
    /// Guest (physical = virtual) address.
    public var address: UInt64
    public var size: UInt64
    /// Where its bytes start in the file (page-aligned).
    public var fileOffset: UInt64
}

/// An ELF core file of one guest: header bytes and the placement of guest memory.
public struct CoreFile: Equatable, Sendable {
    public static let pageSize: UInt64 = 4096
    /// ELF constants used here.
    public static let etCore: UInt16 = 4, ptLoad: UInt32 = 1, ptNote: UInt32 = 4
    public static let ntPRStatus: UInt32 = 1, ntPRPSInfo: UInt32 = 3
    /// Signal numbers recorded as the cause (Linux's, what gdb prints: "Program terminated with signal …").
    public static let sigILL: Int32 = 4, sigTRAP: Int32 = 5, sigABRT: Int32 = 6, sigBUS: Int32 = 7, sigSEGV: Int32 = 11

    public let registers: CPURegisters
    /// The ELF header, program headers and notes: the file's first `header.count` bytes.
    public let header: [UInt8]
    public let segments: [CoreSegment]
    /// The file's size: the end of the last segment.
    public let fileSize: UInt64

    /// Lays out a core of `regions` (address, size; each size a multiple of the page size,
    /// as guest memory is) with `registers` as the one thread's state, stopped by `signal`.
    /// `pid` and `name` (the image's file name, at most 15 bytes kept) fill NT_PRSTATUS and NT_PRPSINFO.
    public init(registers: CPURegisters, regions: [(address: UInt64, size: UInt64)], signal: Int32,
                pid: Int32, name: String) {
        self.registers = registers
        let notes = ELFNote(name: "CORE", type: Self.ntPRStatus, descriptor: Self.prstatus(registers, signal: signal, pid: pid)).bytes
            + ELFNote(name: "CORE", type: Self.ntPRPSInfo, descriptor: Self.prpsinfo(pid: pid, name: name)).bytes
        let phnum = 1 + regions.count
        let noteOffset = UInt64(64 + 56 * phnum)
        var offset = Self.pageAlign(noteOffset + UInt64(notes.count))
        var segments: [CoreSegment] = []
        for r in regions {
            segments.append(CoreSegment(address: r.address, size: r.size, fileOffset: offset))
            offset = Self.pageAlign(offset &+ r.size)
        }
        self.segments = segments
        fileSize = segments.last.map { $0.fileOffset &+ $0.size } ?? noteOffset + UInt64(notes.count)

        var h: [UInt8] = [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)  // ELF64, LE, SYSV
        h.appendLE(Self.etCore)
        h.appendLE(registers.architecture.elfMachine)
        h.appendLE(UInt32(1))            // e_version
        h.appendLE(UInt64(0))            // e_entry
        h.appendLE(UInt64(64))           // e_phoff
        h.appendLE(UInt64(0))            // e_shoff
        h.appendLE(UInt32(0))            // e_flags
        h.appendLE(UInt16(64))           // e_ehsize
        h.appendLE(UInt16(56))           // e_phentsize
        h.appendLE(UInt16(phnum))
        h.appendLE(UInt16(64))           // e_shentsize
        h.appendLE(UInt16(0))            // e_shnum
        h.appendLE(UInt16(0))            // e_shstrndx
        func phdr(_ type: UInt32, _ flags: UInt32, _ off: UInt64, _ addr: UInt64, _ size: UInt64, _ align: UInt64) {
            h.appendLE(type); h.appendLE(flags); h.appendLE(off); h.appendLE(addr); h.appendLE(addr)
            h.appendLE(size); h.appendLE(size); h.appendLE(align)
        }
        phdr(Self.ptNote, 0, noteOffset, 0, UInt64(notes.count), 4)
        for s in segments { phdr(Self.ptLoad, 7 /* R W X */, s.fileOffset, s.address, s.size, Self.pageSize) }
        h += notes
        header = h
    }

    static func pageAlign(_ v: UInt64) -> UInt64 { (v &+ pageSize - 1) & ~(pageSize - 1) }

    /// `struct elf_prstatus`: siginfo, cursig, pid, zero times, then the registers and pr_fpvalid = 0.
    public static func prstatus(_ registers: CPURegisters, signal: Int32, pid: Int32) -> [UInt8] {
        var d: [UInt8] = []
        d.appendLE(signal)               // pr_info.si_signo
        d.appendLE(Int32(0))             // si_code
        d.appendLE(Int32(0))             // si_errno
        d.appendLE(Int16(truncatingIfNeeded: signal))  // pr_cursig
        d.appendLE(UInt16(0))            // padding
        d.appendLE(UInt64(0))            // pr_sigpend
        d.appendLE(UInt64(0))            // pr_sighold
        d.appendLE(pid)                  // pr_pid
        d.appendLE(Int32(0))             // pr_ppid
        d.appendLE(pid)                  // pr_pgrp
        d.appendLE(pid)                  // pr_sid
        d += [UInt8](repeating: 0, count: 64)  // pr_utime, pr_stime, pr_cutime, pr_cstime
        for v in generalRegisters(registers) { d.appendLE(v) }
        d.appendLE(Int32(0))             // pr_fpvalid
        d.appendLE(Int32(0))             // padding to 8
        return d
    }

    /// The prstatus register block: x86_64 `user_regs_struct`, aarch64 `user_pt_regs`.
    public static func generalRegisters(_ registers: CPURegisters) -> [UInt64] {
        switch registers {
        case .x86_64(let r):
            return [r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx, r.r11, r.r10, r.r9, r.r8,
                    r.rax, r.rcx, r.rdx, r.rsi, r.rdi, UInt64.max /* orig_rax: no system call */,
                    r.rip, UInt64(r.cs), r.rflags, r.rsp, UInt64(r.ss), r.fsBase, r.gsBase,
                    UInt64(r.ds), UInt64(r.es), UInt64(r.fs), UInt64(r.gs)]
        case .aarch64(let r):
            return (0..<31).map { r.x($0) } + [r.sp, r.pc, r.pstate]
        }
    }

    /// `struct elf_prpsinfo` (136 bytes on both): state R, the pid, `name` as pr_fname and pr_psargs.
    public static func prpsinfo(pid: Int32, name: String) -> [UInt8] {
        var d: [UInt8] = [0, UInt8(ascii: "R"), 0, 0, 0, 0, 0, 0]  // pr_state, pr_sname, pr_zomb, pr_nice, padding
        d.appendLE(UInt64(0))            // pr_flag
        d.appendLE(UInt32(0))            // pr_uid
        d.appendLE(UInt32(0))            // pr_gid
        d.appendLE(pid)                  // pr_pid
        d.appendLE(Int32(0))             // pr_ppid
        d.appendLE(pid)                  // pr_pgrp
        d.appendLE(pid)                  // pr_sid
        let n = Array(name.utf8)
        d += Array(n.prefix(15)) + [UInt8](repeating: 0, count: 16 - min(n.count, 15))  // pr_fname[16]
        d += Array(n.prefix(79)) + [UInt8](repeating: 0, count: 80 - min(n.count, 79))  // pr_psargs[80]
        return d
    }
}
