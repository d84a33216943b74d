// ManifestAndNotesTests.swift: manifest.json parsing and errors, ABI1/MFT1 note bytes.

import Testing
@testable import SkiffBuild
import SkiffCore

func parseManifest(_ text: String) throws(BuildError) -> Manifest {
    try ManifestSource.parse(Array(text.utf8), fileName: "app/manifest.json")
}

func manifestError(_ text: String) -> String? {
    do {
        _ = try parseManifest(text)
        return nil
    } catch {
        return error.message
    }
}

@Test func manifestWithDevices() throws {
    let d = try parseManifest("""
        {"type": "solo5.manifest", "version": 1,
         "devices": [{"name": "storage", "type": "BLOCK_BASIC"},
                     {"type": "NET_BASIC", "name": "service0"}]}
        """)
    #expect(d == Manifest(devices: [("storage", .blockBasic), ("service0", .netBasic)]))
}

@Test func manifestWithoutDevices() throws {
    #expect(try parseManifest(#"{"type":"solo5.manifest","version":1}"#).devices.isEmpty)
    #expect(try parseManifest(#" {"version":1,"type":"solo5.manifest","devices":[]} "#).devices.isEmpty)
}

@Test func sixtyThreeDevicesAreTheLimit() throws {
    func manifest(_ n: Int) -> String {
        let ds = (0..<n).map { #"{"name":"storage\#($0)","type":"BLOCK_BASIC"}"# }
        return #"{"type":"solo5.manifest","version":1,"devices":["# + ds.joined(separator: ",") + "]}"
    }
    #expect(try parseManifest(manifest(63)).devices.count == 63)
    #expect(manifestError(manifest(64)) == "app/manifest.json:1: .devices: too many entries, maximum 63")
}

struct BadManifest: Sendable, CustomTestStringConvertible {
    var text: String
    var message: String
    var testDescription: String { message }
}

let badManifests: [BadManifest] = [
    .init(text: "", message: "app/manifest.json:1: invalid JSON: unexpected end of input"),
    .init(text: "{\n\"type\": \"solo5.manifest\",\n}", message: "app/manifest.json:3: invalid JSON: expected a string key"),
    .init(text: "[]", message: "app/manifest.json:1: the manifest must be a JSON object, not an array"),
    .init(text: #"{"type":"solo5.manifesto","version":1}"#, message: #"app/manifest.json:1: .type: must be "solo5.manifest""#),
    .init(text: #"{"type":"solo5.manifest","version":2}"#, message: "app/manifest.json:1: .version: must be 1"),
    .init(text: #"{"type":"solo5.manifest","version":1.0}"#, message: "app/manifest.json:1: .version: must be 1"),
    .init(text: #"{"type":"solo5.manifest"}"#, message: #"app/manifest.json:1: missing "version": 1"#),
    .init(text: #"{"version":1}"#, message: #"app/manifest.json:1: missing "type": "solo5.manifest""#),
    .init(text: "{\"type\":\"solo5.manifest\",\"version\":1,\n\"extra\":0}", message: #"app/manifest.json:2: unknown key "extra" (expected type, version, devices)"#),
    .init(text: #"{"type":"solo5.manifest","version":1,"devices":{}}"#, message: "app/manifest.json:1: .devices: must be an array, not an object"),
    .init(text: #"{"type":"solo5.manifest","version":1,"devices":["x"]}"#, message: "app/manifest.json:1: .devices[0]: must be an object, not a string"),
    .init(text: #"{"type":"solo5.manifest","version":1,"devices":[{"name":"a_b","type":"NET_BASIC"}]}"#,
          message: #"app/manifest.json:1: .devices[0].name: "a_b" must be 1-67 ASCII letters or digits"#),
    .init(text: #"{"type":"solo5.manifest","version":1,"devices":[{"name":"","type":"NET_BASIC"}]}"#,
          message: #"app/manifest.json:1: .devices[0].name: "" must be 1-67 ASCII letters or digits"#),
    .init(text: #"{"type":"solo5.manifest","version":1,"devices":[{"name":""# + String(repeating: "a", count: 68) + #"","type":"NET_BASIC"}]}"#,
          message: #"app/manifest.json:1: .devices[0].name: ""# + String(repeating: "a", count: 68) + #"" must be 1-67 ASCII letters or digits"#),
    .init(text: #"{"type":"solo5.manifest","version":1,"devices":[{"name":"net","type":"NET"}]}"#,
          message: #"app/manifest.json:1: .devices[0].type: must be "BLOCK_BASIC" or "NET_BASIC""#),
    .init(text: #"{"type":"solo5.manifest","version":1,"devices":[{"name":"net"}]}"#,
          message: #"app/manifest.json:1: .devices[0]: missing "type""#),
    .init(text: #"{"type":"solo5.manifest","version":1,"devices":[{"type":"NET_BASIC"}]}"#,
          message: #"app/manifest.json:1: .devices[0]: missing "name""#),
    .init(text: #"{"type":"solo5.manifest","version":1,"devices":[{"name":"a","type":"NET_BASIC","mac":"x"}]}"#,
          message: #"app/manifest.json:1: .devices[0]: unknown key "mac" (expected name, type)"#),
    .init(text: #"{"type":"solo5.manifest","version":1,"devices":[{"name":"a","type":"NET_BASIC"},{"name":"a","type":"BLOCK_BASIC"}]}"#,
          message: #"app/manifest.json:1: .devices[1].name: duplicate device name "a""#),
    .init(text: #"{"type":"solo5.manifest","type":"solo5.manifest","version":1}"#,
          message: #"app/manifest.json:1: invalid JSON: duplicate key "type""#),
]

@Test(arguments: badManifests) func badManifestIsOneLineNamingTheFile(_ bad: BadManifest) {
    let message = manifestError(bad.text)
    #expect(message == bad.message)
    #expect(message?.contains("\n") == false)
}

@Test func jsonValues() throws {
    let v = try parseJSON(Array(#"[1, -2.5e3, true, false, null, "a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", {}]"#.utf8))
    #expect(v == .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null,
                         .string("a\"\\/\u{8}\u{c}\n\r\t\u{e9}\u{1F600}"), .object([])]))
    for bad in ["01", "1.", "-", "\"\\x\"", "\"a", "[1,]", "{\"a\" 1}", "tru", "1 2", "\"\u{1}\"", "\"\\ud800\""] {
        #expect(throws: JSONError.self, "\(bad)") { try parseJSON(Array(bad.utf8)) }
    }
    #expect(throws: JSONError.self) { try parseJSON(Array((String(repeating: "[", count: 100) + String(repeating: "]", count: 100)).utf8)) }
}

@Test func abiNoteBytes() {
    #expect(SoloNotes.abiNote() == [
        6, 0, 0, 0, 16, 0, 0, 0, 0x41, 0x42, 0x49, 0x31,          // namesz, descsz, "ABI1"
        0x53, 0x6f, 0x6c, 0x6f, 0x35, 0, 0, 0,                    // "Solo5\0" + pad
        1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,          // hvt, version 2
    ])
}

@Test func manifestNoteWithoutDevicesHasOnlyTheReservedEntry() {
    let note = SoloNotes.manifestNote(Manifest(devices: []))
    #expect(note.count == 24 + 8 + 104)
    #expect(Array(note[0..<24]) == [6, 0, 0, 0, 116, 0, 0, 0, 0x4d, 0x46, 0x54, 0x31,
                                   0x53, 0x6f, 0x6c, 0x6f, 0x35, 0, 0, 0, 0, 0, 0, 0])
    #expect(Array(note[24..<32]) == [1, 0, 0, 0, 1, 0, 0, 0])
    var reserved = [UInt8](repeating: 0, count: 104)
    reserved[71] = 0x40
    #expect(Array(note[32...]) == reserved)
}

@Test func manifestNoteEntriesAndMonitorAgree() throws {
    let note = SoloNotes.manifestNote(Manifest(devices: [("storage", .blockBasic), ("service0", .netBasic)]))
    #expect(note.u32(4)! == 4 + 8 + 104 * 3)
    let e1 = 32 + 104
    #expect(Array(note[e1..<(e1 + 8)]) == Array("storage\0".utf8))
    #expect(note[e1 + 68] == 1 && note[e1 + 104 + 68] == 2)
    #expect(note[(e1 + 72)..<(e1 + 104)].allSatisfy { $0 == 0 })
    // The monitor's own validator (mft_validate) accepts the descriptor.
    let m = try SkiffCore.Manifest(descriptor: Array(note[24...]))
    #expect(m.devices.map(\.name) == ["storage", "service0"])
    #expect(m.devices.map(\.typeCode) == [1, 2])
    #expect(m == SkiffCore.Manifest(devices: [("storage", .blockBasic), ("service0", .netBasic)]))
}

@Test func notesAssembly() {
    let s = SoloNotes.assembly(Manifest(devices: []))
    #expect(s.contains(".section .note.solo5.abi, \"a\", @note\n\t.balign 4\n"))
    #expect(s.contains(".section .note.solo5.manifest, \"a\", @note\n\t.balign 8\n"))
    #expect(s.contains("\t.byte 6,0,0,0,16,0,0,0,65,66,73,49,83,111,108,111\n"))
}
