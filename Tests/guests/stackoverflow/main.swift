// main.swift (Tests/guests/stackoverflow): unbounded recursion hits the stack guard page: ABORT (not in Solo5's suite).

import Skiff

@inline(never)
func down(_ n: Int) -> Int {
    n == 0 ? 0 : down(n &- 1) &+ n &* Int(Clock.monotonicNanoseconds() & 1)   // not a tail call
}

@main
struct App {
    static func main() {
        print("stackoverflow: recursing")
        print("FAILURE: returned \(down(Int.max))")
        Skiff.exit(1)
    }
}
