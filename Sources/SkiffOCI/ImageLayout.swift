// ImageLayout.swift: `skiff oci build`'s pure part: an hvt unikernel and its run configuration → an OCI image archive.

//
// The image's one layer holds the unikernel at /skiff/kernel and block images at /skiff/block/NAME.
// The run configuration is the image config's Entrypoint, a solo5-hvt command line headed by
// "skiff-hvt" (the Skiff OCI runtime supplies the host's tender there), and Cmd holds the guest's default
// arguments. `ctr run IMAGE ID ARGS...` replaces Entrypoint and Cmd together, so the layer also holds
// /skiff/skiff.json ({"entrypoint": [...]}): the runtime puts that command line before arguments that do
// not start with skiff-hvt. The same facts are repeated, for people and tools, as org.skiff.* labels in
// the config and annotations on the manifest (docs/containers.md).

import SkiffBuild

public struct OCIImageSpec: Sendable {
    public var name: String                 // containerd image name, e.g. docker.io/library/hello:latest
    public var kernel: [UInt8]
    public var memoryMiB: Int? = nil
    public var blocks: [(name: String, data: [UInt8])] = []
    public var nets: [(name: String, tap: String)] = []
    public var arguments: [String] = []
    public var created: String? = nil       // RFC 3339; omitted by default so the digest depends on the inputs only

    public init(name: String, kernel: [UInt8]) { self.name = name; self.kernel = kernel }
}

public struct OCIBuildError: Error, Equatable, Sendable {
    public let message: String
}

public struct OCIImageArchive: Sendable {
    public let archive: [UInt8]             // a tar of an OCI image layout, for `ctr image import`
    public let manifestDigest: String
    public let configDigest: String
    public let layerDigest: String
    public let entrypoint: [String]
}

public enum OCIImage {
    public static let kernelPath = "/skiff/kernel"
    /// The file in the image (relative to its root) that repeats the Entrypoint for the runtime.
    public static let runFile = "skiff/skiff.json"
    public static func blockPath(_ name: String) -> String { "/skiff/block/" + name }

    /// The OCI platform architecture of an ELF's e_machine (x86_64 → amd64, aarch64 → arm64).
    public static func architecture(ofELF bytes: [UInt8]) throws(OCIBuildError) -> String {
        guard bytes.count >= 64, bytes[0] == 0x7f, bytes[1] == UInt8(ascii: "E"), bytes[2] == UInt8(ascii: "L"),
              bytes[3] == UInt8(ascii: "F") else {
            throw OCIBuildError(message: "not an ELF file (an hvt unikernel is an ELF: build one with skiff build)")
        }
        switch UInt16(bytes[18]) | UInt16(bytes[19]) << 8 {
        case 62: return "amd64"
        case 183: return "arm64"
        case let m: throw OCIBuildError(message: "ELF machine \(m) is neither x86_64 nor aarch64")
        }
    }

