// VirtImage.swift: recognise a Skiff aarch64 QEMU-virt image (raw arm64 Image or ELF) and read its manifest.
//
// Two forms come out of `skiff build --arch aarch64` (docs/boot-aarch64.md):
//   - the raw Image: "ARM\x64" at 0x38, then at 0x40 the SKIFFIMG block
//     giving the offsets of the MFT1 note and the Skiff platform note;
//   - the ELF next to it (OUT.elf): EM_AARCH64 with a PT_NOTE named "Skiff",
//     type "VIRT", and the usual Solo5 MFT1 note.
// Anything else is not ours (`skiff run` then treats it as an hvt image).

import Glibc
import SkiffCore

/// Why an aarch64 image cannot be used; `message` is one line.
public struct VirtImageError: Error, Equatable, Sendable {
    public var message: String
    init(_ m: String) { message = m }
}

/// A Skiff unikernel for QEMU's `virt` machine.
public struct VirtImage: Equatable, Sendable {
    public enum Format: Equatable, Sendable { case image, elf }
    public static let infoOffset = 0x40
    public static let platformNoteType: UInt32 = 0x5452_4956   // "VIRT"
    public static let mft1Type: UInt32 = 0x3154_464d           // "MFT1"

    public var format: Format
    /// The declared devices (an empty manifest if the image has none).
    public var manifest: Manifest

    /// True if the first bytes of a file look like a Skiff virt image
    /// (cheap: reads at most 128 bytes plus, for an ELF, its notes).
    public static func isVirtImage(path: String) -> Bool {
        guard let head = readFile(path, limit: 128) else { return false }
        if isRawImage(head) { return true }
        guard isAArch64ELF(head), let bytes = readFile(path, limit: 1 << 30) else { return false }
        return elfNotes(bytes).contains { $0.name == "Skiff" && $0.type == platformNoteType }
    }

    static func isRawImage(_ b: [UInt8]) -> Bool {
        b.count >= 0x80 && b[0x38..<0x3c].elementsEqual([0x41, 0x52, 0x4d, 0x64])
            && b[0x40..<0x48].elementsEqual(Array("SKIFFIMG".utf8))
    }

    static func isAArch64ELF(_ b: [UInt8]) -> Bool {
        b.count >= 64 && b[0..<4].elementsEqual([0x7f, 0x45, 0x4c, 0x46]) && b[4] == 2 && b[5] == 1
            && b.u16(18) == 183
    }

    /// Reads and validates the image at `path`.
    public init(path: String) throws(VirtImageError) {
        guard let bytes = VirtImage.readFile(path, limit: 1 << 30) else {
            throw VirtImageError("\(path): \(String(cString: strerror(errno)))")
        }
        try self.init(bytes: bytes, name: path)
    }

    public init(bytes: [UInt8], name: String) throws(VirtImageError) {
        var notes: [Note]
        if VirtImage.isRawImage(bytes) {
            format = .image
            let version = bytes.u32(VirtImage.infoOffset + 8) ?? 0
            guard version == 1 else { throw VirtImageError("\(name): SKIFFIMG block version \(version) is not 1") }
            notes = []
            for field in [VirtImage.infoOffset + 0x10, VirtImage.infoOffset + 0x20] {
                let off = bytes.u64(field) ?? 0, size = bytes.u64(field + 8) ?? 0
                guard size > 0 else { continue }
                guard let region = bytes.slice(off, size) else {
                    throw VirtImageError("\(name): a note lies outside the image")
                }
                notes += VirtImage.parseNotes(region)
            }
        } else if VirtImage.isAArch64ELF(bytes) {
            format = .elf
            notes = VirtImage.elfNotes(bytes)
        } else {
            throw VirtImageError("\(name): not an arm64 Image or aarch64 ELF")
        }
        guard notes.contains(where: { $0.name == "Skiff" && $0.type == VirtImage.platformNoteType }) else {
            throw VirtImageError("\(name): no Skiff platform note: not built with `skiff build --arch aarch64`")
        }
        if let m = notes.first(where: { $0.name == "Solo5" && $0.type == VirtImage.mft1Type }) {
            // MFT1: the descriptor is 8-aligned, so its first 4 bytes are padding.
            guard m.descriptor.count >= 12 else { throw VirtImageError("\(name): Solo5 manifest is invalid") }
            do { manifest = try Manifest(descriptor: Array(m.descriptor[4...])) } catch {
                throw VirtImageError("\(name): Solo5 manifest is invalid: \(error.reason)")
            }
        } else {
            manifest = Manifest(devices: [])
        }
    }

    struct Note: Equatable {
        var name: String
        var type: UInt32
        var descriptor: [UInt8]
    }

    /// Walks 4-aligned ELF notes in `region` (stops at the first malformed one).
    static func parseNotes(_ region: [UInt8]) -> [Note] {
        var out: [Note] = []
        var o = 0
        while o + 12 <= region.count {
            let namesz = Int(region.u32(o)!), descsz = Int(region.u32(o + 4)!), type = region.u32(o + 8)!
            let nameEnd = o + 12 + namesz
            let descStart = o + 12 + ((namesz + 3) & ~3)
            guard namesz <= 64, descsz <= 1 << 20, descStart + descsz <= region.count else { break }
            let name = String(decoding: region[(o + 12)..<nameEnd].prefix { $0 != 0 }, as: UTF8.self)
            out.append(Note(name: name, type: type, descriptor: Array(region[descStart..<(descStart + descsz)])))
            o = descStart + ((descsz + 3) & ~3)
        }
        return out
    }

    static func elfNotes(_ b: [UInt8]) -> [Note] {
        guard let phoff = b.u64(32), let phentsize = b.u16(54), let phnum = b.u16(56), phentsize == 56 else { return [] }
        var out: [Note] = []
        for i in 0..<Int(phnum) {
            let p = Int(phoff) + i * 56
            guard let type = b.u32(p), type == 4, let off = b.u64(p + 8), let size = b.u64(p + 32),
                  let region = b.slice(off, size) else { continue }
            out += parseNotes(region)
        }
        return out
    }

    static func readFile(_ path: String, limit: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)  // a FIFO must not block
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            errno = EINVAL
            return nil
        }
        let n = min(Int(st.st_size), limit)
        var bytes = [UInt8](repeating: 0, count: n)
        var done = 0
        while done < n {
            let r = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, n - done) }
            if r < 0 && errno == EINTR { continue }
            guard r > 0 else { return nil }
            done += r
        }
        return bytes
    }
}

// Little-endian reads, nil when out of range (SkiffCore's are internal to it).
extension Array where Element == UInt8 {
    fileprivate func le<T: FixedWidthInteger>(_: T.Type, _ offset: Int) -> T? {
        let n = MemoryLayout<T>.size
        guard offset >= 0, offset <= count - n else { return nil }
        var v: T = 0
        for i in (0..<n).reversed() { v = (v << 8) | T(self[offset + i]) }
        return v
    }
    fileprivate func u16(_ o: Int) -> UInt16? { le(UInt16.self, o) }
    fileprivate func u32(_ o: Int) -> UInt32? { le(UInt32.self, o) }
    fileprivate func u64(_ o: Int) -> UInt64? { le(UInt64.self, o) }
    fileprivate func slice(_ offset: UInt64, _ length: UInt64) -> [UInt8]? {
        let (end, o) = offset.addingReportingOverflow(length)
        guard !o, end <= UInt64(count) else { return nil }
        return Array(self[Int(offset)..<Int(end)])
    }
}
