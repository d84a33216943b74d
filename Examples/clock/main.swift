// main.swift: clock, a unikernel that sleeps and shows the monotonic and the wall clock.
//
//   skiff build Examples/clock -o clock.hvt
//   skiff run clock.hvt            # 3 ticks, 1 s apart
//   skiff run clock.hvt 5 250      # 5 ticks, 250 ms apart
//
//   clock: tick 1/3: 2026-11-21 11:12:13.456 UTC, monotonic +1.000 s (slept 1000 ms)
//
// Monotonic time comes from the CPU's time-stamp counter (no exit); wall
// time is one WALLTIME hypercall; sleeping is a POLL hypercall.

import Skiff

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's civil_from_days).
func civil(_ days: Int) -> (Int, Int, Int) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
}

func pad(_ n: Int, _ width: Int) -> String {
    var s = String(n)
    while s.utf8.count < width { s = "0" + s }
    return s
}

/// Nanoseconds since the epoch → "YYYY-MM-DD hh:mm:ss.mmm UTC".
func format(wall ns: UInt64) -> String {
    let seconds = Int(ns / 1_000_000_000)
    let (y, mo, d) = civil(seconds / 86400)
    let s = seconds % 86400
    return "\(pad(y, 4))-\(pad(mo, 2))-\(pad(d, 2)) \(pad(s / 3600, 2)):\(pad(s / 60 % 60, 2)):\(pad(s % 60, 2))."
        + "\(pad(Int(ns / 1_000_000 % 1000), 3)) UTC"
}

/// Nanoseconds → "S.mmm s".
func format(seconds ns: UInt64) -> String {
    "\(ns / 1_000_000_000).\(pad(Int(ns / 1_000_000 % 1000), 3)) s"
}

@main
struct App {
    static func main() {
        let args = Skiff.arguments
        let ticks = args.count > 0 ? Int(args[0]) : 3
        let interval = args.count > 1 ? Int(args[1]) : 1000
        guard let ticks, let interval, ticks >= 0, interval >= 0, args.count <= 2 else {
            print("usage: clock [TICKS [INTERVAL_MS]]")
            Skiff.exit(2)
        }
        let start = Clock.monotonicNanoseconds()
        print("clock: start: \(format(wall: Clock.wallNanoseconds())), monotonic \(start) ns")
        var tick = 0
        while tick < ticks {
            tick += 1
            let before = Clock.monotonicNanoseconds()
            Skiff.sleep(nanoseconds: UInt64(interval) * 1_000_000)
            let now = Clock.monotonicNanoseconds()
            print("clock: tick \(tick)/\(ticks): \(format(wall: Clock.wallNanoseconds())), "
                  + "monotonic +\(format(seconds: now - start)) (slept \((now - before) / 1_000_000) ms)")
        }
    }
}
