// ImageFixtureTests.swift: every file in Tests/Fixtures/image is accepted or refused by the aarch64 boot-protocol choice as expected.tsv says.

import Testing
import SkiffCore
import SkiffTestSupport
@testable import SkiffBoot

struct ImageFixtureRow: Sendable, CustomTestStringConvertible {
    var file: String, expectOK: Bool, substring: String
    var testDescription: String { file }
}

let imageFixtureRows: [ImageFixtureRow] = {
    let text = String(decoding: readBytes(repositoryRoot + "/Tests/Fixtures/image/expected.tsv"), as: UTF8.self)
    return text.split(separator: "\n").dropFirst().compactMap { line in
        let c = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard c.count >= 3 else { return nil }
        return ImageFixtureRow(file: c[0], expectOK: c[1] == "ok", substring: c[2])
    }
}()

@Test func imageFixtureCorpusIsPresent() {
    #expect(imageFixtureRows.count >= 16)
    #expect(imageFixtureRows.contains { $0.expectOK } && imageFixtureRows.contains { !$0.expectOK })
}

/// What skiff-hvt on arm64 does with the file before any VM exists: the protocol by the file's first bytes,
/// its checks with --mem=512 and no devices (an hvt image would go on to its own checks: the ELF fixtures').
@Test(arguments: imageFixtureRows)
func imageFixtureVerdict(_ row: ImageFixtureRow) {
    let bytes = readBytes(repositoryRoot + "/Tests/Fixtures/image/" + row.file)
    var o = RunOptions(kernel: row.file)
    o.memoryBytes = 512 << 20
    do {
        let boot = try BootProtocols.select(bytes, arch: .aarch64, options: o) { _ throws(BootError) in }
        #expect(row.expectOK, "\(row.file) was accepted by \(boot.name) but should be refused with '\(row.substring)'")
        #expect(boot.name == "arm64 Image")
        let memory = try GuestMemory(size: boot.memorySize.allocation)
        try boot.loadImage(into: memory)
        try boot.writeBootData(into: memory, manifest: boot.manifest, attachment: ModuleAttachment(), cpuCycleFrequency: 1)
    } catch let e as BootError {
        let message: String
        switch e {
        case .image(let i): message = i.message
        case .memory(let m): message = m.message
        case .commandLine(let c): message = c.message
        case .devices(let d): message = d.message
        case .option(let s): message = s
        }
        #expect(!row.expectOK, "\(row.file) was refused: \(message)")
        if !row.substring.isEmpty { #expect(message.contains(row.substring), "\(row.file): '\(message)' lacks '\(row.substring)'") }
        #expect(!message.isEmpty && !message.contains("\n"))
    } catch {
        Issue.record("\(row.file): \(error)")
    }
}
