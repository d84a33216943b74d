// JSONTests.swift: the JSON value (SkiffBuild's) as OCI files use it: round trips, escapes, member order, refusals.

import Testing
import SkiffBuild
@testable import SkiffOCI

@Test func parsesAndWritesBack() throws {
    let text = #"{"ociVersion":"1.0.2","process":{"args":["skiff-hvt","--","/skiff/kernel"],"terminal":false,"user":{"uid":0,"gid":0}},"n":-1.5e3,"x":null,"e":[]}"#
    let v = try JSON.parse(text)
    #expect(v.text == text)
    #expect(v["process"]?["args"]?.arrayValue?.count == 3)
    #expect(v["process"]?["user"]?["uid"]?.intValue == 0)
    #expect(v["n"] == .number("-1.5e3"))
    #expect(v["missing"] == nil)
}

@Test func escapes() throws {
    let v = try JSON.parse(#" "a\"b\\c\/d\n\t\u0001\u00e9\ud83d\ude00" "#)
    #expect(v.stringValue == "a\"b\\c/d\n\t\u{01}é😀")
    #expect(v.text == #""a\"b\\c/d\n\t\u0001é😀""#)
    #expect(try JSON.parse(v.text) == v)
}

@Test func settingMembersKeepsOrder() throws {
    var v = try JSON.parse(#"{"a":1,"b":2}"#)
    v["a"] = .string("x")
    v["c"] = .bool(true)
    v["b"] = nil
    #expect(v.text == #"{"a":"x","c":true}"#)
}

@Test func refusesBadInput() {
    for bad in ["", "{", "[1,]", #"{"a" 1}"#, "tru", #""abc"#, #""\x""#, "01a", "{} x", "\"\u{01}\"", "-", #""\ud800\u0041""#] {
        #expect(throws: JSONError.self, "\(bad)") { try JSON.parse(bad) }
    }
    let deep = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
    #expect(throws: JSONError.self) { try JSON.parse(deep) }
}
