// PVHImage.swift: the post-link checks of the x86_64 Xen platform's image (a PVH ELF), before it is written.
//
// Output of `skiff build --arch x86_64 --platform xen` (Platforms.swift): OUT
// is the linked ELF itself, booted by Xen (PVH domU or dom0) and by QEMU's
// PVH loader (`-kernel`). Both find the 32-bit entry in the
// XEN_ELFNOTE_PHYS32_ENTRY note; QEMU pads the note name to the PT_NOTE's
// p_align, so that segment must be 4-byte aligned or QEMU jumps elsewhere
// and boots nothing (platform-notes 9.3). docs/platform-xen.md.

import SkiffCore

public enum PVHImage {
    /// Where the image is linked and loaded (Guest/platform/xen/x86_64/layout.h).
    public static let linkBase: UInt64 = 0x10_0000
    /// XEN_ELFNOTE_PHYS32_ENTRY (Xen public elfnote.h).
    public static let phys32EntryNote: UInt32 = 18

    /// Checks what the PVH loaders rely on: x86_64, loaded at `linkBase`, one
    /// 4-byte aligned PT_NOTE with the "Xen" PHYS32_ENTRY note naming the ELF
    /// entry, which lies in an executable segment.
    public static func check(_ elf: ELFFile) throws(BuildError) {
        func bad(_ why: String) -> BuildError { BuildError("PVH image: \(why)") }
        guard elf.machine == GuestArchitecture.x86_64.elfMachine else { throw bad("not an x86_64 ELF") }
        guard let first = elf.loadSegments.first, first.paddr == linkBase else {
            throw bad("the first PT_LOAD is not at \(hex(linkBase))")
        }
        var found: UInt64?
        for ph in elf.programHeaders where ph.type == ProgramHeader.note {
            guard let region = elf.bytes.slice(ph.offset, ph.filesz) else { throw bad("PT_NOTE outside the file") }
            for note in ELFNote.parse(region) where note.name == "Xen" && note.type == phys32EntryNote {
                guard ph.align == 4 else {
                    throw bad("the PHYS32_ENTRY note's PT_NOTE is \(ph.align)-byte aligned; QEMU needs 4")
                }
                guard note.descriptor.count == 8, let entry = note.descriptor.u64(0) else {
                    throw bad("the PHYS32_ENTRY descriptor is not 8 bytes")
                }
                found = entry
            }
        }
        guard let entry = found else { throw bad("no XEN_ELFNOTE_PHYS32_ENTRY note") }
        guard entry == elf.entry, entry < 1 << 32 else { throw bad("the PHYS32_ENTRY note does not name the ELF entry") }
        guard elf.loadSegments.contains(where: { $0.flags & ProgramHeader.flagX != 0
                                                 && entry >= $0.paddr && entry < $0.paddr + $0.filesz }) else {
            throw bad("the entry is not in an executable segment")
        }
    }
}
