// main.swift (Tests/guests/ssp): Solo5 test_ssp: a stack buffer overflow must be caught by the stack protector (ABORT).
//
// The buffer's address goes to a function the compiler cannot see through,
// which is what makes Swift guard `smash` with a canary (sspreq). The
// expected end is the runtime's "Stack corruption detected" abort, before
// `smash` returns through the overwritten return address.

import Skiff

@inline(never)
func fill(_ p: UnsafeMutablePointer<UInt8>, _ count: Int) {
    for i in 0..<count {   // count > 32: runs over the canary
        p[i] = 0x41
    }
}

@inline(never)
func smash(_ count: Int) -> UInt64 {
    var buffer: (UInt64, UInt64, UInt64, UInt64) = (1, 2, 3, 4)
    withUnsafeMutableBytes(of: &buffer) { raw in
        fill(raw.baseAddress!.assumingMemoryBound(to: UInt8.self), count)
    }
    return buffer.0 &+ buffer.3
}

@main
struct App {
    static func main() {
        print("ssp: overflowing a 32-byte stack buffer")
        let n = 32 + 32 + Skiff.arguments.count   // not a compile-time constant
        let r = smash(n)
        print("FAILURE: returned \(r) with a smashed stack")
        Skiff.exit(1)
    }
}
