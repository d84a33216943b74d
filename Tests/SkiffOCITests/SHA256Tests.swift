// SHA256Tests.swift: SkiffOCI's SHA-256 against FIPS 180-4 / NIST example vectors, across block boundaries and split updates.

import Testing
@testable import SkiffOCI

@Test func knownVectors() {
    #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    #expect(SHA256.hex(Array("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu".utf8))
            == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    #expect(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
}

@Test func splitUpdatesMatchOneShot() {
    let data = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
    for cut in [0, 1, 55, 56, 63, 64, 65, 128, 299] {
        var s = SHA256()
        s.update(Array(data[0..<cut]))
        s.update(Array(data[cut...]))
        #expect(SHA256.hexString(s.finish()) == SHA256.hex(data), "cut at \(cut)")
    }
    // Lengths around the padding boundary differ from each other.
    #expect(Set((54...66).map { SHA256.hex([UInt8](repeating: 0, count: $0)) }).count == 13)
}
