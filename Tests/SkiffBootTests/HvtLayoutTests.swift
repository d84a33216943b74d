// HvtLayoutTests.swift: the hvt boot protocol's boot info, memory sizing and command line, byte by byte against the spec.

import Testing
import SkiffTestSupport
import SkiffCore
@testable import SkiffBoot

@Test func bootInfoLayout() {
    let m = Manifest(devices: [(name: "storage", type: .blockBasic)])
    let w = BootInfoWriter(memSize: 0x4000000, kernelEnd: 0x105000, cpuCycleFrequency: 2_596_142_000,
                           manifest: m, commandLine: Array("a b".utf8))
    let b = w.bytes
    #expect(b.qword(0) == 0x4000000)
    #expect(b.qword(8) == 0x105000)
    #expect(b.qword(16) == 2_596_142_000)
    #expect(b.qword(24) == 0x10110)  // N=2 → cmdline at 0x10110 (spec §5.3)
    #expect(b.qword(32) == 0x10038)
    #expect(b.qword(40) == 0 && b.qword(48) == 0)
    #expect(Array(b[0x38..<0x40]) == [1, 0, 0, 0, 2, 0, 0, 0])
    #expect(Array(b[0x110..<0x114]) == [0x61, 0x20, 0x62, 0])
    #expect(b.count == 0x110 + 8192)
    let one = BootInfoWriter(memSize: 1, kernelEnd: 0, cpuCycleFrequency: 0, manifest: Manifest(devices: []), commandLine: [])
    #expect(one.commandLineAddress == 0x100A8)
}

@Test func memorySizing() throws {
    let d = try MemorySize(requestedBytes: 512 << 20, withRing: false)
    #expect(d.guest == 512 << 20 && d.allocation == 512 << 20 && !d.adjusted)
    let r = try MemorySize(requestedBytes: 64 << 20, withRing: true)
    #expect(r.allocation == 66 << 20 && r.guest == 64 << 20)
    let cap = try MemorySize(requestedBytes: 4096 << 20, withRing: true)
    #expect(cap.allocation == 4 << 30 && cap.guest == 0xFFE0_0000)
    let odd = try MemorySize(requestedBytes: 3 << 20, withRing: false)
    #expect(odd.guest == 2 << 20 && odd.adjusted)
    let tiny = try MemorySize(requestedBytes: 1 << 20, withRing: false)
    #expect(tiny.guest == 2 << 20)
    #expect(throws: MemorySizeError.tooLarge(8192 << 20)) { try MemorySize(requestedBytes: 8192 << 20, withRing: false) }
}

@Test func commandLineAssembly() throws {
    #expect(try guestCommandLine([String]()) == [])
    #expect(try guestCommandLine(["a", "", "b"]) == Array("a  b".utf8))
    #expect(try guestCommandLine([String(repeating: "x", count: 8191)]).count == 8191)
    #expect(throws: CommandLineTooLong.self) { try guestCommandLine([String(repeating: "x", count: 8192)]) }
}
