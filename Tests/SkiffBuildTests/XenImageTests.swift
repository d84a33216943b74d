// XenImageTests.swift: `skiff build --platform xen` output: the x86_64 PVH ELF (its note, segments and layout)
// and the arm64 self-relocating Image (header, relocations), plus the post-link checks' refusals.

import Glibc
import Testing
@testable import SkiffBuild
import SkiffCore

/// Examples/hello built for a Xen row; nil without a toolchain or on failure.
func xenHello(_ arch: String) -> [UInt8]? {
    guard toolchainPresent else { return nil }
    let out = "/tmp/skiff-build-test-\(getpid())-xen-\(arch).img"
    defer { unlink(out); unlink(out + ".elf") }
    guard skiffBuildMain(["--arch", arch, "--platform", "xen", repositoryRoot + "/Examples/hello", "-o", out]) == 0
    else { return nil }
    return try? FileSystem.readFile(out)
}

let xenPVHHello: [UInt8]? = xenHello("x86_64")
let xenArm64Hello: [UInt8]? = xenHello("aarch64")

@Test func xenRows() throws {
    let pvh = Builder(options: try BuildOptions.parse(["--platform", "xen", "a"])).platform
    #expect(pvh.postLink == .pvh && pvh.triple == "x86_64-unknown-none-elf")
    #expect(!pvh.runtimeDirectories.contains("arch/x86_64/cpl3"))    // own entry (pvh.S): CPL0 under Xen, CPL3 without
    #expect(pvh.cFlags.contains("-mno-red-zone"))
    let a64 = Builder(options: try BuildOptions.parse(["--platform", "xen", "--arch", "aarch64", "a"])).platform
    #expect(a64.postLink == .xenArm64Image && a64.linkFlags.contains("-pie"))
}

@Test func pvhImageHasA4ByteAlignedEntryNote() throws {
    try #require(toolchainPresent, "Swift toolchain not found: skipping image tests")
    let elf = try ELFFile(bytes: try #require(xenPVHHello, "skiff build --platform xen Examples/hello failed"))
    #expect(elf.machine == 62 && elf.entry < 1 << 32)
    try PVHImage.check(elf)
    let notes = elf.programHeaders.filter { $0.type == ProgramHeader.note }
    let xen = try #require(notes.first { ph in
        ELFNote.parse(elf.bytes.slice(ph.offset, ph.filesz) ?? []).contains { $0.name == "Xen" }
    })
    #expect(xen.align == 4)
    // W^X segments from 1 MiB: text, rodata, data, stack, page-table pool; no ABI1 note (hvt refuses it).
    #expect(elf.loadSegments.map(\.flags) == [5, 4, 6, 6, 6])
    #expect(elf.loadSegments.first?.paddr == PVHImage.linkBase)
    #expect(elf.section(".note.solo5.abi") == nil)
    #expect(throws: ImageError.self) { try ELFImage(bytes: elf.bytes, arch: .x86_64).checkABINote() }
}

@Test func pvhCheckRefusesAn8ByteAlignedNote() throws {
    try #require(toolchainPresent, "Swift toolchain not found: skipping image tests")
    var bytes = try #require(xenPVHHello, "skiff build --platform xen Examples/hello failed")
    let elf = try ELFFile(bytes: bytes)
    let i = try #require(elf.programHeaders.firstIndex { ph in
        ph.type == ProgramHeader.note
            && ELFNote.parse(bytes.slice(ph.offset, ph.filesz) ?? []).contains { $0.name == "Xen" }
    })
    let phoff = Int(bytes.u64(32)!)
    let at = phoff + i * ProgramHeader.size + 48                     // p_align
    for k in 0..<8 { bytes[at + k] = k == 0 ? 8 : 0 }
    #expect(throws: BuildError.self) { try PVHImage.check(try ELFFile(bytes: bytes)) }
}

@Test func xenArm64ImageRelocatesItself() throws {
    try #require(toolchainPresent, "Swift toolchain not found: skipping image tests")
    let image = try #require(xenArm64Hello, "skiff build --arch aarch64 --platform xen Examples/hello failed")
    try XenArm64Image.check(image)
    #expect(ARM64ImageHeader.hasMagic(image) && image.u64(0x08) == XenArm64Image.textOffset)
    #expect(!SkiffImageBlock.isPresent(in: image))                  // not a QEMU-virt image
    var wrong = image
    wrong[0x08] = 0
    wrong[0x0a] = 0x08                                               // text_offset 0x80000
    #expect(throws: BuildError.self) { try XenArm64Image.check(wrong) }
}
