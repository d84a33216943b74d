// ManifestTests.swift: manifest validation, attachment and the guest copy's bytes.

import Testing
@testable import SkiffImage
import SkiffTestSupport

@Test func manifestRoundTrip() throws {
    var m = Manifest(devices: [(name: "storage", type: .blockBasic), (name: "service0", type: .netBasic)])
    let parsed = try Manifest(descriptor: m.bytes)
    #expect(parsed == m)
    #expect(m.noteDescriptor.count == 4 + 8 + 3 * 104)
    m.entries[1].attachBlock(capacity: 4 << 20, blockSize: 4096, hostFD: 7)
    m.entries[2].attachNet(mac: [2, 1, 2, 3, 4, 5], mtu: 1500, hostFD: 8)
    let b = m.bytes
    // entry 1 at 8 + 104: capacity @72, block_size @80, hostfd @88, attached @96
    let e1 = 8 + 104
    #expect(b.qword(e1 + 72) == 4 << 20)
    #expect(b[e1 + 80] == 0x00 && b[e1 + 81] == 0x10)
    #expect(b[e1 + 88] == 7 && b[e1 + 96] == 1)
    let e2 = 8 + 208
    #expect(Array(b[(e2 + 72)..<(e2 + 78)]) == [2, 1, 2, 3, 4, 5])
    #expect(b[e2 + 78] == 0xdc && b[e2 + 79] == 0x05)
    #expect(m.entries[2].attached && m.entries[2].mtu == 1500)
    // A copy with attached set is not a valid ELF manifest.
    #expect(throws: ManifestError.self) { try Manifest(descriptor: b) }
}

@Test func manifestValidation() {
    var d = Manifest(devices: []).bytes
    d.putLE(UInt32(2), at: 0)
    #expect(throws: ManifestError.self) { try Manifest(descriptor: d) }
    #expect(throws: ManifestError.self) { try Manifest(descriptor: [1, 0, 0, 0]) }
    var e0 = Manifest(devices: []).bytes
    e0[8] = 0x41
    #expect(throws: ManifestError.self) { try Manifest(descriptor: e0) }
    let ok = Manifest(devices: [(name: "a", type: .netBasic)])
    #expect(ok.handle(named: "a") == 1)
    #expect(ok.handle(named: "") == nil)
    #expect(ok.handle(named: "b") == nil)
}
