// Kernel.swift: the CPU-bound loop the benchmark runs both inside a guest and as a Linux process.

/// A 64-bit LCG folded with xorshift, `n` iterations; returns a value that depends on every step.
@inline(never)
func computeKernel(_ n: UInt64, seed: UInt64) -> UInt64 {
    var x = seed | 1
    var acc: UInt64 = 0
    var i: UInt64 = 0
    while i < n {
        x = x &* 6364136223846793005 &+ 1442695040888963407
        acc ^= (x >> 29) &+ (acc << 7)
        i &+= 1
    }
    return acc
}
