// ELFNote.swift: lenient walking of ELF notes (name, type, descriptor), in a note region or all PT_NOTEs of a file.

/// One ELF note. Names and descriptors are 4-byte aligned, as in every
/// note Skiff reads or writes (the strict Solo5 lookup is `ELFImage.solo5Note`).
public struct ELFNote: Equatable, Sendable {
    public var name: String
    public var type: UInt32
    public var descriptor: [UInt8]

    public init(name: String, type: UInt32, descriptor: [UInt8]) {
        self.name = name
        self.type = type
        self.descriptor = descriptor
    }

    /// The notes in `region`, stopping at the first malformed one.
    public static func parse(_ region: [UInt8]) -> [ELFNote] {
        var out: [ELFNote] = []
        var o = 0
        while o + 12 <= region.count {
            let namesz = Int(region.u32(o)!), descsz = Int(region.u32(o + 4)!), type = region.u32(o + 8)!
            let nameEnd = o + 12 + namesz
            let descStart = o + 12 + ((namesz + 3) & ~3)
            guard namesz <= 64, descsz <= 1 << 20, descStart + descsz <= region.count else { break }
            let name = String(decoding: region[(o + 12)..<nameEnd].prefix { $0 != 0 }, as: UTF8.self)
            out.append(ELFNote(name: name, type: type, descriptor: Array(region[descStart..<(descStart + descsz)])))
            o = descStart + ((descsz + 3) & ~3)
        }
        return out
    }

    /// The notes of every PT_NOTE segment of an ELF64 file, without validating
    /// anything else (for recognising images before the checks).
    public static func all(inELF b: [UInt8]) -> [ELFNote] {
        guard let phoff = b.u64(32), let phentsize = b.u16(54), let phnum = b.u16(56), phentsize == 56 else { return [] }
        var out: [ELFNote] = []
        for i in 0..<Int(phnum) {
            let p = Int(phoff) + i * 56
            guard let type = b.u32(p), type == ProgramHeader.note, let off = b.u64(p + 8), let size = b.u64(p + 32),
                  let region = b.slice(off, size) else { continue }
            out += parse(region)
        }
        return out
    }
}
