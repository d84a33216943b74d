// main.swift (Tests/guests/poke): writes a zero byte at the address given in hex as its argument; SUCCESS if it may.

import Skiff

@main
struct App {
    static func main() {
        guard Skiff.arguments.count == 1, let address = UInt(Skiff.arguments[0], radix: 16),
              let p = UnsafeMutablePointer<UInt8>(bitPattern: address) else {
            print("FAILURE: expected one hex address")
            Skiff.exit(1)
        }
        print("poke: writing to 0x" + String(address, radix: 16))
        p.pointee = 0
        print("SUCCESS")
    }
}
