// ELFImage.swift: parse and validate an hvt unikernel ELF (header, program headers, Solo5 notes), spec §2–3.

/// The machine an image is built for.
public enum GuestArchitecture: String, Sendable, CaseIterable {
    case x86_64, aarch64
    public var elfMachine: UInt16 { self == .x86_64 ? 62 : 183 }
}

/// Why an image was refused. `message` is the one line the monitor prints
/// after `<file>: `; wording follows upstream solo5-hvt (spec §2–3).
public enum ImageError: Error, Equatable, Sendable {
    case cannotOpen(String)
    case invalidHeader(String)
    case noABINote
    case wrongTarget(UInt32)
    case unsupportedABIVersion(UInt32)
    case noManifest
    case invalidManifest(String)
    case noteSize(String)
    case segment(String)
    case entry(UInt64, UInt64)

    public var message: String {
        switch self {
        case .cannotOpen(let e): return "Could not open: \(e)"
        case .invalidHeader(let why): return "invalid or unsupported executable (\(why))"
        case .noABINote: return "No Solo5 ABI information found in executable"
        case .wrongTarget: return "Executable is not for the solo5-hvt target"
        case .unsupportedABIVersion(let v): return "Executable requests unsupported ABI version \(v)"
        case .noManifest: return "No Solo5 manifest found in executable"
        case .invalidManifest(let why): return "Solo5 manifest is invalid (\(why))"
        case .noteSize(let why): return why
        case .segment(let why): return why
        case .entry(let e, let m):
            return "e_entry does not fall within the memory allocation range (\(hex(e)) not in [\(hex(hvtGuestMinBase)), \(hex(m))))"
        }
    }
}

/// `HVT_GUEST_MIN_BASE`: nothing is loaded below 1 MiB.
public let hvtGuestMinBase: UInt64 = 0x100000
/// Architectural page size used for segment alignment checks.
public let hvtPageSize: UInt64 = 0x1000

public struct ProgramHeader: Equatable, Sendable {
    public static let load: UInt32 = 1, note: UInt32 = 4
    public static let flagX: UInt32 = 1, flagW: UInt32 = 2, flagR: UInt32 = 4
    public var type: UInt32, flags: UInt32
    public var offset: UInt64, vaddr: UInt64, paddr: UInt64
    public var filesz: UInt64, memsz: UInt64, align: UInt64
}

/// A parsed ELF file whose header and program-header table passed the checks of spec §2.2.
public struct ELFImage: Sendable {
    public let bytes: [UInt8]
    public let machine: UInt16
    public let entry: UInt64
    public let programHeaders: [ProgramHeader]

    /// Parses and validates the header for an image meant for `arch`.
    public init(bytes: [UInt8], arch: GuestArchitecture) throws(ImageError) {
        try self.init(bytes: bytes, machines: [arch.elfMachine])
        _ = arch
    }

    /// Parses and validates the header, accepting any of `machines`.
    public init(bytes: [UInt8], machines: [UInt16]) throws(ImageError) {
        self.bytes = bytes
        guard bytes.count >= 64 else { throw .invalidHeader("file too short for an ELF header") }
        guard bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else {
            throw .invalidHeader("not an ELF file")
        }
        guard bytes[4] == 2 else { throw .invalidHeader("not ELFCLASS64") }
        guard bytes[5] == 1 else { throw .invalidHeader("not little-endian") }
        guard bytes.u32(20) == 1 else { throw .invalidHeader("e_version is not EV_CURRENT") }
        guard bytes.u16(52) == 64 else { throw .invalidHeader("bad e_ehsize") }
        guard bytes.u16(54) == 56 else { throw .invalidHeader("bad e_phentsize") }
        let phnum = Int(bytes.u16(56)!)
        guard phnum >= 1 else { throw .invalidHeader("no program headers") }
        guard bytes.u16(16) == 2 else { throw .invalidHeader("not ET_EXEC") }
        let machine = bytes.u16(18)!
        guard machines.contains(machine) else { throw .invalidHeader("wrong e_machine \(machine)") }
        let phoff = bytes.u64(32)!
        guard let table = bytes.slice(phoff, UInt64(phnum) * 56) else {
            throw .invalidHeader("program headers outside the file")
        }
        var phs: [ProgramHeader] = []
        phs.reserveCapacity(phnum)
        for i in 0..<phnum {
            let o = i * 56
            phs.append(ProgramHeader(
                type: table.u32(o)!, flags: table.u32(o + 4)!, offset: table.u64(o + 8)!,
                vaddr: table.u64(o + 16)!, paddr: table.u64(o + 24)!, filesz: table.u64(o + 32)!,
                memsz: table.u64(o + 40)!, align: table.u64(o + 48)!))
        }
        self.machine = machine
        self.entry = bytes.u64(24)!
        self.programHeaders = phs
    }

