// ImagePatcher.swift: the hvt post-link steps: page tables into the image (x86_64), then a check against the hvt loader's rules (both architectures).

import SkiffCore

enum ImagePatcher {
    /// Finds the layout in the linked image (sections and symbols that
    /// Guest/platform/hvt/x86_64/skiff.ld, arch/x86_64/cpl3/start.S and common/stacks.S define), computes the page tables
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
    /// Both architectures put `_start` at 0x100000 (HVT_GUEST_MIN_BASE).
    static func check(_ image: ELFFile, arch: GuestArchitecture) throws(BuildError) {
        guard image.type == 2 /* ET_EXEC */, image.machine == arch.elfMachine else {
            throw BuildError("linked image is not an \(arch.rawValue) executable")
        }
        guard image.entry == X86_64Layout.imageBase else {
            throw BuildError("linked image: entry \(hex(image.entry)) is not _start at 0x100000")
        }
        var lastVaddr: UInt64 = 0, end: UInt64 = 0
        for (i, s) in image.programHeaders.enumerated() where s.type == ProgramHeader.load && s.filesz > 0 {
            let align = s.align
            guard align != 0, align & (align - 1) == 0, align <= X86_64Layout.pageSize else {
                throw BuildError("linked image: phdr[\(i)] alignment \(align)")
            }
            let start = s.vaddr & ~(align - 1)
            let segEnd = (s.vaddr + s.memsz + align - 1) & ~(align - 1)
            guard s.vaddr >= X86_64Layout.imageBase, s.vaddr >= lastVaddr, start >= end,
                  start % X86_64Layout.pageSize == 0, segEnd % X86_64Layout.pageSize == 0,
                  s.memsz >= s.filesz, image.bytes.slice(s.offset, s.filesz) != nil
            else { throw BuildError("linked image: phdr[\(i)] breaks the hvt loader's rules") }
            guard s.flags & 3 != 3 else { throw BuildError("linked image: phdr[\(i)] is writable and executable") }
            lastVaddr = s.vaddr
            end = segEnd
        }
        // The first note of each PT_NOTE: ABI1 and MFT1 must each lead their own.
        var found: Set<UInt32> = []
        for s in image.programHeaders where s.type == ProgramHeader.note && s.filesz >= 20 {
            guard let region = image.bytes.slice(s.offset, s.filesz), let first = ELFNote.parse(region).first,
                  first.name == ELFImage.solo5NoteName else { continue }
            found.insert(first.type)
        }
        guard found.contains(ELFImage.abiNoteType), found.contains(ELFImage.manifestNoteType) else {
            throw BuildError("linked image: Solo5 ABI1/MFT1 notes are not each in their own PT_NOTE")
        }
    }
}

extension ELFFile {
    /// Reads the linker's output; errors read `linked image: <why>`.
    init(linked bytes: [UInt8]) throws(BuildError) {
        do {
            try self.init(bytes: bytes)
        } catch {
            guard case .invalidHeader(let why) = error else { throw BuildError("linked image: \(error.message)") }
            throw BuildError("linked image: \(why)")
        }
    }

    /// Overwrites the file bytes backing `[address, address + data.count)`,
    /// which must lie inside the file part of one section.
    mutating func write(_ data: [UInt8], at address: UInt64) throws(BuildError) {
        guard patch(address: address, with: data) else {
            throw BuildError("linked image: no file bytes at \(hex(address)) (+\(data.count))")
        }
    }

    mutating func patchPageTables(_ spec: PageTableSpec) throws(BuildError) {
        let tables = try PageTables.build(spec)
        try write(tables.root, at: X86_64Layout.pml4)
        try write(tables.tables, at: spec.ptArea)
    }
}
