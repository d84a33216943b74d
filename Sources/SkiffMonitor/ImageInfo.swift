// ImageInfo.swift: read an image's notes without running it (for `skiff inspect` and embedders).

import SkiffCore

public struct ImageInfo: Sendable {
    public var architecture: GuestArchitecture?
    public var entry: UInt64
    public var manifest: Manifest

    /// Reads and validates the ELF header, ABI note and manifest of `path` (any supported architecture).
    public init(path: String) throws(MonitorError) {
        do {
            let bytes = try ImageFile.read(path)
            let image = try ELFImage(bytes: bytes, machines: GuestArchitecture.allCases.map { $0.elfMachine })
            try image.checkABINote()
            manifest = try image.manifest()
            architecture = image.architecture
            entry = image.entry
        } catch { throw .image(file: path, error) }
    }
}
