// main.swift (Tests/guests/xnow): Solo5 test_xnow: writing into the guest's own text must not succeed.
//
// Upstream expects the tender's "host/guest translation fault" (Linux). A
// Skiff guest maps its text read-only in its own page tables, so the write
// faults inside the guest first (#PF → ABORT, exit 255); see Tests/e2e/targets.py (xnow).

import Skiff

@inline(never)
func victim() -> Int { 42 }

@main
struct App {
    static func main() {
        let f: @convention(c) () -> Int = victim
        let p = unsafeBitCast(f, to: UnsafeMutablePointer<UInt8>.self)
        print("xnow: writing to text at \(UInt(bitPattern: p))")
        p.pointee = 0xc3
        print("FAILURE: the write did not fault")
        Skiff.exit(1)
    }
}
