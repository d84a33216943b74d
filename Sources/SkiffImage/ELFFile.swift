// ELFFile.swift: a lenient ELF64 little-endian reader: program headers, named sections, .symtab symbols, byte patching by address.

/// Any little-endian ELF64 file held in memory (any type, any machine): its
/// program headers, its section headers with their names, and symbol lookup.
/// Unlike `ELFImage` it checks only what it reads, so it suits files that are
/// not (yet) loadable, such as `skiff build`'s linked image before the
/// post-link step; every offset it follows is bounds-checked.
public struct ELFFile: Sendable {
    public struct Section: Equatable, Sendable {
        public static let symtab: UInt32 = 2, nobits: UInt32 = 8
        /// e_shentsize for ELF64.
        public static let size = 64
        public var name: String
        public var type: UInt32
        public var address: UInt64
        public var offset: UInt64
        public var size: UInt64
        public var link: UInt32

        public init(name: String, type: UInt32, address: UInt64, offset: UInt64, size: UInt64, link: UInt32) {
            self.name = name; self.type = type; self.address = address; self.offset = offset
            self.size = size; self.link = link
        }
    }

    public private(set) var bytes: [UInt8]
    /// e_type (2: ET_EXEC) and e_machine (`GuestArchitecture.elfMachine`).
    public let type: UInt16
    public let machine: UInt16
    public let entry: UInt64
    public let programHeaders: [ProgramHeader]
    public let sections: [Section]

    /// True if `b` starts with the identification of a little-endian ELF64 file.
    public static func isELF64LE(_ b: [UInt8]) -> Bool {
        b.count >= 64 && b[0] == 0x7f && b[1] == 0x45 && b[2] == 0x4c && b[3] == 0x46 && b[4] == 2 && b[5] == 1
    }

    /// Reads the headers. Throws `.invalidHeader` with one of: not an ELF file,
    /// not little-endian ELF64, bad program headers, bad section headers,
    /// section NAME beyond the file.
    public init(bytes: [UInt8]) throws(ImageError) {
        guard bytes.count >= 64, bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46
        else { throw .invalidHeader("not an ELF file") }
        guard Self.isELF64LE(bytes) else { throw .invalidHeader("not little-endian ELF64") }
        self.bytes = bytes
        type = bytes.u16(16)!
        machine = bytes.u16(18)!
        entry = bytes.u64(24)!
        let phoff = bytes.u64(32)!, shoff = bytes.u64(40)!
        let phentsize = Int(bytes.u16(54)!), phnum = Int(bytes.u16(56)!)
        let shentsize = Int(bytes.u16(58)!), shnum = Int(bytes.u16(60)!), shstrndx = Int(bytes.u16(62)!)

        guard phentsize == ProgramHeader.size, let phTable = bytes.slice(phoff, UInt64(phnum * ProgramHeader.size))
        else { throw .invalidHeader("bad program headers") }
        programHeaders = (0..<phnum).map { ProgramHeader(phTable, at: $0 * ProgramHeader.size)! }

        guard shnum == 0 || (shentsize == Section.size && shstrndx < shnum),
              let shTable = bytes.slice(shoff, UInt64(shnum * Section.size))
        else { throw .invalidHeader("bad section headers") }
        var raw: [(nameOffset: UInt32, section: Section)] = []
        for i in 0..<shnum {
            let o = i * Section.size
            raw.append((shTable.u32(o)!, Section(name: "", type: shTable.u32(o + 4)!, address: shTable.u64(o + 16)!,
                                                 offset: shTable.u64(o + 24)!, size: shTable.u64(o + 32)!,
                                                 link: shTable.u32(o + 40)!)))
        }
        var sections: [Section] = []
        for (nameOffset, section) in raw {
            var s = section
            s.name = Self.string(in: bytes, table: raw[shstrndx].section, at: nameOffset)
            guard s.type == Section.nobits || bytes.slice(s.offset, s.size) != nil else {
                throw .invalidHeader("section \(s.name) beyond the file")
            }
            sections.append(s)
        }
        self.sections = sections
    }

    /// The NUL-terminated string at `offset` of the string table `table`,
    /// cut at the table's end (empty if it starts outside it).
    static func string(in bytes: [UInt8], table: Section, at offset: UInt32) -> String {
        let tableEnd = min(table.offset.addingReportingOverflow(table.size).overflow ? UInt64.max : table.offset + table.size,
                           UInt64(bytes.count))
        let (start, o) = table.offset.addingReportingOverflow(UInt64(offset))
        guard !o, start < tableEnd else { return "" }
        let region = bytes[Int(start)..<Int(tableEnd)]
        return String(decoding: region.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// The section called `name`, if any.
    public func section(_ name: String) -> Section? {
        sections.first { $0.name == name }
    }

    /// The value of the symbol `name` from `.symtab`, if present.
    public func symbol(_ name: String) -> UInt64? {
        guard let symtab = sections.first(where: { $0.type == Section.symtab }),
              Int(symtab.link) < sections.count,
              let entries = bytes.slice(symtab.offset, symtab.size) else { return nil }
        let strtab = sections[Int(symtab.link)]
        var o = 0
        while o + 24 <= entries.count {
            if Self.string(in: bytes, table: strtab, at: entries.u32(o)!) == name { return entries.u64(o + 8)! }
            o += 24
        }
        return nil
    }

    /// The PT_LOAD program headers in header order.
    public var loadSegments: [ProgramHeader] { programHeaders.filter { $0.type == ProgramHeader.load } }

    /// Overwrites the file bytes backing `[address, address + data.count)`, which
    /// must lie inside the file part of one section; false (nothing written) if not.
    public mutating func patch(address: UInt64, with data: [UInt8]) -> Bool {
        let (end, o) = address.addingReportingOverflow(UInt64(data.count))
        guard !o, let s = sections.first(where: {
            $0.type != Section.nobits && $0.address <= address && end <= $0.address &+ $0.size
        }) else { return false }
        let at = Int(s.offset + (address - s.address))
        bytes.replaceSubrange(at..<(at + data.count), with: data)
        return true
    }
}
