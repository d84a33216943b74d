// ImagePatcher.swift: the hvt post-link step: page tables into the image, then a check against the hvt loader's rules.

enum ImagePatcher {
    /// Finds the layout in the linked image (sections and symbols that
    /// Guest/platform/hvt/x86_64/skiff.ld, arch/x86_64/start.S and common/stacks.S define), computes the page tables
    /// and writes them at `X86_64Layout.pml4` and `.skiff.pt`.
    static func writePageTables(into image: inout ELFFile) throws(BuildError) {
        try image.patchPageTables(spec(for: image))
    }

    static func spec(for image: ELFFile) throws(BuildError) -> PageTableSpec {
        func section(_ name: String) throws(BuildError) -> ELFFile.Section {
            guard let s = image.section(name) else { throw BuildError("linked image has no \(name) section") }
            return s
        }
        func symbol(_ name: String) throws(BuildError) -> UInt64 {
            guard let v = image.symbol(name) else { throw BuildError("linked image has no symbol \(name)") }
            return v
        }
        let ktext = try section(".skiff.ktext"), kdata = try section(".skiff.kdata"), pt = try section(".skiff.pt")
        guard ktext.address == X86_64Layout.ktext, kdata.address == X86_64Layout.pml4,
              kdata.address + kdata.size == X86_64Layout.kernelDataEnd
        else { throw BuildError("linked image: supervisor sections not at their fixed addresses") }
        let page = X86_64Layout.pageSize
        guard pt.address % page == 0, pt.size % page == 0, pt.size > 0 else {
            throw BuildError("linked image: .skiff.pt is not whole pages")
        }
        let guardStart = try symbol("__skiff_guard"), guardEnd = try symbol("__skiff_stack_bottom")
        let imageEnd = try symbol("__skiff_image_end")
        return PageTableSpec(
            segments: image.loadSegments,
            supervisor: [X86_64Layout.ktext..<(X86_64Layout.ktext + page),
                         X86_64Layout.pml4..<X86_64Layout.kernelDataEnd,
                         pt.address..<(pt.address + pt.size)],
            unmapped: [guardStart..<guardEnd],
            imageEnd: (imageEnd + page - 1) & ~(page - 1),
            ptArea: pt.address, ptPages: Int(pt.size / page))
    }

    /// The hvt loader's rules (spec 2.2, 2.3, 3) that our link must meet,
    /// checked here so a bad layout fails the build rather than the run.
    static func check(_ image: ELFFile) throws(BuildError) {
        let b = image.bytes
        guard b.le16(at: 16) == 2 /* ET_EXEC */, b.le16(at: 18) == 62 /* EM_X86_64 */ else {
            throw BuildError("linked image is not an x86_64 executable")
        }
        guard image.entry == X86_64Layout.ktext else {
            throw BuildError("linked image: entry 0x\(hex(image.entry)) is not _start at 0x100000")
        }
        var lastVaddr: UInt64 = 0, end: UInt64 = 0
        for (i, s) in image.segments.enumerated() where s.type == ELFFile.Segment.load && s.filesz > 0 {
            let align = s.align
            guard align != 0, align & (align - 1) == 0, align <= X86_64Layout.pageSize else {
                throw BuildError("linked image: phdr[\(i)] alignment \(align)")
            }
            let start = s.vaddr & ~(align - 1)
            let segEnd = (s.vaddr + s.memsz + align - 1) & ~(align - 1)
            guard s.vaddr >= X86_64Layout.imageBase, s.vaddr >= lastVaddr, start >= end,
                  start % X86_64Layout.pageSize == 0, segEnd % X86_64Layout.pageSize == 0,
                  s.memsz >= s.filesz, s.offset + s.filesz <= UInt64(b.count)
            else { throw BuildError("linked image: phdr[\(i)] breaks the hvt loader's rules") }
            guard s.flags & 3 != 3 else { throw BuildError("linked image: phdr[\(i)] is writable and executable") }
            lastVaddr = s.vaddr
            end = segEnd
        }
        var found: Set<UInt32> = []
        for s in image.segments where s.type == ELFFile.Segment.note && s.filesz >= 20 {
            let o = Int(s.offset)
            guard b.le32(at: o) == 6, b[(o + 12)..<(o + 18)].elementsEqual(Array("Solo5\0".utf8)) else { continue }
            found.insert(b.le32(at: o + 8))
        }
        guard found.contains(SoloNotes.abi1Type), found.contains(SoloNotes.mft1Type) else {
            throw BuildError("linked image: Solo5 ABI1/MFT1 notes are not each in their own PT_NOTE")
        }
    }
}

extension ELFFile {
    mutating func patchPageTables(_ spec: PageTableSpec) throws(BuildError) {
        let tables = try PageTables.build(spec)
        try patch(address: X86_64Layout.pml4, with: tables.root)
        try patch(address: spec.ptArea, with: tables.tables)
    }
}
