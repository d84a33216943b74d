// FuzzSupport.swift: helpers shared by the libFuzzer targets: invariant checks, guard pages around guest RAM, the entry point.
//
// The FuzzSupport target of Fuzz/Package.swift, linked into every fuzzer.
// A broken invariant calls `fatalError`, which libFuzzer reports as a deadly
// signal and saves as a crash artifact.

import CLibFuzzer
import Glibc
import SkiffCore

/// Traps with `what` unless `condition` holds: a Skiff bug, not a rejected input.
@inlinable @inline(__always)
public func invariant(_ condition: @autoclosure () -> Bool, _ what: @autoclosure () -> String,
               file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("fuzz invariant broken: \(what())", file: file, line: line) }
}

/// Little-endian read of a `T` at `offset` in `b`, zero-filled past the end.
@inlinable @inline(__always)
public func le<T: FixedWidthInteger>(_: T.Type, _ b: UnsafeRawBufferPointer, _ offset: Int) -> T {
    var v: T = 0
    for i in (0..<MemoryLayout<T>.size).reversed() {
        let o = offset + i
        v = (v << 8) | T(o >= 0 && o < b.count ? b[o] : 0)
    }
    return v
}

/// Maps `PROT_NONE` pages right below and right above `memory`'s mapping, so
/// that a host access that escapes the bounds check faults (SIGSEGV) instead of
/// silently touching some neighbouring mapping. ASan does not see mmap'd
/// memory, so without guards an out-of-bounds access could go unnoticed.
/// Best effort: a guard that cannot be placed (address in use) is skipped.
public func addGuardPages(around memory: GuestMemory, bytes: Int = 1 << 16) {
    let base = UnsafeMutableRawPointer(bitPattern: memory.hostAddressForHypervisor)!
    for at in [base - bytes, base + Int(memory.allocationSize)] {
        // MAP_FIXED_NOREPLACE (Linux ≥ 4.17) never clobbers an existing mapping;
        // older kernels treat it as a hint, so a different address is undone.
        let p = mmap(at, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | 0x100000 /* MAP_FIXED_NOREPLACE */, -1, 0)
        if let p, p != MAP_FAILED, p != at { munmap(p, bytes) }
    }
}

/// `LLVMFuzzerTestOneInput`'s type.
public typealias FuzzTestOneInput = @convention(c) (_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt

/// The program's entry: hands the command line to libFuzzer's driver.
///
/// SwiftPM links every executable target with `main` defined as
/// `<Target>_main` (`--defsym`, so that tests could link executables), which
/// `-parse-as-library` leaves undefined; each fuzzer therefore defines
/// `<Target>_main` with `@_cdecl` and calls this, and libFuzzer's own `main` is
/// not linked. Built without the renaming, libFuzzer's `main` runs instead and
/// does the same.
public func libFuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                          _ testOneInput: FuzzTestOneInput) -> CInt {
    var argc = argc, argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, testOneInput)
}
