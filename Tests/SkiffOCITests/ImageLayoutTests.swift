// ImageLayoutTests.swift: `skiff oci build`'s archive: ustar framing, blob digests, config/manifest/index contents, refusals.

import Testing
@testable import SkiffOCI

/// A minimal x86_64 ELF header (what OCIImage looks at).
func fakeELF(machine: UInt16 = 62) -> [UInt8] {
    var b = [UInt8](repeating: 0, count: 128)
    b[0] = 0x7f; b[1] = 0x45; b[2] = 0x4c; b[3] = 0x46
    b[18] = UInt8(machine & 0xff); b[19] = UInt8(machine >> 8)
    return b
}

/// The members of a ustar archive: name → contents (checking each header's checksum).
func untar(_ t: [UInt8]) -> [String: [UInt8]] {
    var out: [String: [UInt8]] = [:]
    var o = 0
    while o + 512 <= t.count, t[o] != 0 {
        let h = Array(t[o..<(o + 512)])
        func str(_ a: Int, _ n: Int) -> String { String(decoding: h[a..<(a + n)].prefix { $0 != 0 }, as: UTF8.self) }
        func oct(_ a: Int, _ n: Int) -> Int { str(a, n).utf8.filter { $0 >= 0x30 && $0 <= 0x37 }.reduce(0) { $0 * 8 + Int($1 - 0x30) } }
        var sumHeader = h
        for i in 148..<156 { sumHeader[i] = 0x20 }
        #expect(oct(148, 8) == sumHeader.reduce(0) { $0 + Int($1) }, "checksum of \(str(0, 100))")
        #expect(str(257, 5) == "ustar")
        let prefix = str(345, 155)
        let name = prefix.isEmpty ? str(0, 100) : prefix + "/" + str(0, 100)
        let size = oct(124, 12)
        out[name] = Array(t[(o + 512)..<(o + 512 + size)])
        o += 512 + (size + 511) / 512 * 512
    }
    #expect(t.count % 512 == 0 && t.suffix(1024).allSatisfy { $0 == 0 })
    return out
}

@Test func longNamesUsePrefix() {
    let long = String(repeating: "d", count: 80) + "/" + String(repeating: "f", count: 90)
    var w = TarWriter()
    w.addFile(long, [1, 2, 3])
    #expect(untar(w.finished())[long] == [1, 2, 3])
}

@Test func archiveIsAnOCILayoutWithMatchingDigests() throws {
    var spec = OCIImageSpec(name: "skiff.local/hello:v1", kernel: fakeELF())
    spec.memoryMiB = 64
    spec.blocks = [(name: "storage", data: [UInt8](repeating: 7, count: 1000))]
    spec.nets = [(name: "service0", tap: "tap0")]
    spec.arguments = ["a", "b"]
    let image = try OCIImage.build(spec)
    let files = untar(image.archive)
    #expect(files["oci-layout"].map { String(decoding: $0, as: UTF8.self) } == #"{"imageLayoutVersion":"1.0.0"}"#)
    // Every blob is named by its digest.
    for (name, data) in files where name.hasPrefix("blobs/sha256/") && !data.isEmpty {
        #expect("blobs/sha256/" + SHA256.hex(data) == name)
    }
    let index = try JSON.parse(try #require(files["index.json"]))
    let desc = try #require(index["manifests"]?.arrayValue?.first)
    #expect(desc["digest"]?.stringValue == image.manifestDigest)
    #expect(desc["platform"]?["architecture"]?.stringValue == "amd64")
    #expect(desc["annotations"]?["io.containerd.image.name"]?.stringValue == "skiff.local/hello:v1")
    #expect(desc["annotations"]?["org.opencontainers.image.ref.name"]?.stringValue == "v1")
    let manifestBytes = try #require(files["blobs/sha256/" + String(image.manifestDigest.dropFirst(7))])
    #expect(desc["size"]?.intValue == manifestBytes.count)
    let manifest = try JSON.parse(manifestBytes)
    #expect(manifest["config"]?["digest"]?.stringValue == image.configDigest)
    #expect(manifest["annotations"]?["org.skiff.mem"]?.stringValue == "64")
    #expect(manifest["annotations"]?["org.skiff.block.storage"]?.stringValue == "/skiff/block/storage")
    let config = try JSON.parse(try #require(files["blobs/sha256/" + String(image.configDigest.dropFirst(7))]))
    #expect(config["config"]?["Entrypoint"]?.arrayValue?.compactMap { $0.stringValue }
            == ["skiff-hvt", "--mem=64", "--block:storage=/skiff/block/storage", "--net:service0=tap0", "--", "/skiff/kernel"])
    #expect(config["config"]?["Cmd"]?.arrayValue?.compactMap { $0.stringValue } == ["a", "b"])
    #expect(config["config"]?["Labels"]?["org.skiff.net.service0"]?.stringValue == "tap0")
    #expect(config["rootfs"]?["diff_ids"]?.arrayValue?.first?.stringValue == image.layerDigest)
    // The layer holds the kernel (executable) and the block image.
    let layer = untar(try #require(files["blobs/sha256/" + String(image.layerDigest.dropFirst(7))]))
    #expect(layer["skiff/kernel"] == fakeELF())
    #expect(layer["skiff/block/storage"]?.count == 1000)
    // Same inputs, same digest; different inputs, different digest.
    #expect(try OCIImage.build(spec).manifestDigest == image.manifestDigest)
    spec.arguments = ["c"]
    #expect(try OCIImage.build(spec).manifestDigest != image.manifestDigest)
}

@Test func refusals() {
    func refused(_ spec: OCIImageSpec, _ words: String) {
        #expect {
            try OCIImage.build(spec)
        } throws: { e in (e as? OCIBuildError)?.message.contains(words) == true }
    }
    refused(OCIImageSpec(name: "x", kernel: [1, 2, 3]), "not an ELF")
    refused(OCIImageSpec(name: "x", kernel: fakeELF(machine: 3)), "neither x86_64 nor aarch64")
    refused(OCIImageSpec(name: "bad name!", kernel: fakeELF()), "image name")
    var s = OCIImageSpec(name: "x", kernel: fakeELF())
    s.memoryMiB = 1
    refused(s, "--mem=1")
    s = OCIImageSpec(name: "x", kernel: fakeELF())
    s.nets = [(name: "a", tap: "t0"), (name: "a", tap: "t1")]
    refused(s, "given twice")
    s.nets = [(name: "a", tap: "a-very-long-tap-name")]
    refused(s, "tap name")
    #expect((try? OCIImage.architecture(ofELF: fakeELF(machine: 183))) == "arm64")
}
