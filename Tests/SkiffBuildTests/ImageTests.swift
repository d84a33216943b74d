// ImageTests.swift: builds Examples/hello with `skiff build` and checks the image byte by byte:
// the hvt loader accepts it, the page tables match the layout, the GDT/TSS/IDT are as designed.

import Glibc
import Testing
@testable import SkiffBuild
import SkiffCore
import SkiffBoot

let toolchainPresent = shell("command -v swiftc >/dev/null 2>&1 || test -x /opt/swift/usr/bin/swiftc") == 0

/// One build shared by the tests below (a build takes a few seconds).
let helloImage: [UInt8]? = {
    guard toolchainPresent else { return nil }
    let out = "/tmp/skiff-build-test-\(getpid()).hvt"
    defer { unlink(out) }
    guard skiffBuildMain([repositoryRoot + "/Examples/hello", "-o", out]) == 0 else { return nil }
    return try? FileSystem.readFile(out)
}()

func loadHello() throws -> ELFFile {
    try #require(toolchainPresent, "Swift toolchain not found: skipping image tests")
    let bytes = try #require(helloImage, "skiff build Examples/hello failed")
    return try ELFFile(bytes: bytes)
}

@Test func helloIsAcceptedByTheMonitorsLoader() throws {
    let elf = try loadHello()
    let image = try ELFImage(bytes: elf.bytes, arch: .x86_64)
    try image.checkABINote()
    let manifest = try image.manifest()
    #expect(manifest.entries.count == 1)                       // only the reserved entry
    for mem: UInt64 in [4 << 20, 512 << 20, 4096 << 20] {
        _ = try LoadPlan(image: image, memSize: mem)
    }
    #expect(elf.entry == 0x100000)
    // PT_INTERP keeps the host from executing it; notes each in their own PT_NOTE.
    #expect(elf.programHeaders.first?.type == ProgramHeader.interp)
    #expect(elf.programHeaders.filter { $0.type == ProgramHeader.note }.count == 2)
}

@Test func helloSegmentsAreWXorXAndPageAligned() throws {
    let elf = try loadHello()
    let loads = elf.loadSegments
    #expect(loads.map(\.flags) == [5, 6, 5, 4, 6, 6, 6])
    #expect(loads[0].vaddr == 0x100000 && loads[1].vaddr == 0x101000 && loads[2].vaddr == 0x109000)
    #expect(loads[5].filesz == 0)                              // stacks: nothing for the tender to copy
    for s in loads { #expect(s.vaddr % 0x1000 == 0) }
}

@Test func helloPageTablesMatchItsLayout() throws {
    let elf = try loadHello()
    let spec = try ImagePatcher.spec(for: elf)
    let expected = try PageTables.build(spec)
    let kdata = try #require(elf.section(".skiff.kdata"))
    let pt = try #require(elf.section(".skiff.pt"))
    #expect(Array(elf.bytes[Int(kdata.offset)..<Int(kdata.offset + 0x6000)]) == expected.root)
    #expect(Array(elf.bytes[Int(pt.offset)..<Int(pt.offset + pt.size)]) == expected.tables)
    // Spot checks on the real image.
    let stackBottom = try #require(elf.symbol("__skiff_stack_bottom"))
    let guardPage = try #require(elf.symbol("__skiff_guard"))
    #expect(stackBottom - guardPage == 0x1000)
    let t = expected
    #expect(pte(t, guardPage) == 0)
    #expect(pte(t, stackBottom) == stackBottom | 7 | NX)
    #expect(pte(t, 0x100000) == 0x100001)
    #expect(pte(t, 0x109000) == 0x109005)
}

@Test func helloSystemTables() throws {
    let elf = try loadHello()
    let kdata = try #require(elf.section(".skiff.kdata"))
    func q(_ address: UInt64) -> UInt64 { elf.bytes.u64(Int(kdata.offset + address - 0x101000))! }
    func b(_ address: UInt64) -> UInt8 { elf.bytes[Int(kdata.offset + address - 0x101000)] }
    // GDT at 0x107000: Linux-compatible selectors.
    #expect((0..<10).map { q(0x107000 + $0 * 8) } == [
        0, 0, 0x00af9b000000ffff, 0x00cf93000000ffff, 0, 0x00cff3000000ffff, 0x00affb000000ffff, 0,
        0x0000_8910_7080_0129, 0])                               // 0x40: TSS at 0x107080, limit 0x129
    // GDTR, IDTR pseudo-descriptors.
    #expect(elf.bytes.u16(Int(kdata.offset + 0x6050))! == 79 && q(0x107052) == 0x107000)
    #expect(elf.bytes.u16(Int(kdata.offset + 0x6060))! == 511 && q(0x107062) == 0x107200)
    // TSS: RSP0 = kernel stack top, I/O map at +0x68.
    #expect(q(0x107084) == 0x109000)
    #expect(elf.bytes.u16(Int(kdata.offset + 0x6080 + 0x66))! == 0x68)
    // I/O bitmap: only 0x500-0x50c, 0x510-0x513 and 0x600-0x603 open, 0xff terminator.
    let io: UInt64 = 0x107080 + 0x68
    func allowed(_ port: Int) -> Bool { b(io + UInt64(port / 8)) & (1 << (port % 8)) == 0 }
    let open = (0..<0x610).filter(allowed)
    #expect(open == Array(0x500...0x50c) + Array(0x510...0x513) + Array(0x600...0x603))
    #expect(b(io + 0xc1) == 0xff)
    // IDT: 32 gates to the 16-byte stubs at 0x100800, kernel CS, #BP DPL3.
    for v in 0..<32 {
        let lo = q(0x107200 + UInt64(v) * 16), hi = q(0x107208 + UInt64(v) * 16)
        let offset = (lo & 0xffff) | ((lo >> 32) & 0xffff_0000)
        #expect(offset == 0x100800 + UInt64(v) * 16 && hi == 0, "vector \(v)")
        #expect((lo >> 16) & 0xffff == 0x10)
        #expect((lo >> 40) & 0xff == (v == 3 ? 0xee : 0x8e), "vector \(v)")
    }
    // The stubs really are there: #GP (has an error code) is `push $13; jmp`,
    // #PF jumps to its demand-mapping handler, #DE pushes a 0 first.
    let ktext = try #require(elf.section(".skiff.ktext"))
    #expect(Array(elf.bytes[Int(ktext.offset + 0x800 + 13 * 16)..<Int(ktext.offset + 0x800 + 13 * 16 + 3)]) == [0x6a, 13, 0xe9])
    #expect(elf.bytes[Int(ktext.offset + 0x800 + 14 * 16)] == 0xe9)
    #expect(Array(elf.bytes[Int(ktext.offset + 0x800)..<Int(ktext.offset + 0x800 + 4)]) == [0x6a, 0, 0x6a, 0])
}

