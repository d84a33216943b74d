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
        guard let phoff = b.u64(32), let phentsize = b.u16(54), let phnum = b.u16(56),
              phentsize == ProgramHeader.size, phoff <= UInt64(b.count) else { return [] }
        var out: [ELFNote] = []
        for i in 0..<Int(phnum) {
            guard let ph = ProgramHeader(b, at: Int(phoff) + i * ProgramHeader.size), ph.type == ProgramHeader.note,
                  let region = b.slice(ph.offset, ph.filesz) else { continue }
            out += parse(region)
        }
        return out
    }

    /// The note as it sits in a file: namesz, descsz, type, the NUL-terminated
    /// name and the descriptor, each padded to 4 bytes (what `parse` reads).
    public var bytes: [UInt8] {
        let nameBytes = Array(name.utf8) + [0]
        var b: [UInt8] = []
        b.appendLE(UInt32(nameBytes.count))
        b.appendLE(UInt32(descriptor.count))
        b.appendLE(type)
        b += nameBytes + [UInt8](repeating: 0, count: (4 - nameBytes.count % 4) % 4)
        b += descriptor + [UInt8](repeating: 0, count: (4 - descriptor.count % 4) % 4)
        return b
    }
}
