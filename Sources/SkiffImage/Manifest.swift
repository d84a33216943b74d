// Manifest.swift: the Solo5 application manifest (MFT1): parse, validate, attach devices, serialize (spec §3.3).

/// Device types a manifest entry can declare.
public enum DeviceType: UInt32, Sendable {
    case blockBasic = 1
    case netBasic = 2
    case reservedFirst = 0x4000_0000

    public var name: String {
        switch self {
        case .blockBasic: return "BLOCK_BASIC"
        case .netBasic: return "NET_BASIC"
        case .reservedFirst: return "RESERVED_FIRST"
        }
    }
}

public struct ManifestError: Error, Equatable, Sendable { public let reason: String }

/// One 104-byte `struct mft_entry`, kept as raw bytes so the copy handed to
/// the guest is byte-exact; accessors read and patch the fields.
public struct ManifestEntry: Equatable, Sendable {
    public static let size = 104
    public private(set) var raw: [UInt8]

    init(raw: [UInt8]) { precondition(raw.count == Self.size); self.raw = raw }

    public init(name: String, type: UInt32) {
        raw = [UInt8](repeating: 0, count: Self.size)
        for (i, b) in name.utf8.prefix(67).enumerated() { raw[i] = b }
        raw.putLE(type, at: 68)
    }

    /// The NUL-terminated name (bytes up to the first 0).
    public var name: String {
        let end = raw[0..<68].firstIndex(of: 0) ?? 68
        return String(decoding: raw[0..<end], as: UTF8.self)
    }
    public var typeCode: UInt32 { raw.u32(68)! }
    public var type: DeviceType? { DeviceType(rawValue: typeCode) }
    public var attached: Bool { raw[96] != 0 }

    public var blockCapacity: UInt64 { raw.u64(72)! }
    public var blockSize: UInt16 { raw.u16(80)! }
    public var mac: [UInt8] { Array(raw[72..<78]) }
    public var mtu: UInt16 { raw.u16(78)! }

    public mutating func attachBlock(capacity: UInt64, blockSize: UInt16, hostFD: Int32) {
        raw.putLE(capacity, at: 72); raw.putLE(blockSize, at: 80)
        raw.putLE(UInt32(bitPattern: hostFD), at: 88); raw[96] = 1
    }
    public mutating func attachNet(mac: [UInt8], mtu: UInt16, hostFD: Int32) {
        precondition(mac.count == 6)
        for i in 0..<6 { raw[72 + i] = mac[i] }
        raw.putLE(mtu, at: 78)
        raw.putLE(UInt32(bitPattern: hostFD), at: 88); raw[96] = 1
    }
}

/// A validated manifest. Entry 0 is the reserved entry; a device's handle is its index.
public struct Manifest: Equatable, Sendable {
    public static let maxEntries = 64
    public static let maxNoteDescriptorSize: UInt32 = 12 + 64 * 104  // 6668

    public var entries: [ManifestEntry]

    /// Validates a manifest descriptor (padding already removed), as `mft_validate`.
    public init(descriptor d: [UInt8]) throws(ManifestError) {
        guard d.count >= 8 else { throw ManifestError(reason: "descriptor of \(d.count) bytes is shorter than 8") }
        let version = d.u32(0)!, count = d.u32(4)!
        guard version == 1 else { throw ManifestError(reason: "version \(version) is not 1") }
        guard count <= 64 else { throw ManifestError(reason: "\(count) entries, maximum 64") }
        guard d.count == 8 + 104 * Int(count) else {
            throw ManifestError(reason: "size \(d.count) does not match \(count) entries")
        }
        guard count >= 1 else { throw ManifestError(reason: "no entries") }
        var es: [ManifestEntry] = []
        for i in 0..<Int(count) {
            let e = ManifestEntry(raw: Array(d[(8 + 104 * i)..<(8 + 104 * (i + 1))]))
            guard e.raw[67] == 0 else { throw ManifestError(reason: "entry \(i): name not NUL-terminated") }
            guard !e.attached else { throw ManifestError(reason: "entry \(i): attached is set") }
            es.append(e)
        }
        guard es[0].typeCode == DeviceType.reservedFirst.rawValue, es[0].raw[0] == 0 else {
            throw ManifestError(reason: "entry 0 is not the reserved entry")
        }
        entries = es
    }

    /// A manifest with the reserved entry followed by `devices`.
    public init(devices: [(name: String, type: DeviceType)]) {
        entries = [ManifestEntry(name: "", type: DeviceType.reservedFirst.rawValue)]
        for d in devices { entries.append(ManifestEntry(name: d.name, type: d.type.rawValue)) }
    }

    /// The handle (index) of the device called `name`, if declared.
    public func handle(named name: String) -> Int? {
        entries.indices.dropFirst().first { entries[$0].name == name }
    }

    /// The devices (handles 1...) in declaration order.
    public var devices: ArraySlice<ManifestEntry> { entries.dropFirst() }

    /// `struct mft` bytes: version, entries, then each entry (the guest's copy).
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(8 + 104 * entries.count)
        out.appendLE(UInt32(1)); out.appendLE(UInt32(entries.count))
        for e in entries { out += e.raw }
        return out
    }

    /// The MFT1 note descriptor as it sits in an ELF (4 padding bytes first).
    public var noteDescriptor: [UInt8] { [0, 0, 0, 0] + bytes }
}
