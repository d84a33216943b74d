// main.swift: compute benchmark guest: runs `computeKernel(N)` and prints `ns=<elapsed> result=<r>`.
import Skiff

@main struct App {
    static func main() {
        let n = UInt64(Skiff.arguments.first ?? "") ?? 10_000_000
        let t0 = Clock.monotonicNanoseconds()
        let r = computeKernel(n, seed: t0 & 1)
        let t1 = Clock.monotonicNanoseconds()
        print("ns=\(t1 - t0) result=\(r)")
    }
}
