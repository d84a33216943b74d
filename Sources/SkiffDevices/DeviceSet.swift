// DeviceSet.swift: match the command line's devices against the image's manifest and open them (spec §4.5, §10).

import SkiffCore

/// The devices of one run, indexed by manifest handle, and the manifest copy to hand to the guest.
public final class DeviceSet {
    public private(set) var manifest: Manifest
    public private(set) var blocks: [BlockBackend?]
    public private(set) var nets: [NetBackend?]

    public var hasNet: Bool { nets.contains { $0 != nil } }
    public var hasBlock: Bool { blocks.contains { $0 != nil } }
    public var netFDs: [(handle: Int, fd: Int32)] {
        nets.enumerated().compactMap { i, n in n.map { (i, $0.fd) } }
    }

    /// Checks names only (before any file or tap is opened): every given name is
    /// declared with the right type, given once.
    public static func checkNames(_ o: RunOptions, against manifest: Manifest) throws(DeviceError) {
        var seen: Set<String> = []
        for (list, type) in [(o.blocks, DeviceType.blockBasic), (o.nets, DeviceType.netBasic)] {
            for nv in list {
                guard let h = manifest.handle(named: nv.name), manifest.entries[h].type == type else {
                    throw .notDeclared(nv.name)
                }
                guard seen.insert(nv.name).inserted else { throw .duplicate(nv.name) }
            }
        }
        for nv in o.blockSectorSizes {
            guard let h = manifest.handle(named: nv.name), manifest.entries[h].type == .blockBasic else {
                throw .notDeclared(nv.name)
            }
        }
        for nv in o.netMACs {
            guard let h = manifest.handle(named: nv.name), manifest.entries[h].type == .netBasic else {
                throw .notDeclared(nv.name)
            }
        }
    }

    /// Opens every device and fills in the manifest copy; throws if any declared device is left unattached.
    public init(options o: RunOptions, manifest m: Manifest) throws(DeviceError) {
        try Self.checkNames(o, against: m)
        manifest = m
        blocks = Array(repeating: nil, count: m.entries.count)
        nets = Array(repeating: nil, count: m.entries.count)
        for nv in o.blocks {
            let h = m.handle(named: nv.name)!
            let bs = o.blockSectorSizes.last { $0.name == nv.name }.flatMap { UInt64($0.value) } ?? 512
            let dev = try BlockBackend(name: nv.name, path: nv.value, blockSize: bs)
            blocks[h] = dev
            manifest.entries[h].attachBlock(capacity: dev.capacity, blockSize: UInt16(bs), hostFD: dev.fd)
        }
        for nv in o.nets {
            let h = m.handle(named: nv.name)!
            let mac = o.netMACs.last { $0.name == nv.name }.flatMap { parseMAC($0.value) }
            let dev = try NetBackend(name: nv.name, interface: nv.value, mac: mac)
            nets[h] = dev
            manifest.entries[h].attachNet(mac: dev.mac, mtu: dev.mtu, hostFD: dev.fd)
        }
        // Entries of type >= MFT_RESERVED_FIRST are not devices and need no attachment (spec §4.5).
        let missing = manifest.devices.filter { !$0.attached && $0.typeCode < DeviceType.reservedFirst.rawValue }.map { e in
            (e.name, e.type.map(\.name) ?? "<undefined type>")
        }
        guard missing.isEmpty else { throw .notAttached(missing) }
    }

    /// Flushes every block device (so acknowledged writes are in the files).
    public func flush() {
        for b in blocks { b?.flush() }
    }
}
