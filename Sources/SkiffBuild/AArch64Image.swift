// AArch64Image.swift: the post-link step of the virt platform: the linked ELF → a raw arm64 Image, and its checks.
//
// Output of `skiff build --arch aarch64` (platform virt, Platforms.swift):
// OUT is the raw arm64 Image (what `qemu-system-aarch64 -kernel` and
// `skiff run` take); OUT.elf is the same image as an ELF, for debuggers,
// for QEMU's ELF loader (docs/boot-aarch64.md has the DTB caveat) and for
// tools that read notes. `skiff run` finds the notes inside the Image through
// the SKIFFIMG block that follows the Image header, so the .elf is optional.

/// The raw arm64 Image: what `llvm-objcopy -O binary` makes of the ELF.
public enum AArch64Image {
    /// Where the image is linked and loaded (Guest/platform/virt/layout.h).
    public static let linkBase: UInt64 = 0x4020_0000
    /// text_offset in the Image header: linkBase - QEMU virt's RAM base.
    public static let textOffset: UInt64 = 0x20_0000
    /// Offsets of the Image header fields (Linux booting.rst) and of the
    /// Skiff info block that follows it (Guest/platform/virt/layout.h).
    public static let textOffsetField = 0x08, imageSizeField = 0x10, magicField = 0x38
    public static let infoOffset = 0x40
    public static let magic: [UInt8] = [0x41, 0x52, 0x4d, 0x64]                    // "ARM\x64"
    public static let infoMagic: [UInt8] = Array("SKIFFIMG".utf8)

    /// Lays the file contents of every PT_LOAD at `vaddr - first vaddr`,
    /// zero-filling gaps; NOBITS tails are not part of the file (the header's
    /// image_size covers them). Segments must be in address order.
    public static func flatten(_ elf: ELFFile) throws(BuildError) -> [UInt8] {
        let loads = elf.loadSegments
        guard let first = loads.first, first.vaddr == linkBase else {
            throw BuildError("linked image: the first PT_LOAD is not at 0x\(String(linkBase, radix: 16))")
        }
        guard elf.entry == first.vaddr else {
            throw BuildError("linked image: the entry point is not the Image header")
        }
        var out: [UInt8] = []
        var last: UInt64 = first.vaddr
        for s in loads where s.filesz > 0 {
            guard s.vaddr >= last, s.offset + s.filesz <= UInt64(elf.bytes.count) else {
                throw BuildError("linked image: PT_LOAD segments overlap or are out of order")
            }
            let at = Int(s.vaddr - first.vaddr)
            if out.count < at { out += [UInt8](repeating: 0, count: at - out.count) }
            out += elf.bytes[Int(s.offset)..<Int(s.offset + s.filesz)]
            last = s.vaddr + s.filesz
        }
        return out
    }

    /// Checks what the loader and `skiff run` rely on: Image magic,
    /// text_offset, image_size, the SKIFFIMG block and the notes it locates.
    public static func check(_ image: [UInt8]) throws(BuildError) {
        func bad(_ why: String) -> BuildError { BuildError("aarch64 image: \(why)") }
        guard image.count >= 0x80, Array(image[magicField..<(magicField + 4)]) == magic else {
            throw bad("no arm64 Image header")
        }
        guard image.le64(at: textOffsetField) == textOffset else {
            throw bad("text_offset does not match the link address")
        }
        guard image.le64(at: imageSizeField) >= UInt64(image.count) else { throw bad("image_size too small") }
        guard Array(image[infoOffset..<(infoOffset + 8)]) == infoMagic else { throw bad("no SKIFFIMG block") }
        for field in [infoOffset + 0x10, infoOffset + 0x20] {
            let off = image.le64(at: field), size = image.le64(at: field + 8)
            guard off + size <= UInt64(image.count) else { throw bad("note outside the image") }
        }
        guard image.le64(at: infoOffset + 0x28) > 0 else { throw bad("no platform note") }
    }
}
