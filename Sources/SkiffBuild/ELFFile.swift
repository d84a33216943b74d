// ELFFile.swift: just enough ELF64 reading and patching for the post-link step of `skiff build`.

/// A little-endian ELF64 file held in memory: its program headers and named
/// section headers, and byte patching by virtual address. Only what the
/// linker we drive produces needs to be understood; anything unexpected is an
/// error, not a guess.
public struct ELFFile {
    public struct Segment: Equatable, Sendable {
        public static let load: UInt32 = 1, note: UInt32 = 4, interp: UInt32 = 3
        public static let flagX: UInt32 = 1, flagW: UInt32 = 2, flagR: UInt32 = 4
        public var type: UInt32
        public var flags: UInt32
        public var offset: UInt64
        public var vaddr: UInt64
        public var filesz: UInt64
        public var memsz: UInt64
        public var align: UInt64

        public init(type: UInt32, flags: UInt32, offset: UInt64 = 0, vaddr: UInt64,
                    filesz: UInt64, memsz: UInt64, align: UInt64 = 0x1000) {
            self.type = type; self.flags = flags; self.offset = offset; self.vaddr = vaddr
            self.filesz = filesz; self.memsz = memsz; self.align = align
        }
    }

    public struct Section: Equatable, Sendable {
        public var name: String
        public var type: UInt32
        public var address: UInt64
        public var offset: UInt64
        public var size: UInt64
        public var link: UInt32
    }

    public var bytes: [UInt8]
    public private(set) var entry: UInt64 = 0
    public private(set) var segments: [Segment] = []
    public private(set) var sections: [Section] = []

    public init(bytes: [UInt8]) throws(BuildError) {
        self.bytes = bytes
        func bad(_ why: String) -> BuildError { BuildError("linked image: \(why)") }
        guard bytes.count >= 64, bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46
        else { throw bad("not an ELF file") }
        guard bytes[4] == 2, bytes[5] == 1 else { throw bad("not little-endian ELF64") }
        entry = bytes.le64(at: 24)
        let phoff = Int(bytes.le64(at: 32)), shoff = Int(bytes.le64(at: 40))
        let phentsize = Int(bytes.le16(at: 54)), phnum = Int(bytes.le16(at: 56))
        let shentsize = Int(bytes.le16(at: 58)), shnum = Int(bytes.le16(at: 60))
        let shstrndx = Int(bytes.le16(at: 62))
        guard phentsize == 56, phoff >= 0, phoff + phnum * 56 <= bytes.count else { throw bad("bad program headers") }
        for i in 0..<phnum {
            let o = phoff + i * 56
            segments.append(Segment(type: bytes.le32(at: o), flags: bytes.le32(at: o + 4),
                                    offset: bytes.le64(at: o + 8), vaddr: bytes.le64(at: o + 16),
                                    filesz: bytes.le64(at: o + 32), memsz: bytes.le64(at: o + 40),
                                    align: bytes.le64(at: o + 48)))
        }
        guard shnum == 0 || (shentsize == 64 && shoff + shnum * 64 <= bytes.count && shstrndx < shnum)
        else { throw bad("bad section headers") }
        var raw: [(nameOff: Int, type: UInt32, addr: UInt64, off: UInt64, size: UInt64, link: UInt32)] = []
        for i in 0..<shnum {
            let o = shoff + i * 64
            raw.append((Int(bytes.le32(at: o)), bytes.le32(at: o + 4), bytes.le64(at: o + 16),
                        bytes.le64(at: o + 24), bytes.le64(at: o + 32), bytes.le32(at: o + 40)))
        }
        if shnum > 0 {
            let strtab = raw[shstrndx]
            for s in raw {
                var end = Int(strtab.off) + s.nameOff
                let start = end
                while end < bytes.count, end < Int(strtab.off + strtab.size), bytes[end] != 0 { end += 1 }
                let name = String(decoding: bytes[min(start, bytes.count)..<end], as: UTF8.self)
                guard s.type == 8 || s.off + s.size <= UInt64(bytes.count) else { throw bad("section \(name) beyond the file") }
                sections.append(Section(name: name, type: s.type, address: s.addr, offset: s.off,
                                        size: s.size, link: s.link))
            }
        }
    }

    /// The section called `name`, if any.
    public func section(_ name: String) -> Section? {
        sections.first { $0.name == name }
    }

    /// The value of the symbol `name` from `.symtab`, if present.
    public func symbol(_ name: String) -> UInt64? {
        guard let symtab = sections.first(where: { $0.type == 2 /* SHT_SYMTAB */ }),
              Int(symtab.link) < sections.count else { return nil }
        let strtab = sections[Int(symtab.link)]
        let want = Array(name.utf8)
        var o = Int(symtab.offset)
        let end = Int(symtab.offset + symtab.size)
        while o + 24 <= end {
            let nameOff = Int(strtab.offset) + Int(bytes.le32(at: o))
            if nameOff + want.count < bytes.count, bytes[nameOff + want.count] == 0,
               bytes[nameOff..<(nameOff + want.count)].elementsEqual(want) {
                return bytes.le64(at: o + 8)
            }
            o += 24
        }
        return nil
    }

    /// The PT_LOAD segments in header order.
    public var loadSegments: [Segment] { segments.filter { $0.type == Segment.load } }

    /// Overwrites the file bytes backing `[address, address + data.count)`,
    /// which must lie inside the file part of one section.
    public mutating func patch(address: UInt64, with data: [UInt8]) throws(BuildError) {
        guard let s = sections.first(where: {
            $0.type != 8 /* SHT_NOBITS */ && $0.address <= address
                && address + UInt64(data.count) <= $0.address + $0.size
        }) else {
            throw BuildError("linked image: no file bytes at 0x\(String(address, radix: 16)) (+\(data.count))")
        }
        let o = Int(s.offset + (address - s.address))
        bytes.replaceSubrange(o..<(o + data.count), with: data)
    }
}
