// main.swift (Tests/guests/exception): Solo5 test_exception: a write to unmapped 0x400000000 must ABORT (#PF).

import Skiff

@main
struct App {
    static func main() {
        print("exception: writing to 0x400000000")
        let p = UnsafeMutablePointer<UInt64>(bitPattern: 0x4_0000_0000)!
        p.pointee = 0x5a5a
        print("FAILURE: the write did not fault")
        Skiff.exit(1)
    }
}
