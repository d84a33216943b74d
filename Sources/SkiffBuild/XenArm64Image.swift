// XenArm64Image.swift: the post-link checks of the arm64 Xen platform's image (a self-relocating arm64 Image).
//
// Output of `skiff build --arch aarch64 --platform xen` (Platforms.swift):
// OUT is the raw arm64 Image (Xen's dom0 kernel or a dom0less domU's
// "multiboot,kernel" module), OUT.elf the linked static PIE. Xen loads the
// Image at its RAM bank's start + text_offset, which for dom0 is not where
// it was linked: Guest/platform/xen/aarch64/head.S then applies .rela.dyn,
// and can apply only R_AARCH64_RELATIVE entries. docs/platform-xen.md.

import SkiffCore

public enum XenArm64Image {
    /// text_offset in the Image header (Guest/platform/xen/aarch64/layout.h).
    public static let textOffset: UInt64 = 0x20_0000
    /// R_AARCH64_RELATIVE, the one dynamic relocation head.S applies.
    public static let relative: UInt32 = 1027

    /// Every entry of .rela.dyn must be R_AARCH64_RELATIVE (head.S stops on
    /// anything else, before it can print).
    public static func checkRelocations(_ elf: ELFFile) throws(BuildError) {
        guard let rela = elf.section(".rela.dyn") else { return }
        guard rela.size % 24 == 0, let bytes = elf.bytes.slice(rela.offset, rela.size) else {
            throw BuildError("Xen arm64 image: .rela.dyn is malformed")
        }
        for i in stride(from: 0, to: bytes.count, by: 24) {
            let type = UInt32(truncatingIfNeeded: bytes.u64(i + 8)!)
            guard type == relative else {
                throw BuildError("Xen arm64 image: a dynamic relocation of type \(type) at \(hex(bytes.u64(i)!)) "
                                 + "(only R_AARCH64_RELATIVE can be applied at start)")
            }
        }
    }

    /// Checks what Xen's loader relies on: the Image magic, text_offset, and
    /// an image_size covering the file (and the NOBITS tail after it).
    public static func check(_ image: [UInt8]) throws(BuildError) {
        func bad(_ why: String) -> BuildError { BuildError("Xen arm64 image: \(why)") }
        guard image.count >= 0x40, ARM64ImageHeader.hasMagic(image) else { throw bad("no arm64 Image header") }
        guard image.u64(0x08) == textOffset else { throw bad("text_offset is not \(hex(textOffset))") }
        guard image.u64(0x10)! >= UInt64(image.count) else { throw bad("image_size too small") }
    }
}
