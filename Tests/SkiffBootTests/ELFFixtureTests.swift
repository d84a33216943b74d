// ELFFixtureTests.swift: every image in Tests/Fixtures/elf is accepted or refused with the expected message.

import Testing
import SkiffCore
import SkiffTestSupport
@testable import SkiffBoot

struct FixtureRow: Sendable, CustomTestStringConvertible {
    var file: String, expectOK: Bool, substring: String, arch: String
    var testDescription: String { file }
}

let fixtureRows: [FixtureRow] = {
    let text = String(decoding: readBytes(fixture("expected.tsv")), as: UTF8.self)
    return text.split(separator: "\n").dropFirst().compactMap { line in
        let c = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard c.count >= 4 else { return nil }
        return FixtureRow(file: c[0], expectOK: c[1] == "ok", substring: c[2], arch: c[3])
    }
}()

/// Runs the monitor's start-up checks in order (spec §2.1): header, ABI1, MFT1, load plan at 512 MiB.
func verdict(_ bytes: [UInt8], arch: GuestArchitecture) -> Result<LoadPlan, ImageError> {
    do {
        let image = try ELFImage(bytes: bytes, arch: arch)
        try image.checkABINote()
        _ = try image.manifest()
        return .success(try LoadPlan(image: image, memSize: 512 << 20))
    } catch { return .failure(error) }
}

@Test func fixtureCorpusIsPresent() {
    #expect(fixtureRows.count >= 90)
    #expect(fixtureRows.contains { $0.expectOK })
    #expect(fixtureRows.contains { !$0.expectOK })
}

@Test(arguments: fixtureRows)
func fixtureVerdict(_ row: FixtureRow) {
    let arch: GuestArchitecture = row.arch == "aarch64" ? .aarch64 : .x86_64
    let bytes = readBytes(fixture(row.file))
    switch verdict(bytes, arch: arch) {
    case .success:
        #expect(row.expectOK, "\(row.file) was accepted but should be refused with '\(row.substring)'")
    case .failure(let e):
        #expect(!row.expectOK, "\(row.file) was refused: \(e.message)")
        if !row.expectOK && !row.substring.isEmpty {
            #expect(e.message.contains(row.substring), "\(row.file): '\(e.message)' lacks '\(row.substring)'")
        }
        #expect(!e.message.contains("\n"))
    }
}

@Test func baselineLoadPlan() throws {
    let image = try ELFImage(bytes: readBytes(fixture("ok_baseline.elf")), arch: .x86_64)
    let plan = try LoadPlan(image: image, memSize: 512 << 20)
    #expect(plan.entry >= 0x100000)
    #expect(plan.segments.count >= 2)
    #expect(plan.kernelEnd % 0x1000 == 0)
    #expect(plan.segments.first?.writable == false)
    // kernel_end excludes the filesz-0 BSS segment.
    let lastFileBacked = plan.segments.map(\.end).max()!
    #expect(plan.kernelEnd == lastFileBacked)
}

@Test func manifestWith63Devices() throws {
    let image = try ELFImage(bytes: readBytes(fixture("ok_63_block_devices.elf")), arch: .x86_64)
    let m = try image.manifest()
    #expect(m.entries.count == 64)
    #expect(m.handle(named: "storage0") == 1)
    #expect(m.handle(named: "storage62") == 63)
    #expect(m.devices.allSatisfy { $0.type == .blockBasic })
}

@Test func loadCopiesAndZeroes() throws {
    let bytes = readBytes(fixture("ok_baseline.elf"))
    let image = try ELFImage(bytes: bytes, arch: .x86_64)
    let plan = try LoadPlan(image: image, memSize: 8 << 20)
    let mem = try GuestMemory(size: 8 << 20)
    try plan.load(image, into: mem)
    for s in plan.segments {
        let got = try mem.read(at: GuestAddress(s.vaddr), count: Int(s.filesz))
        #expect(got == Array(bytes[Int(s.fileOffset)..<Int(s.fileOffset + s.filesz)]))
        if s.memsz > s.filesz {
            #expect(try mem.read(at: GuestAddress(s.vaddr + s.filesz), count: Int(s.memsz - s.filesz)).allSatisfy { $0 == 0 })
        }
    }
}

@Test func truncatedPrefixesNeverCrash() {
    // Every prefix of a valid image is either refused or loads: never a trap.
    let bytes = readBytes(fixture("ok_baseline.elf"))
    var refused = 0
    for n in stride(from: 0, to: bytes.count, by: 7) {
        if case .failure = verdict(Array(bytes[0..<n]), arch: .x86_64) { refused += 1 }
    }
    #expect(refused > 0)
}