/// Guest/arch/x86_64/cpl3/layout.h and X86_64Layout agree.
@Test func layoutHeaderMatchesSwiftConstants() throws {
    let text = String(decoding: try FileSystem.readFile(repositoryRoot + "/Guest/arch/x86_64/cpl3/layout.h"), as: UTF8.self)
    var defines: [String: UInt64] = [:]
    for line in text.split(separator: "\n") where line.hasPrefix("#define ") {
        let parts = line.split(separator: " ", omittingEmptySubsequences: true)
        if parts.count >= 3, parts[2].hasPrefix("0x"), let v = UInt64(parts[2].dropFirst(2), radix: 16) {
            defines[String(parts[1])] = v
        }
    }
    #expect(defines["SKIFF_KTEXT"] == X86_64Layout.ktext)
    #expect(defines["SKIFF_PML4"] == X86_64Layout.pml4)
    #expect(defines["SKIFF_PDPT"] == X86_64Layout.pdpt)
    #expect(defines["SKIFF_PD"] == X86_64Layout.pd)
    #expect(defines["SKIFF_MAP_LIMIT"] == 0x107070)
    #expect(defines["SKIFF_KSTACK_TOP"] == X86_64Layout.kernelDataEnd)
    #expect(defines["SKIFF_USER_TEXT"] == X86_64Layout.kernelDataEnd)
}

@Test func buildErrorsAreOneLine() throws {
    try #require(toolchainPresent)
    let dir = "/tmp/skiff-build-bad-\(getpid())"
    defer { _ = shell("rm -rf \(dir)") }
    #expect(shell("mkdir -p \(dir) && printf 'import Skiff\\n@main struct A { static func main() {} }\\n' > \(dir)/main.swift"
                  + " && printf '{\"type\":\"solo5.manifest\",\"version\":1,\"devices\":[{\"name\":\"a-b\",\"type\":\"NET_BASIC\"}]}' > \(dir)/manifest.json") == 0)
    #expect(skiffBuildMain([dir, "-o", dir + "/x.hvt"]) == 1)
    #expect(shell("test ! -e \(dir)/x.hvt") == 0)
}
