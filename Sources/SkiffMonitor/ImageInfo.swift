// ImageInfo.swift: read an image's notes without running it (for `skiff inspect` and embedders).

import SkiffCore

/// What an hvt image declares, read without running it: its architecture, entry point and manifest.
public struct ImageInfo: Sendable {
    /// The guest architecture of the ELF header (`EM_X86_64`, `EM_AARCH64`), if supported.
    public var architecture: GuestArchitecture?
    /// The ELF entry point (a guest-physical address).
    public var entry: UInt64
    /// The Solo5 manifest (MFT1 note): the devices the image expects.
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
