// main.swift (Tests/guests/output): Solo5 test_output: one large console write (4.1 KB and 64 KiB).
//
// Line i of the block is "line NNN: " + 64 letters; the e2e test rebuilds
// the same text and compares it byte for byte.

import Skiff

func block(lines: Int) -> String {
    var s = ""
    for i in 0..<lines {
        var n = String(i)
        while n.utf8.count < 3 { n = "0" + n }
        s += "line " + n + ": "
        for j in 0..<64 {
            s += String(UnicodeScalar(UInt8(0x61 + (i + j) % 26)))
        }
        s += "\n"
    }
    return s
}

@main
struct App {
    static func main() {
        print("output: \(Skiff.commandLine)")
        Console.write(block(lines: 56))        // 56 * 75 = 4200 bytes: one write over the 4 KiB buffer
        Console.write("no newline yet, ")      // buffered
        Console.flush()
        Console.write(block(lines: 874))       // 65550 bytes in one write
        print("SUCCESS")
    }
}
