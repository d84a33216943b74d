// VirtImage.swift: recognise a Skiff aarch64 QEMU-virt image (raw arm64 Image or ELF) and read its manifest.
//
// Two forms come out of `skiff build --arch aarch64` (docs/boot-aarch64.md):
//   - the raw Image: "ARM\x64" at 0x38, then at 0x40 the SKIFFIMG block
//     giving the offsets of the MFT1 note and the Skiff platform note;
//   - the ELF next to it (OUT.elf): EM_AARCH64 with a PT_NOTE named "Skiff",
//     type "VIRT", and the usual Solo5 MFT1 note.
// Anything else is not ours (`skiff run` then treats it as an hvt image).

import SkiffCore

/// Why an aarch64 image cannot be used; `message` is one line.
public struct VirtImageError: Error, Equatable, Sendable {
    public var message: String
    init(_ m: String) { message = m }
}

/// A Skiff unikernel for QEMU's `virt` machine.
public struct VirtImage: Equatable, Sendable {
    public enum Format: Equatable, Sendable { case image, elf }
    public static let platformNoteType: UInt32 = 0x5452_4956   // "VIRT"

    public var format: Format
    /// The declared devices (an empty manifest if the image has none).
    public var manifest: Manifest

    /// True if the first bytes of a file look like a Skiff virt image
    /// (cheap: reads at most 128 bytes plus, for an ELF, its notes).
    public static func isVirtImage(path: String) -> Bool {
        guard let head = try? Host.readFile(path, limit: 128, prefixOnly: true) else { return false }
        if SkiffImageBlock.isPresent(in: head) { return true }
        guard isAArch64ELF(head), let bytes = try? ImageFile.read(path) else { return false }
        return ELFNote.all(inELF: bytes).contains { $0.name == "Skiff" && $0.type == platformNoteType }
    }

    static func isAArch64ELF(_ b: [UInt8]) -> Bool {
        b.count >= 64 && b[0..<4].elementsEqual([0x7f, 0x45, 0x4c, 0x46]) && b[4] == 2 && b[5] == 1
            && b.u16(18) == 183
    }

    /// Reads and validates the image at `path`.
    public init(path: String) throws(VirtImageError) {
        let bytes: [UInt8]
        do { bytes = try Host.readFile(path, limit: ImageFile.sizeLimit, prefixOnly: true) } catch {
            throw VirtImageError("\(path): \(error.errnoReason)")
        }
        try self.init(bytes: bytes, name: path)
    }

    public init(bytes: [UInt8], name: String) throws(VirtImageError) {
        var notes: [ELFNote]
        if SkiffImageBlock.isPresent(in: bytes) {
            format = .image
            let block = SkiffImageBlock(bytes: bytes)
            guard block.version == 1 else { throw VirtImageError("\(name): SKIFFIMG block version \(block.version) is not 1") }
            guard let found = block.notes(in: bytes) else { throw VirtImageError("\(name): a note lies outside the image") }
            notes = found
        } else if VirtImage.isAArch64ELF(bytes) {
            format = .elf
            notes = ELFNote.all(inELF: bytes)
        } else {
            throw VirtImageError("\(name): not an arm64 Image or aarch64 ELF")
        }
        guard notes.contains(where: { $0.name == "Skiff" && $0.type == VirtImage.platformNoteType }) else {
            throw VirtImageError("\(name): no Skiff platform note: not built with `skiff build --arch aarch64`")
        }
        do { manifest = try SkiffImageBlock.manifest(in: notes) } catch {
            throw VirtImageError("\(name): Solo5 manifest is invalid: \(error.reason)")
        }
    }
}
