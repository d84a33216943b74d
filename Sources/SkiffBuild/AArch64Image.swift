// AArch64Image.swift: the post-link step of the virt platform: the linked ELF → a raw arm64 Image, and its checks.
//
// Output of `skiff build --arch aarch64` (platform virt, Platforms.swift):
// OUT is the raw arm64 Image (what `qemu-system-aarch64 -kernel` and
// `skiff run` take); OUT.elf is the same image as an ELF, for debuggers,
// for QEMU's ELF loader (docs/boot-aarch64.md has the DTB caveat) and for
// tools that read notes. `skiff run` finds the notes inside the Image through
// the SKIFFIMG block that follows the Image header, so the .elf is optional.
// The header and block layouts are SkiffImage's (ARM64ImageHeader, SkiffImageBlock).

import SkiffCore

/// The raw arm64 Image: what `llvm-objcopy -O binary` makes of the ELF.
public enum AArch64Image {
    /// Where the image is linked and loaded (Guest/platform/virt/layout.h).
    public static let linkBase: UInt64 = 0x4020_0000
    /// text_offset in the Image header: linkBase - QEMU virt's RAM base.
    public static let textOffset: UInt64 = 0x20_0000

    /// Lays the file contents of every PT_LOAD at `vaddr - first vaddr`,
    /// zero-filling gaps; NOBITS tails are not part of the file (the header's
    /// image_size covers them). Segments must be in address order.
    public static func flatten(_ elf: ELFFile) throws(BuildError) -> [UInt8] {
        let loads = elf.loadSegments
        guard let first = loads.first, first.vaddr == linkBase else {
            throw BuildError("linked image: the first PT_LOAD is not at \(hex(linkBase))")
        }
        guard elf.entry == first.vaddr else {
            throw BuildError("linked image: the entry point is not the Image header")
        }
        var out: [UInt8] = []
        var last: UInt64 = first.vaddr
        for s in loads where s.filesz > 0 {
            guard s.vaddr >= last, let data = elf.bytes.slice(s.offset, s.filesz) else {
                throw BuildError("linked image: PT_LOAD segments overlap or are out of order")
            }
            let at = Int(s.vaddr - first.vaddr)
            if out.count < at { out += [UInt8](repeating: 0, count: at - out.count) }
            out += data
            last = s.vaddr + s.filesz
        }
        return out
    }

    /// Checks what the loader and `skiff run` rely on: Image magic,
    /// text_offset, image_size, the SKIFFIMG block and the notes it locates.
    public static func check(_ image: [UInt8]) throws(BuildError) {
        func bad(_ why: String) -> BuildError { BuildError("aarch64 image: \(why)") }
        guard image.count >= 0x80, ARM64ImageHeader.hasMagic(image) else {
            throw bad("no arm64 Image header")
        }
        guard image.u64(0x08) == textOffset else {
            throw bad("text_offset does not match the link address")
        }
        guard image.u64(0x10)! >= UInt64(image.count) else { throw bad("image_size too small") }
        guard SkiffImageBlock.isPresent(in: image) else { throw bad("no SKIFFIMG block") }
        let notes = SkiffImageBlock(bytes: image).noteRegions
        for n in notes where image.slice(n.offset, n.size) == nil {
            throw bad("note outside the image")
        }
        guard notes[1].size > 0 else { throw bad("no platform note") }
    }
}
