// Skiff.swift: the `Skiff` namespace: command line, exit, abort, sleep, yield.
//
// The Swift face of the Skiff guest runtime (Embedded Swift), the same on
// every platform: everything goes through the C runtime (Guest/common,
// Guest/arch/*, Guest/platform/*, imported as `SkiffRuntime`), and what
// differs between platforms is asked of it (Platform.swift).

import SkiffRuntime

/// The unikernel's process-like services: arguments, exit, time-outs.
///
/// A Skiff program is an Embedded Swift module with an `@main` type:
///
/// ```swift
/// import Skiff
///
/// @main struct App {
///     static func main() {
///         print("hello: \(Skiff.arguments)")
///     }
/// }
/// ```
///
/// Returning from `main()` ends the unikernel with exit status 0.
public enum Skiff {
    /// The command line the monitor passed (`skiff run KERNEL ARGS...` joins
    /// `ARGS` with single spaces). Empty when there are no arguments.
    public static var commandLine: String {
        guard let p = skiff_cmdline() else { return "" }
        return String(cString: p)
    }

    /// The command line split on spaces, empty pieces dropped. Unlike
    /// `CommandLine.arguments` there is no program name at index 0.
    public static var arguments: [String] {
        commandLine.utf8.split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Guest memory size in bytes (boot info `mem_size`).
    public static var memorySize: UInt64 { skiff_mem_size() }

    /// Ends the unikernel with `status` (the monitor's exit status is
    /// `status & 0xff`). Buffered console output is flushed first.
    ///
    /// The corresponding hypercall is `HALT`.
    public static func exit(_ status: Int32) -> Never {
        skiff_exit(status)
    }

    /// Prints `Skiff: ABORT: <message>` and ends the unikernel with status 255.
    public static func abort(_ message: String) -> Never {
        var message = message
        message.withUTF8 { buf in
            skiff_abort(UnsafeRawPointer(buf.baseAddress)?.assumingMemoryBound(to: CChar.self), buf.count)
        }
    }

    /// Blocks for at least `nanoseconds` (network input does not cut it short).
    ///
    /// The corresponding hypercall is `POLL`.
    public static func sleep(nanoseconds: UInt64) {
        let now = Clock.monotonicNanoseconds()
        let (deadline, overflow) = now.addingReportingOverflow(nanoseconds)
        let end = overflow ? UInt64.max : deadline
        while Clock.monotonicNanoseconds() < end {
            yield(until: end)
        }
    }

    /// Waits until `deadline` (``Clock/monotonicNanoseconds()``) or until a
    /// network device has input, whichever is first, and returns the devices
    /// with input. A deadline in the past only checks for input.
    ///
    /// The corresponding hypercall is `POLL` with `max(0, deadline - now)`.
    @discardableResult
    public static func yield(until deadline: UInt64) -> NetSet {
        let now = Clock.monotonicNanoseconds()
        let timeout = deadline > now ? deadline - now : 0
        return NetSet(rawValue: skiff_poll(timeout))
    }
}
