// ARM64Image.swift: the arm64 Linux `Image` header (Documentation/arch/arm64/booting.rst) and Skiff's SKIFFIMG block after it.

/// The 64-byte header at the start of an arm64 `Image`.
///
///     0x00 code0, code1   0x08 text_offset   0x10 image_size   0x18 flags
///     0x20 res2, res3, res4                   0x38 magic "ARM\x64"   0x3c res5
public struct ARM64ImageHeader: Equatable, Sendable {
    public static let size = 64
    public static let magicOffset = 0x38
    public static let magic: [UInt8] = [0x41, 0x52, 0x4d, 0x64]   // "ARM\x64"

    public var textOffset: UInt64
    /// Bytes the image occupies from its load address (0: unknown, pre-3.17 kernels).
    public var imageSize: UInt64
    public var flags: UInt64

    /// Bit 0 of `flags`: the kernel is big-endian.
    public var isBigEndian: Bool { flags & 1 != 0 }

    /// True if `bytes` starts with something carrying the Image magic.
    public static func hasMagic(_ bytes: [UInt8]) -> Bool {
        bytes.count >= size && bytes[magicOffset..<(magicOffset + 4)].elementsEqual(magic)
    }

    /// Reads the header of `bytes`; checks the magic, endianness and that `image_size`
    /// covers the file (when given).
    public init(bytes: [UInt8]) throws(ImageError) {
        guard bytes.count >= Self.size else { throw .arm64Image("file too short for an Image header") }
        guard Self.hasMagic(bytes) else { throw .arm64Image("no ARM\\x64 magic at 0x38") }
        textOffset = bytes.u64(0x08)!
        imageSize = bytes.u64(0x10)!
        flags = bytes.u64(0x18)!
        guard !isBigEndian else { throw .arm64Image("big-endian kernel") }
        guard imageSize == 0 || imageSize >= UInt64(bytes.count) else {
            throw .arm64Image("image_size \(imageSize) is smaller than the file (\(bytes.count) bytes)")
        }
    }
}

/// Skiff's SKIFFIMG block at 0x40 of an Image built by `skiff build --arch aarch64`:
/// magic, version, then (offset, size) of the MFT1 note and of the Skiff platform note.
public struct SkiffImageBlock: Equatable, Sendable {
    public static let offset = 0x40
    public static let magic = Array("SKIFFIMG".utf8)

    public var version: UInt32
    /// The note regions it points at, in the file (each may be empty).
    public var noteRegions: [(offset: UInt64, size: UInt64)]

    public static func == (a: SkiffImageBlock, b: SkiffImageBlock) -> Bool {
        a.version == b.version && a.noteRegions.elementsEqual(b.noteRegions) { $0.offset == $1.offset && $0.size == $1.size }
    }

    /// True if `bytes` is an arm64 Image with a SKIFFIMG block.
    public static func isPresent(in bytes: [UInt8]) -> Bool {
        bytes.count >= 0x80 && ARM64ImageHeader.hasMagic(bytes)
            && bytes[offset..<(offset + 8)].elementsEqual(magic)
    }

    /// Reads the block (the caller checked `isPresent`).
    public init(bytes: [UInt8]) {
        version = bytes.u32(Self.offset + 8) ?? 0
        noteRegions = [Self.offset + 0x10, Self.offset + 0x20].map { (bytes.u64($0) ?? 0, bytes.u64($0 + 8) ?? 0) }
    }
}

extension SkiffImageBlock {
    /// The notes the block points at in `bytes` (an Image with this block); nil if a region lies outside the file.
    public func notes(in bytes: [UInt8]) -> [ELFNote]? {
        var notes: [ELFNote] = []
        for (off, size) in noteRegions where size > 0 {
            guard let region = bytes.slice(off, size) else { return nil }
            notes += ELFNote.parse(region)
        }
        return notes
    }

    /// The Solo5 MFT1 manifest among `notes` (an empty manifest if there is none).
    public static func manifest(in notes: [ELFNote]) throws(ManifestError) -> Manifest {
        guard let m = notes.first(where: { $0.name == "Solo5" && $0.type == ELFImage.manifestNoteType }) else {
            return Manifest(devices: [])
        }
        // MFT1: the descriptor is 8-aligned, so its first 4 bytes are padding.
        guard m.descriptor.count >= 12 else { throw ManifestError(reason: "descriptor of \(m.descriptor.count) bytes") }
        return try Manifest(descriptor: Array(m.descriptor[4...]))
    }
}
