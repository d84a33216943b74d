// main.swift: compute benchmark as a Linux process: same kernel, `ns=<elapsed> result=<r>`.
import Glibc

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

let n = CommandLine.arguments.count > 1 ? UInt64(CommandLine.arguments[1]) ?? 10_000_000 : 10_000_000
let t0 = now()
let r = computeKernel(n, seed: t0 & 1)
let t1 = now()
print("ns=\(t1 - t0) result=\(r)")
