// HvtLoadPlan.swift: the hvt loader: plan and perform PT_LOAD loading with every check of spec §2.3–2.4.

import SkiffCore

/// One segment to copy into guest memory, already validated.
public struct LoadSegment: Equatable, Sendable {
    public var index: Int
    public var fileOffset: UInt64, vaddr: UInt64, filesz: UInt64, memsz: UInt64
    /// Page-aligned range whose host protection is set from `p_flags`.
    public var start: UInt64, end: UInt64
    public var readable: Bool, writable: Bool
}

/// What loading an image will do: computed without touching guest memory.
public struct LoadPlan: Equatable, Sendable {
    public var entry: UInt64
    /// `kernel_end`: end of the last file-backed PT_LOAD, aligned up (BSS excluded).
    public var kernelEnd: UInt64
    public var segments: [LoadSegment]

    /// Validates every PT_LOAD of `image` against a guest allocation of `memSize` bytes.
    public init(image: ELFImage, memSize: UInt64) throws(ImageError) {
        let e = image.entry
        guard e >= HvtLayout.guestMinBase, e < memSize else { throw .entry(e, min: HvtLayout.guestMinBase, max: memSize) }
        var segs: [LoadSegment] = []
        var eEnd: UInt64 = 0
        var prevVaddr: UInt64 = 0
        for (i, ph) in image.programHeaders.enumerated() where ph.type == ProgramHeader.load && ph.filesz != 0 {
            func fail(_ s: String) -> ImageError { .segment("phdr[\(i)] " + s) }
            guard ph.vaddr >= HvtLayout.guestMinBase else { throw fail("p_vaddr outside of valid memory range") }
            guard ph.vaddr >= prevVaddr else { throw fail("p_vaddr is not in ascending order") }
            prevVaddr = ph.vaddr
            guard ph.align != 0, ph.align & (ph.align - 1) == 0 else {
                throw fail("align_down(p_vaddr, p_align=\(ph.align)) failed")
            }
            let start = ph.vaddr & ~(ph.align - 1)
            guard start >= HvtLayout.guestMinBase else {
                throw fail("p_vaddr_start is outside of memory range (\(hex(start)) < \(hex(HvtLayout.guestMinBase)) (p_min_loadaddr))")
            }
            guard start >= eEnd else {
                throw fail("p_vaddr_start is outside of memory range (\(hex(start)) < \(hex(eEnd)) (e_end))")
            }
            guard ph.vaddr < memSize else {
                throw fail("program file segment falls outside of valid range (\(hex(ph.vaddr)) >= \(hex(memSize)) (mem_size))")
            }
            let (fileEnd, o1) = ph.vaddr.addingReportingOverflow(ph.filesz)
            guard !o1, fileEnd <= memSize else {
                throw fail("program file segment falls outside of valid range (p_vaddr + p_filesz > \(hex(memSize)) (mem_size))")
            }
            guard ph.memsz >= ph.filesz else {
                throw fail("program memory segment falls outside of valid range (\(ph.memsz) (p_memsz) < \(ph.filesz) (p_filesz))")
            }
            let (memEnd, o2) = ph.vaddr.addingReportingOverflow(ph.memsz)
            let (alignedPlus, o3) = memEnd.addingReportingOverflow(ph.align - 1)
            let end = alignedPlus & ~(ph.align - 1)
            guard !o2, !o3, end <= memSize else {
                throw fail("program memory segment falls outside of valid range (end > \(hex(memSize)) (mem_size))")
            }
            eEnd = max(eEnd, end)
            guard image.bytes.slice(ph.offset, ph.filesz) != nil else { throw fail("host file segment mismatched") }
            guard start % HvtLayout.pageSize == 0 else { throw fail("p_vaddr_start not aligned with architectural page size") }
            guard end % HvtLayout.pageSize == 0 else { throw fail("p_vaddr_end not aligned with architectural page size") }
            let w = ph.flags & ProgramHeader.flagW != 0, x = ph.flags & ProgramHeader.flagX != 0
            guard !(w && x) else { throw fail("requests WRITE and EXEC permissions") }
            let r = ph.flags & ProgramHeader.flagR != 0
            segs.append(LoadSegment(index: i, fileOffset: ph.offset, vaddr: ph.vaddr, filesz: ph.filesz,
                                    memsz: ph.memsz, start: start, end: end,
                                    readable: r || x, writable: w))
        }
        entry = e
        kernelEnd = eEnd
        segments = segs
    }

    /// Copies the segments into `memory`, zeroes their tails, then applies
    /// host protection (spec §2.4: R → read-only, X → read-only, RW → read-write).
    public func load(_ image: ELFImage, into memory: GuestMemory) throws(ImageError) {
        for s in segments {
            let data = image.bytes[Int(s.fileOffset)..<Int(s.fileOffset + s.filesz)]
            do {
                try memory.write(data, at: GuestAddress(s.vaddr))
                try memory.zero(at: GuestAddress(s.vaddr + s.filesz), count: s.memsz - s.filesz)
            } catch {
                throw .segment("phdr[\(s.index)] address space overflow")
            }
        }
        for s in segments where !s.writable {
            guard memory.protect(at: GuestAddress(s.start), count: s.end - s.start, writable: false, readable: s.readable) else {
                throw .segment("phdr[\(s.index)] mprotect failed")
            }
        }
    }
}
