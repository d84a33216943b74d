// Clock.swift: monotonic (TSC) and wall-clock time.

import SkiffRuntime

/// Time sources, in nanoseconds.
public enum Clock {
    /// Monotonic time in nanoseconds from the CPU's time-stamp counter and
    /// the boot info `cpu_cycle_freq` (a 128-bit multiply, no hypercall,
    /// ~20 ns). It does not start at 0; use differences.
    @inline(__always)
    public static func monotonicNanoseconds() -> UInt64 {
        skiff_clock_monotonic()
    }

    /// Wall-clock time: nanoseconds since the Unix epoch, from the host.
    ///
    /// The corresponding hypercall is `WALLTIME` (one VM exit).
    public static func wallNanoseconds() -> UInt64 {
        skiff_clock_wall()
    }
}