    public var architecture: GuestArchitecture? {
        GuestArchitecture.allCases.first { $0.elfMachine == machine }
    }

    // MARK: Notes (spec §3.1)

    /// Finds the first Solo5 note of `type` and returns its usable descriptor
    /// (padding removed), or nil if there is none. Malformed candidate notes throw.
    public func solo5Note(type: UInt32, alignment: UInt64, maxSize: UInt32) throws(ImageError) -> [UInt8]? {
        for (i, ph) in programHeaders.enumerated() where ph.type == ProgramHeader.note {
            if ph.filesz < 12 {
                throw .noteSize("phdr[\(i)] p_filesz note does not fall within valid size (\(ph.filesz) < 12)")
            }
            if ph.filesz < 20 { continue }
            guard let head = bytes.slice(ph.offset, 20) else {
                throw .invalidHeader("phdr[\(i)] note outside the file")
            }
            let namesz = head.u32(0)!, descsz = head.u32(4)!, ntype = head.u32(8)!
            guard namesz == 6, head[12..<18].elementsEqual([0x53, 0x6f, 0x6c, 0x6f, 0x35, 0]) else { continue }
            guard ntype == type else { continue }
            guard descsz >= 1, descsz <= maxSize else {
                throw .noteSize("phdr[\(i)] note does not fall within valid size (n_descsz \(descsz) not in [1, \(maxSize)])")
            }
            guard ph.filesz >= 20 + UInt64(descsz) else {
                throw .noteSize("phdr[\(i)] note does not fall within valid size (p_filesz \(ph.filesz) < \(20 + UInt64(descsz)))")
            }
            let descOffset = (20 + alignment - 1) & ~(alignment - 1)
            let pad = descOffset - 20
            guard UInt64(descsz) > pad else {
                throw .noteSize("INV_EXE: phdr[\(i)] note does not fall within valid size (n_descsz \(descsz) <= padding \(pad))")
            }
            let usable = UInt64(descsz) - pad
            guard let desc = bytes.slice(ph.offset &+ descOffset, usable) else {
                throw .invalidHeader("phdr[\(i)] note descriptor outside the file")
            }
            return desc
        }
        return nil
    }

    /// Reads and checks the ABI1 note: target hvt (1), version 2.
    public func checkABINote() throws(ImageError) {
        guard var d = try solo5Note(type: 0x3149_4241, alignment: 4, maxSize: 32) else { throw .noABINote }
        while d.count < 16 { d.append(0) }
        let target = d.u32(0)!, version = d.u32(4)!
        guard target == 1 else { throw .wrongTarget(target) }
        guard version == 2 else { throw .unsupportedABIVersion(version) }
    }

    /// Reads and validates the MFT1 note (spec §3.3).
    public func manifest() throws(ImageError) -> Manifest {
        guard let d = try solo5Note(type: 0x3154_464d, alignment: 8, maxSize: Manifest.maxNoteDescriptorSize) else {
            throw .noManifest
        }
        do { return try Manifest(descriptor: d) } catch { throw .invalidManifest(error.reason) }
    }
}
