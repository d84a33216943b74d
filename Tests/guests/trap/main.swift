// main.swift (Tests/guests/trap): Swift runtime traps end the unikernel with ABORT (not part of Solo5's suite).
//
// `trap index` reads past an array, `trap overflow` overflows an Int,
// `trap oom` allocates until the heap is exhausted, `trap fatal` calls
// fatalError. Embedded Swift traps with `ud2`: the runtime reports a #UD
// and HALTs with 255.

import Skiff

@main
struct App {
    static func main() {
        let mode = Skiff.arguments.first ?? ""
        let opaque = Skiff.arguments.count   // 1: keeps the compiler from folding the traps away
        print("trap: \(mode)")
        switch mode {
        case "index":
            let a = [1, 2, 3]
            print("FAILURE: read \(a[opaque + 4])")
        case "overflow":
            let x = Int.max - 1 + opaque
            print("FAILURE: computed \(x + 1)")
        case "oom":
            var keep: [[UInt8]] = []
            while true { keep.append([UInt8](repeating: UInt8(opaque), count: 1 << 20)) }
        case "fatal":
            fatalError("trap: fatalError called")
        default:
            print("usage: trap index|overflow|oom|fatal")
            Skiff.exit(2)
        }
        Skiff.exit(1)
    }
}
