// ELFImage.swift: parse and validate an ELF64 executable's header and program headers (spec §2.2), for every architecture.

/// The machine an image is built for.
public enum GuestArchitecture: String, Sendable, CaseIterable {
    case x86_64, aarch64
    public var elfMachine: UInt16 { self == .x86_64 ? 62 : 183 }

    /// The architecture this process runs on (guests run natively on it).
    #if arch(x86_64)
    public static let host: GuestArchitecture = .x86_64
    #elseif arch(arm64)
    public static let host: GuestArchitecture = .aarch64
    #endif
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
    case entry(UInt64, min: UInt64, max: UInt64)
    /// An arm64 Image header that cannot be used (docs/boot-aarch64.md).
    case arm64Image(String)

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
        case .entry(let e, let lo, let m):
            return "e_entry does not fall within the memory allocation range (\(hex(e)) not in [\(hex(lo)), \(hex(m))))"
        case .arm64Image(let why): return "invalid arm64 Image (\(why))"
        }
    }
}

/// One ELF64 program header (56 bytes). Parsed by `init?(_:at:)` alone, for
/// `ELFImage` (strict), `ELFFile` (sections, symbols) and `ELFNote.all`.
public struct ProgramHeader: Equatable, Sendable {
    public static let load: UInt32 = 1, interp: UInt32 = 3, note: UInt32 = 4
    public static let flagX: UInt32 = 1, flagW: UInt32 = 2, flagR: UInt32 = 4
    /// e_phentsize for ELF64.
    public static let size = 56
    public var type: UInt32, flags: UInt32
    public var offset: UInt64, vaddr: UInt64, paddr: UInt64
    public var filesz: UInt64, memsz: UInt64, align: UInt64

    public init(type: UInt32, flags: UInt32, offset: UInt64 = 0, vaddr: UInt64, paddr: UInt64 = 0,
                filesz: UInt64, memsz: UInt64, align: UInt64 = 0) {
        self.type = type; self.flags = flags; self.offset = offset; self.vaddr = vaddr; self.paddr = paddr
        self.filesz = filesz; self.memsz = memsz; self.align = align
    }

    /// The program header at byte `o` of `b`; nil if it does not fit in `b`.
    public init?(_ b: [UInt8], at o: Int) {
        guard o >= 0, o <= b.count - Self.size else { return nil }
        self.init(type: b.u32(o)!, flags: b.u32(o + 4)!, offset: b.u64(o + 8)!, vaddr: b.u64(o + 16)!,
                  paddr: b.u64(o + 24)!, filesz: b.u64(o + 32)!, memsz: b.u64(o + 40)!, align: b.u64(o + 48)!)
    }
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
        for i in 0..<phnum { phs.append(ProgramHeader(table, at: i * ProgramHeader.size)!) }
        self.machine = machine
        self.entry = bytes.u64(24)!
        self.programHeaders = phs
    }

    public var architecture: GuestArchitecture? {
        GuestArchitecture.allCases.first { $0.elfMachine == machine }
    }
}