    /// A name containerd can store and `ctr run` can name: letters, digits and ._-/: only.
    static func validName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255 && name.utf8.allSatisfy { c in
            (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39)
                || [UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "/"), UInt8(ascii: ":")].contains(c)
        }
    }

    static func validDeviceName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 31 && name.utf8.allSatisfy { c in
            (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39)
        }
    }

    /// The tender command line the image runs (skiff-hvt's syntax; the guest's arguments follow in Cmd).
    public static func entrypoint(_ spec: OCIImageSpec) -> [String] {
        var e = ["skiff-hvt"]
        if let m = spec.memoryMiB { e.append("--mem=\(m)") }
        for b in spec.blocks { e.append("--block:\(b.name)=\(blockPath(b.name))") }
        for n in spec.nets { e.append("--net:\(n.name)=\(n.tap)") }
        e += ["--", kernelPath]
        return e
    }

    static func strings(_ a: [String]) -> JSON { .array(a.map { .string($0) }) }

    static func descriptor(_ mediaType: String, _ bytes: [UInt8], extra: [JSON.Member] = []) -> (JSON, String) {
        let digest = "sha256:" + SHA256.hex(bytes)
        return (.object([JSON.Member("mediaType", .string(mediaType)), JSON.Member("digest", .string(digest)),
                         JSON.Member("size", .int(bytes.count))] + extra), digest)
    }

    public static func build(_ spec: OCIImageSpec) throws(OCIBuildError) -> OCIImageArchive {
        let arch = try architecture(ofELF: spec.kernel)
        guard validName(spec.name) else {
            throw OCIBuildError(message: "image name '\(spec.name)': use letters, digits and . _ - / : only")
        }
        if let m = spec.memoryMiB, m < 2 || m > 65536 { throw OCIBuildError(message: "--mem=\(m): between 2 and 65536 MiB") }
        var seen: [String] = []
        for n in spec.blocks.map({ $0.name }) + spec.nets.map({ $0.name }) {
            guard validDeviceName(n) else { throw OCIBuildError(message: "device name '\(n)': 1-31 letters and digits") }
            guard !seen.contains(n) else { throw OCIBuildError(message: "device name '\(n)' given twice") }
            seen.append(n)
        }
        for n in spec.nets where n.tap.isEmpty || n.tap.utf8.count > 15 || n.tap.utf8.contains(UInt8(ascii: "/")) {
            throw OCIBuildError(message: "tap name '\(n.tap)': 1-15 characters, no /")
        }

        // The layer: /skiff/kernel and /skiff/block/*.
        var layer = TarWriter()
        layer.addDirectory("skiff")
        layer.addFile("skiff/kernel", spec.kernel, mode: 0o755)
        layer.addFile(runFile, JSON.object([JSON.Member("entrypoint", strings(entrypoint(spec)))]).bytes)
        if !spec.blocks.isEmpty {
            layer.addDirectory("skiff/block")
            for b in spec.blocks { layer.addFile("skiff/block/" + b.name, b.data, mode: 0o644) }
        }
        let layerBytes = layer.finished()

        // Labels and annotations: the run configuration, readable without parsing the command line.
        var facts: [JSON.Member] = [
            JSON.Member("org.skiff.tender", .string("hvt")),
            JSON.Member("org.skiff.kernel", .string(kernelPath)),
        ]
        if let m = spec.memoryMiB { facts.append(JSON.Member("org.skiff.mem", .string(String(m)))) }
        for b in spec.blocks { facts.append(JSON.Member("org.skiff.block.\(b.name)", .string(blockPath(b.name)))) }
        for n in spec.nets { facts.append(JSON.Member("org.skiff.net.\(n.name)", .string(n.tap))) }

        let entry = entrypoint(spec)
        var config: [JSON.Member] = []
        if let c = spec.created { config.append(JSON.Member("created", .string(c))) }
        config += [
            JSON.Member("architecture", .string(arch)),
            JSON.Member("os", .string("linux")),
            JSON.Member("config", .object([
                JSON.Member("Entrypoint", strings(entry)),
                JSON.Member("Cmd", strings(spec.arguments)),
                JSON.Member("WorkingDir", .string("/")),
                JSON.Member("Labels", .object(facts)),
            ])),
            JSON.Member("rootfs", .object([
                JSON.Member("type", .string("layers")),
                JSON.Member("diff_ids", .array([.string("sha256:" + SHA256.hex(layerBytes))])),
            ])),
        ]
        let configBytes = JSON.object(config).bytes
        let (configDesc, configDigest) = descriptor("application/vnd.oci.image.config.v1+json", configBytes)
        let (layerDesc, layerDigest) = descriptor("application/vnd.oci.image.layer.v1.tar", layerBytes)
        let manifest = JSON.object([
            JSON.Member("schemaVersion", .int(2)),
            JSON.Member("mediaType", .string("application/vnd.oci.image.manifest.v1+json")),
            JSON.Member("config", configDesc),
            JSON.Member("layers", .array([layerDesc])),
            JSON.Member("annotations", .object(facts)),
        ])
        let manifestBytes = manifest.bytes
        let tag = spec.name.split(separator: ":").last.map(String.init) ?? "latest"
        let (manifestDesc, manifestDigest) = descriptor("application/vnd.oci.image.manifest.v1+json", manifestBytes, extra: [
            JSON.Member("platform", .object([JSON.Member("architecture", .string(arch)), JSON.Member("os", .string("linux"))])),
            JSON.Member("annotations", .object([
                JSON.Member("io.containerd.image.name", .string(spec.name)),
                JSON.Member("org.opencontainers.image.ref.name", .string(spec.name.utf8.contains(UInt8(ascii: ":")) ? tag : "latest")),
            ])),
        ])
        let index = JSON.object([
            JSON.Member("schemaVersion", .int(2)),
            JSON.Member("mediaType", .string("application/vnd.oci.image.index.v1+json")),
            JSON.Member("manifests", .array([manifestDesc])),
        ])

        var out = TarWriter()
        out.addFile("oci-layout", JSON.object([JSON.Member("imageLayoutVersion", .string("1.0.0"))]).bytes)
        out.addFile("index.json", index.bytes)
        out.addDirectory("blobs")
        out.addDirectory("blobs/sha256")
        for (digest, bytes) in [(configDigest, configBytes), (layerDigest, layerBytes), (manifestDigest, manifestBytes)] {
            out.addFile("blobs/sha256/" + String(digest.dropFirst(7)), bytes)
        }
        return OCIImageArchive(archive: out.finished(), manifestDigest: manifestDigest, configDigest: configDigest,
                               layerDigest: layerDigest, entrypoint: entry)
    }
}
