// ELFFileTests.swift: the lenient ELF reader (program headers, named sections, .symtab symbols, patching by address) and note encoding.

import Testing
@testable import SkiffImage

/// A small ELF64 built by hand: 2 program headers; sections .text (0x100000,
/// 16 bytes), .strtab, .symtab (start, end), .shstrtab and a NOBITS .bss.
func handMadeELF(shoffDelta: Int = 0) -> [UInt8] {
    var b = [UInt8](repeating: 0, count: 64)
    b.replaceSubrange(0..<6, with: [0x7f, 0x45, 0x4c, 0x46, 2, 1])
    b.putLE(UInt16(2), at: 16); b.putLE(UInt16(62), at: 18); b.putLE(UInt32(1), at: 20)
    b.putLE(UInt64(0x100000), at: 24); b.putLE(UInt64(64), at: 32)
    b.putLE(UInt16(64), at: 52); b.putLE(UInt16(56), at: 54); b.putLE(UInt16(2), at: 56)
    b.putLE(UInt16(64), at: 58); b.putLE(UInt16(6), at: 60); b.putLE(UInt16(4), at: 62)
    func phdr(_ type: UInt32, _ flags: UInt32, _ off: UInt64, _ vaddr: UInt64, _ size: UInt64) {
        b.appendLE(type); b.appendLE(flags)
        for v in [off, vaddr, vaddr, size, size, 0x1000] { b.appendLE(v) }
    }
    phdr(ProgramHeader.load, ProgramHeader.flagR | ProgramHeader.flagX, 176, 0x100000, 16)
    phdr(ProgramHeader.note, ProgramHeader.flagR, 0, 0, 0)
    let text = 176; b += [UInt8](0..<16)
    let strtab = b.count; b += Array("\0start\0end\0".utf8); b += [0, 0, 0, 0, 0]
    let symtab = b.count
    b += [UInt8](repeating: 0, count: 24)
    for (name, value) in [(UInt32(1), UInt64(0x100000)), (7, 0x100010)] {
        b.appendLE(name); b += [0, 0, 0, 0]; b.appendLE(value); b.appendLE(UInt64(0))
    }
    let shstrtab = b.count; b += Array("\0.text\0.symtab\0.strtab\0.shstrtab\0.bss\0".utf8)
    while b.count % 8 != 0 { b.append(0) }
    b.putLE(UInt64(b.count + shoffDelta), at: 40)
    func shdr(_ name: UInt32, _ type: UInt32, _ addr: UInt64, _ off: Int, _ size: Int, link: UInt32 = 0) {
        b.appendLE(name); b.appendLE(type); b.appendLE(UInt64(0)); b.appendLE(addr)
        b.appendLE(UInt64(off)); b.appendLE(UInt64(size)); b.appendLE(link); b.appendLE(UInt32(0))
        b.appendLE(UInt64(0)); b.appendLE(UInt64(0))
    }
    shdr(0, 0, 0, 0, 0)
    shdr(1, 1, 0x100000, text, 16)
    shdr(15, 3, 0, strtab, 11)
    shdr(7, ELFFile.Section.symtab, 0, symtab, 72, link: 2)
    shdr(23, 3, 0, shstrtab, 39)
    shdr(33, ELFFile.Section.nobits, 0x101000, 1 << 40, 0x1000)
    return b
}

@Test func elfFileReadsHeadersSectionsAndSymbols() throws {
    let elf = try ELFFile(bytes: handMadeELF())
    #expect(elf.type == 2 && elf.machine == 62 && elf.entry == 0x100000)
    #expect(elf.programHeaders.count == 2)
    #expect(elf.loadSegments == [ProgramHeader(type: ProgramHeader.load, flags: 5, offset: 176, vaddr: 0x100000,
                                               paddr: 0x100000, filesz: 16, memsz: 16, align: 0x1000)])
    #expect(elf.sections.map(\.name) == ["", ".text", ".strtab", ".symtab", ".shstrtab", ".bss"])
    #expect(elf.section(".text")?.address == 0x100000 && elf.section(".nope") == nil)
    #expect(elf.symbol("start") == 0x100000 && elf.symbol("end") == 0x100010)
    #expect(elf.symbol("star") == nil && elf.symbol("ends") == nil)
}

@Test func elfFileSharesProgramHeadersWithTheStrictReader() throws {
    let bytes = handMadeELF()
    #expect(try ELFImage(bytes: bytes, arch: .x86_64).programHeaders == ELFFile(bytes: bytes).programHeaders)
    #expect(ProgramHeader(bytes, at: bytes.count - 55) == nil && ProgramHeader(bytes, at: -1) == nil)
}

@Test func elfFilePatchesInsideOneSectionOnly() throws {
    var elf = try ELFFile(bytes: handMadeELF())
    let patched = elf.patch(address: 0x10000e, with: [0xaa, 0xbb])
    #expect(patched)
    #expect(Array(elf.bytes[(176 + 14)..<(176 + 16)]) == [0xaa, 0xbb])
    let before = elf.bytes
    let refused = [elf.patch(address: 0x10000f, with: [1, 2]),   // crosses the section end
                   elf.patch(address: 0x101000, with: [1]),         // NOBITS
                   elf.patch(address: .max, with: [1, 2])]          // wraps
    #expect(refused == [false, false, false])
    #expect(elf.bytes == before)
}

@Test func elfFileRefusals() {
    func why(_ b: [UInt8]) -> String? {
        do { _ = try ELFFile(bytes: b); return nil } catch {
            guard case .invalidHeader(let w) = error else { return "\(error)" }
            return w
        }
    }
    let good = handMadeELF()
    #expect(why(Array(good.prefix(63))) == "not an ELF file")
    var b = good; b[5] = 2
    #expect(why(b) == "not little-endian ELF64")
    b = good; b.putLE(UInt16(64), at: 54)
    #expect(why(b) == "bad program headers")
    b = good; b.putLE(UInt64.max, at: 32)
    #expect(why(b) == "bad program headers")
    #expect(why(handMadeELF(shoffDelta: 1 << 20)) == "bad section headers")
    b = good; b.putLE(UInt16(6), at: 62)
    #expect(why(b) == "bad section headers")
    b = good; b.putLE(UInt64(1 << 40), at: Int(b.u64(40)!) + 64 + 24)     // .text's sh_offset
    #expect(why(b) == "section .text beyond the file")
}

@Test func noteBytesRoundTrip() {
    let n = ELFNote(name: "Solo5", type: ELFImage.abiNoteType, descriptor: ELFImage.hvtABINoteDescriptor)
    #expect(n.bytes == [6, 0, 0, 0, 16, 0, 0, 0, 0x41, 0x42, 0x49, 0x31, 0x53, 0x6f, 0x6c, 0x6f, 0x35, 0, 0, 0,
                        1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    let odd = ELFNote(name: "Skiff!", type: 7, descriptor: [1, 2, 3])
    #expect(odd.bytes.count == 12 + 8 + 4)
    #expect(ELFNote.parse(n.bytes + odd.bytes) == [n, ELFNote(name: "Skiff!", type: 7, descriptor: [1, 2, 3])])
}
