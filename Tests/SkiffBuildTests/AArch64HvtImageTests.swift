// AArch64HvtImageTests.swift: `skiff build --arch aarch64 --platform hvt` output: an EM_AARCH64 hvt ELF that
// the monitor's hvt loader (SkiffBoot's LoadPlan) accepts, with the ABI1 and MFT1 notes and W^X segments.

import Glibc
import Testing
@testable import SkiffBuild
import SkiffCore
import SkiffBoot

/// One aarch64 hvt build of Examples/hello shared by the tests below.
let aarch64HvtHello: [UInt8]? = {
    guard toolchainPresent else { return nil }
    let out = "/tmp/skiff-build-test-\(getpid())-a64.hvt"
    defer { unlink(out) }
    guard skiffBuildMain(["--arch", "aarch64", "--platform", "hvt", repositoryRoot + "/Examples/hello", "-o", out]) == 0
    else { return nil }
    return try? FileSystem.readFile(out)
}()

func loadAArch64HvtHello() throws -> ELFFile {
    try #require(toolchainPresent, "Swift toolchain not found: skipping image tests")
    let bytes = try #require(aarch64HvtHello, "skiff build --arch aarch64 --platform hvt Examples/hello failed")
    return try ELFFile(bytes: bytes)
}

@Test func aarch64HvtHelloIsAcceptedByTheMonitorsLoader() throws {
    let elf = try loadAArch64HvtHello()
    #expect(elf.machine == 183 && elf.type == 2)
    // The aarch64 tender's view: EM_AARCH64 only.
    let image = try ELFImage(bytes: elf.bytes, arch: .aarch64)
    try image.checkABINote()
    #expect(image.architecture == .aarch64)
    #expect(try image.manifest().entries.count == 1)            // only the reserved entry
    for mem: UInt64 in [4 << 20, 512 << 20, 4096 << 20] {
        let plan = try LoadPlan(image: image, memSize: mem)
        #expect(plan.entry == 0x100000)
    }
    // An x86_64 tender refuses it at the ELF header.
    #expect(throws: ImageError.self) { try ELFImage(bytes: elf.bytes, arch: .x86_64) }
    #expect(elf.programHeaders.first?.type == ProgramHeader.interp)
    #expect(elf.programHeaders.filter { $0.type == ProgramHeader.note }.count == 2)
}

@Test func aarch64HvtNotesAreABI1AndMFT1() throws {
    let elf = try loadAArch64HvtHello()
    let abi = try #require(elf.section(".note.solo5.abi"))
    let region = try #require(elf.bytes.slice(abi.offset, abi.size))
    let note = try #require(ELFNote.parse(region).first)
    #expect(note.name == ELFImage.solo5NoteName && note.type == ELFImage.abiNoteType)
    #expect(note.descriptor == [1, 0, 0, 0, 2, 0, 0, 0] + [UInt8](repeating: 0, count: 8))   // hvt, version 2
    #expect(elf.section(".note.solo5.manifest") != nil)
    #expect(elf.section(".note.skiff.platform") == nil)        // not a QEMU-virt image
    try ImagePatcher.check(elf, arch: .aarch64)
    #expect(throws: BuildError.self) { try ImagePatcher.check(elf, arch: .x86_64) }
}

@Test func aarch64HvtSegmentsAreWXorXAndPageAligned() throws {
    let elf = try loadAArch64HvtHello()
    let loads = elf.loadSegments
    #expect(loads.map(\.flags) == [5, 4, 6, 6, 6])              // text, rodata, data, stack, page-table pool
    #expect(loads[0].vaddr == 0x100000)
    #expect(loads[3].filesz == 0 && loads[4].filesz == 0)      // NOBITS: nothing for the tender to copy
    for s in loads {
        #expect(s.vaddr % 0x1000 == 0)
        #expect(s.flags & ProgramHeader.flagW == 0 || s.flags & ProgramHeader.flagX == 0)
    }
}

@Test func aarch64HvtLayoutSymbols() throws {
    let elf = try loadAArch64HvtHello()
    func sym(_ n: String) throws -> UInt64 { try #require(elf.symbol(n), "no symbol \(n)") }
    #expect(try sym("_start") == 0x100000)
    #expect(try sym("skiff_vectors") % 0x800 == 0)             // VBAR_EL1 alignment
    // Stacks: the trap stack (SP_EL1), the guard page, the stack (SP_EL0); all inside the image.
    #expect(try sym("__skiff_trap_stack_top") == sym("__skiff_guard"))
    #expect(try sym("__skiff_stack_bottom") - sym("__skiff_guard") == 0x1000)
    #expect(try sym("__skiff_stack_top") - sym("__skiff_stack_bottom") == 1 << 20)
    // The page-table pool (arch/aarch64/mmu.c) and the image end the heap starts at.
    let pt = try sym("__skiff_pt_start"), end = try sym("__skiff_image_end")
    #expect(pt % 0x1000 == 0 && end - pt >= 17 * 0x1000)
    #expect(try sym("__skiff_text_end") <= sym("__skiff_rodata_start"))
    #expect(try sym("__skiff_rodata_start") < sym("__skiff_data_start"))
}

@Test func aarch64HvtOptions() throws {
    let o = try BuildOptions.parse(["--arch", "aarch64", "--platform", "hvt", "Examples/hello"])
    #expect(o.arch == "aarch64" && o.platform == "hvt" && o.output == "hello.hvt")
    let row = Builder(options: o).platform
    #expect(row.triple == "aarch64-none-none-elf" && row.postLink == .hvtChecked)
    #expect(row.runtimeDirectories == ["platform/hvt/aarch64", "arch/aarch64", "common", "platform/hvt"])
    // Defaults unchanged: aarch64 alone is virt, hvt alone is x86_64.
    #expect(try BuildOptions.parse(["--arch", "aarch64", "a"]).platform == "virt")
    #expect(try BuildOptions.parse(["--platform", "hvt", "a"]).arch == "x86_64")
}
