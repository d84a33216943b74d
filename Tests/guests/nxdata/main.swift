// main.swift (Tests/guests/nxdata): execute code placed in writable data: must ABORT (NX, #PF).
//
// Upstream's wnox is OpenBSD-only (Solo5's tables never set XD). Skiff
// guests set EFER.NXE and mark data non-executable, so this must fault.

import Skiff

nonisolated(unsafe) var code: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
    (0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3, 0xcc, 0xcc)  // mov $42, %eax; ret

@main
struct App {
    static func main() {
        let r = withUnsafeMutableBytes(of: &code) { buf -> Int32 in
            let f = unsafeBitCast(buf.baseAddress!, to: (@convention(c) () -> Int32).self)
            print("nxdata: calling data at \(UInt(bitPattern: buf.baseAddress!))")
            return f()
        }
        print("FAILURE: executed data, got \(r)")
        Skiff.exit(1)
    }
}
