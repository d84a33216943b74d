// main.swift (Tests/guests/zeropage): Solo5 test_zeropage: a write to address 8 (the unmapped zero page) must ABORT.

import Skiff

@main
struct App {
    static func main() {
        print("zeropage: writing to 0x8")
        let p = UnsafeMutablePointer<UInt64>(bitPattern: 8)!
        p.pointee = 1
        print("FAILURE: the write did not fault")
        Skiff.exit(1)
    }
}
