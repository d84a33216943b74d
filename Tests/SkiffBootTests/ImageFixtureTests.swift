// ImageFixtureTests.swift: every file in Tests/Fixtures/image (arm64 Images, x86_64 PVH ELFs) is accepted or refused by the boot-protocol choice as expected.tsv says.

import Testing
import SkiffCore
import SkiffTestSupport
@testable import SkiffBoot

struct ImageFixtureRow: Sendable, CustomTestStringConvertible {
    var file: String, expectOK: Bool, substring: String, arch: GuestArchitecture
    var testDescription: String { file }
}

let imageFixtureRows: [ImageFixtureRow] = {
    let text = String(decoding: readBytes(repositoryRoot + "/Tests/Fixtures/image/expected.tsv"), as: UTF8.self)
    return text.split(separator: "\n").dropFirst().compactMap { line in
        let c = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard c.count >= 4 else { return nil }
        return ImageFixtureRow(file: c[0], expectOK: c[1] == "ok", substring: c[2], arch: c[3] == "x86_64" ? .x86_64 : .aarch64)
    }
}()

@Test func imageFixtureCorpusIsPresent() {
    #expect(imageFixtureRows.count >= 23)
    #expect(imageFixtureRows.contains { $0.arch == .x86_64 && $0.expectOK } && imageFixtureRows.contains { $0.arch == .aarch64 && $0.expectOK })
    #expect(imageFixtureRows.contains { $0.expectOK } && imageFixtureRows.contains { !$0.expectOK })
}

/// What skiff-hvt on the row's architecture does with the file before any VM exists: the protocol by the file
/// itself, its checks with --mem=512 and no devices (an hvt image would go on to its own checks: the ELF
/// fixtures'), then the load and the boot data.
@Test(arguments: imageFixtureRows)
func imageFixtureVerdict(_ row: ImageFixtureRow) {
    let bytes = readBytes(repositoryRoot + "/Tests/Fixtures/image/" + row.file)
    var o = RunOptions(kernel: row.file)
    o.memoryBytes = 512 << 20
    do {
        let boot = try BootProtocols.select(bytes, arch: row.arch, options: o) { _ throws(BootError) in }
        #expect(row.expectOK, "\(row.file) was accepted by \(boot.name) but should be refused with '\(row.substring)'")
        #expect(boot.name == (row.arch == .x86_64 ? "PVH" : "arm64 Image"))
        let memory = try GuestMemory(size: boot.memorySize.allocation)
        try boot.loadImage(into: memory)
        try boot.writeBootData(into: memory, manifest: boot.manifest, attachment: ModuleAttachment(), cpuCycleFrequency: 1)
    } catch let e as BootError {
        let message = e.message
        #expect(!row.expectOK, "\(row.file) was refused: \(message)")
        if !row.substring.isEmpty { #expect(message.contains(row.substring), "\(row.file): '\(message)' lacks '\(row.substring)'") }
        #expect(!message.isEmpty && !message.contains("\n"))
    } catch {
        Issue.record("\(row.file): \(error)")
    }
}

/// `forHost` (what skiff-hvt links) makes the same choice as `select(arch: .host)` for every fixture: the same
/// protocol when accepted, the same message when refused.
@Test(arguments: imageFixtureRows)
func forHostChoosesAsSelectOnTheHost(_ row: ImageFixtureRow) {
    let bytes = readBytes(repositoryRoot + "/Tests/Fixtures/image/" + row.file)
    var o = RunOptions(kernel: row.file)
    o.memoryBytes = 512 << 20
    func verdict(_ choose: () throws(BootError) -> any BootProtocol) -> String {
        do throws(BootError) { return "ok " + (try choose()).name } catch { return "refused " + error.message }
    }
    let host = verdict { () throws(BootError) in try BootProtocols.forHost(bytes, options: o) { _ throws(BootError) in } }
    let selected = verdict { () throws(BootError) in
        try BootProtocols.select(bytes, arch: .host, options: o) { _ throws(BootError) in }
    }
    #expect(host == selected)
}

/// The PVH start_info skiff-hvt writes: version 1, the command line, a two-entry memory map (reserved below 1 MiB,
/// RAM to --mem), as Xen's hvm_start_info lays them out.
@Test func pvhStartInfoLayout() throws {
    var o = RunOptions(kernel: "ok_pvh.pvh")
    o.memoryBytes = 64 << 20
    o.guestArguments = ["a", "b"]
    let boot = try PVHBoot(bytes: readBytes(repositoryRoot + "/Tests/Fixtures/image/ok_pvh.pvh"), options: o)
    #expect(boot.entry == 0x100200 && boot.convention == .pvh(entry: 0x100200, startInfo: 0x1000))
    let mem = try GuestMemory(size: 64 << 20)
    try boot.loadImage(into: mem)
    try boot.writeBootData(into: mem, manifest: boot.manifest, attachment: ModuleAttachment(), cpuCycleFrequency: 1)
    let si = try mem.read(at: GuestAddress(0x1000), count: 56)
    #expect(si.u32(0) == 0x336E_C578 && si.u32(4) == 1 && si.u32(12) == 0)          // magic, version, no modules
    #expect(si.u64(24) == 0x2000 && si.u64(40) == 0x1040 && si.u32(48) == 2)        // cmdline, memmap, entries
    #expect(try mem.read(at: GuestAddress(0x2000), count: 4) == Array("a b\0".utf8))
    let map = try mem.read(at: GuestAddress(0x1040), count: 48)
    #expect(map.u64(0) == 0 && map.u64(8) == 0x10_0000 && map.u32(16) == 2)
    #expect(map.u64(24) == 0x10_0000 && map.u64(32) == (64 << 20) - 0x10_0000 && map.u32(40) == 1)
    o.initrd = "/x"
    #expect(throws: BootError.self) { try PVHBoot(bytes: readBytes(repositoryRoot + "/Tests/Fixtures/image/ok_pvh.pvh"), options: o) }
}
