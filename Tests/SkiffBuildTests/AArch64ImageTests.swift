// AArch64ImageTests.swift: `skiff build --arch aarch64` output, byte by byte: the Image header and SKIFFIMG
// block, the ELF next to it (segments, notes, the DTB caveat), and Image == flatten(ELF).

import Glibc
import Testing
@testable import SkiffBuild
import SkiffCore

/// One aarch64 build of Examples/hello shared by the tests below: (Image, ELF).
let aarch64Hello: ([UInt8], [UInt8])? = {
    guard toolchainPresent else { return nil }
    let out = "/tmp/skiff-build-test-\(getpid())-a64.img"
    defer { unlink(out); unlink(out + ".elf") }
    guard skiffBuildMain(["--arch", "aarch64", repositoryRoot + "/Examples/hello", "-o", out]) == 0,
          let image = try? FileSystem.readFile(out), let elf = try? FileSystem.readFile(out + ".elf")
    else { return nil }
    return (image, elf)
}()

func loadAArch64Hello() throws -> ([UInt8], ELFFile) {
    try #require(toolchainPresent, "Swift toolchain not found: skipping image tests")
    let (image, elf) = try #require(aarch64Hello, "skiff build --arch aarch64 Examples/hello failed")
    return (image, try ELFFile(bytes: elf))
}

@Test func aarch64ImageHeader() throws {
    let (image, _) = try loadAArch64Hello()
    try AArch64Image.check(image)
    #expect(Array(image[0x38..<0x3c]) == [0x41, 0x52, 0x4d, 0x64])
    #expect(image.u64(0x08)! == 0x20_0000)                  // text_offset
    #expect(image.u64(0x18)! == 0x2)                        // LE, 4 KiB, near DRAM start
    #expect(image.u32(0)! >> 26 == 0b000101)                // code0 is a `b`
    #expect(Array(image[0x40..<0x48]) == Array("SKIFFIMG".utf8))
    #expect(image.u32(0x48)! == 1 && image.u32(0x4c)! == 64)
    #expect(image.u64(0x70)! == AArch64Image.linkBase)
}

@Test func aarch64ImageIsTheFlattenedELF() throws {
    let (image, elf) = try loadAArch64Hello()
    #expect(try AArch64Image.flatten(elf) == image)
    #expect(elf.entry == AArch64Image.linkBase)
    // image_size covers every PT_LOAD, NOBITS included.
    let end = elf.loadSegments.map { $0.vaddr + $0.memsz }.max() ?? 0
    #expect(image.u64(0x10)! >= end - AArch64Image.linkBase)
}

@Test func aarch64SegmentsAreWXorXAndClearOfTheDTB() throws {
    let (_, elf) = try loadAArch64Hello()
    for s in elf.loadSegments {
        #expect(s.flags & ProgramHeader.flagW == 0 || s.flags & ProgramHeader.flagX == 0)
        #expect(s.vaddr % 0x1000 == 0)
        // QEMU gives an ELF a DTB at RAM base only if nothing is loaded in its first MiB.
        #expect(s.vaddr >= 0x4010_0000)
    }
}

@Test func aarch64NotesAreManifestAndPlatformOnly() throws {
    let (image, elf) = try loadAArch64Hello()
    #expect(elf.section(".note.solo5.abi") == nil)             // not an hvt guest
    let mft = try #require(elf.section(".note.solo5.manifest"))
    let plt = try #require(elf.section(".note.skiff.platform"))
    // The SKIFFIMG block points at the same bytes inside the Image.
    #expect(image.u64(0x50)! == mft.address - AArch64Image.linkBase && image.u64(0x58)! == mft.size)
    #expect(image.u64(0x60)! == plt.address - AArch64Image.linkBase && image.u64(0x68)! == plt.size)
    let p = Int(image.u64(0x60)!)
    #expect(image.u32(p + 8)! == 0x5452_4956)               // "VIRT"
    #expect(Array(image[(p + 12)..<(p + 18)]) == Array("Skiff\0".utf8))
    let m = Int(image.u64(0x50)!)
    #expect(image.u32(m + 8)! == ELFImage.manifestNoteType)
    #expect(Array(image[(m + 24)..<(m + 24 + 8)]) == [1, 0, 0, 0, 1, 0, 0, 0])   // version 1, 1 entry
}

@Test func aarch64OptionsAreAccepted() throws {
    let o = try BuildOptions.parse(["--arch", "aarch64", "Examples/hello"])
    #expect(o.arch == "aarch64" && o.output == "hello.img")
    #expect(throws: BuildError.self) { try BuildOptions.parse(["--arch", "riscv64", "x.swift"]) }
}
