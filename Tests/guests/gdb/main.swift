// main.swift (Tests/guests/gdb): the guest of the gdb sessions (Tests/e2e/test_gdb.py): a call chain with arguments, a global to watch, SUCCESS when the sums come out right.
//
// The `// gdb:` comments mark the lines the tests put breakpoints on (found by
// text, so editing this file does not break them). Built with `skiff build -g`.
// With the argument `spin=N` it first spins N seconds (on the clock, no exits
// on x86), for the Ctrl-C tests.

import Skiff

/// Bumped once per call of `leaf`: the watchpoint tests watch it.
var gdbCounter = 0

@inline(never)
func leaf(_ n: Int) -> Int {
    var total = 0
    for i in 0..<n { total &+= i &* i }
    gdbCounter &+= 1  // gdb: counter
    return total
}

@inline(never)
func middle(_ n: Int) -> Int {
    leaf(n) &+ 1  // gdb: middle
}

/// Spins until `seconds` have passed on the monotonic clock; the turns taken.
@inline(never)
func spin(seconds: UInt64) -> Int {
    let end = Clock.monotonicNanoseconds() &+ seconds &* 1_000_000_000
    var turns = 0
    while Clock.monotonicNanoseconds() < end { turns &+= 1 }  // gdb: spin
    return turns
}

@main
struct App {
    static func main() {
        for a in Skiff.arguments where a.hasPrefix("spin=") {
            print("spun \(spin(seconds: UInt64(a.dropFirst(5)) ?? 1) > 0 ? "" : "not ")at all")
        }
        var sum = 0
        for round in 1...3 {
            sum &+= middle(round &* 10)
        }
        print("sum=\(sum) counter=\(gdbCounter)")
        // 0..<10, 0..<20, 0..<30 squared: 285 + 2470 + 8555, plus 1 each.
        if sum == 11313 && gdbCounter == 3 {
            print("SUCCESS")
        } else {
            print("FAILURE")
            Skiff.exit(1)
        }
    }
}
