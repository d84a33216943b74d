// main.swift (Tests/guests/time): Solo5 test_time: monotonic clock, yield/sleep durations, wall clock.
//
// Checks: the monotonic clock advances; a yield with a past deadline returns
// at once; two 1 s sleeps each measure 1 s ± 20 % on the monotonic clock and
// agree with the wall clock within 20 %; the wall clock is after 2017-01-01.

import Skiff

let second: UInt64 = 1_000_000_000

func milliseconds(_ ns: UInt64) -> String { String(ns / 1_000_000) + " ms" }

@main
struct App {
    static func main() {
        var ok = true
        func fail(_ s: String) { print("FAILURE: " + s); ok = false }

        let t0 = Clock.monotonicNanoseconds()
        var t1 = Clock.monotonicNanoseconds()
        var spins = 0
        while t1 == t0 && spins < 1_000_000 { t1 = Clock.monotonicNanoseconds(); spins += 1 }
        if t1 <= t0 { fail("the monotonic clock does not advance") }

        let before = Clock.monotonicNanoseconds()
        Skiff.yield(until: before > 1000 ? before - 1000 : 0)
        let waited = Clock.monotonicNanoseconds() - before
        print("yield with a past deadline: \(milliseconds(waited))")
        if waited > second / 10 { fail("yield with a past deadline took \(milliseconds(waited))") }

        for round in 1...2 {
            let m0 = Clock.monotonicNanoseconds()
            let w0 = Clock.wallNanoseconds()
            Skiff.sleep(nanoseconds: second)
            let m = Clock.monotonicNanoseconds() - m0
            let w = Clock.wallNanoseconds() - w0
            print("sleep \(round): 1 s measured \(milliseconds(m)) monotonic, \(milliseconds(w)) wall")
            if m < second * 8 / 10 { fail("slept too little") }
            if m > second * 12 / 10 { fail("slept too much") }
            if w < m * 8 / 10 || w > m * 12 / 10 { fail("wall and monotonic clocks disagree") }
        }

        let wall = Clock.wallNanoseconds()
        print("wall clock: \(wall / second) s since the epoch")
        if wall < 1_483_228_800 * second { fail("the wall clock is before 2017-01-01") }
        print(ok ? "SUCCESS" : "FAILURE")
        if !ok { Skiff.exit(1) }
    }
}
