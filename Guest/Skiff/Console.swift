// Console.swift: console output (the PUTS hypercall, line-buffered).

import SkiffRuntime

/// The unikernel's console: the monitor's standard output.
///
/// `print` and `Console.write` share one line buffer: output goes to the
/// monitor one line at a time (one `PUTS` hypercall per line, or per 4 KiB
/// without a newline). Writes of 4 KiB or more are sent as they are, after
/// flushing what is buffered. `Skiff.exit`, `Skiff.abort` and faults flush.
public enum Console {
    /// Writes the UTF-8 bytes of `string`.
    public static func write(_ string: String) {
        var string = string
        string.withUTF8 { buf in
            skiff_console_write(buf.baseAddress, buf.count)
        }
    }

    /// Writes raw bytes.
    public static func write(bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        skiff_console_write(base, bytes.count)
    }

    /// Sends buffered output now.
    ///
    /// The corresponding hypercall is `PUTS`.
    public static func flush() {
        skiff_console_flush()
    }
}
