// RunOptions.swift: the `skiff run` command line, solo5-hvt syntax, parsed in two passes (spec §4.1–4.2).

/// A parsed `skiff run` command line. Device names are checked against the
/// manifest later, by `DeviceConfiguration.resolve`.
public struct RunOptions: Equatable, Sendable {
    public var kernel: String
    public var guestArguments: [String] = []
    /// The guest arguments as the exact bytes the caller passed (argv need not
    /// be UTF-8); when nil, `guestArguments`' UTF-8 is used.
    public var rawGuestArguments: [[UInt8]]? = nil
    /// The bytes of the guest command line's words.
    public var guestArgumentBytes: [[UInt8]] { rawGuestArguments ?? guestArguments.map { Array($0.utf8) } }
    /// `--mem`, in bytes (default 512 MiB).
    public var memoryBytes: UInt64 = 512 << 20
    public var blocks: [NamedValue] = []
    public var blockSectorSizes: [NamedValue] = []
    public var nets: [NamedValue] = []
    public var netMACs: [NamedValue] = []
    /// Options of modules that keep no field here (NAME = the option without `--`, VALUE its argument).
    public var moduleSettings: [NamedValue] = []
    public var sandbox = true
    /// `--initrd=PATH`: an initial RAM disk for an arm64 Image (the Linux boot protocol only).
    public var initrd: String? = nil
    /// I/O ports whose 4-byte OUTs are accepted and ignored (benchmarks measure the bare exit cost with them).
    public var ignoredPorts: [UInt32] = []
    /// The name the monitor was invoked as (`skiff`, `skiff-hvt`, `solo5-hvt-debug`…): messages and
    /// upstream-compatible file names (`core.solo5-hvt.PID`) follow it.
    public var program = "skiff-hvt"

    public struct NamedValue: Equatable, Sendable {
        public var name: String, value: String
        public init(name: String, value: String) { self.name = name; self.value = value }
    }

    public init(kernel: String) { self.kernel = kernel }
}

public enum OptionError: Error, Equatable, Sendable {
    case help
    case version
    case missingKernel
    case invalidOption(String)
    case malformedMemory
    case badSectorSize(String)
    case badMAC(String)

    public var message: String {
        switch self {
        case .help, .version: return ""
        case .missingKernel: return "Missing KERNEL operand"
        case .invalidOption(let a): return "Invalid option: `\(a)'"
        case .malformedMemory: return "Malformed argument to --mem"
        case .badSectorSize(let a): return "Block size must be a multiple of 2 greater than or equal 512: `\(a)'"
        case .badMAC(let a): return "Malformed MAC address: `\(a)'"
        }
    }
}

/// `[A-Za-z0-9]{1,67}`: a manifest device name.
public func isValidDeviceName(_ s: Substring) -> Bool {
    guard !s.isEmpty, s.utf8.count <= 67 else { return false }
    return s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) }
}

/// Parses `xx:xx:xx:xx:xx:xx`.
public func parseMAC(_ s: String) -> [UInt8]? {
    let parts = s.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 6 else { return nil }
    var mac: [UInt8] = []
    for p in parts {
        guard p.count == 2, let b = UInt8(p, radix: 16) else { return nil }
        mac.append(b)
    }
    return mac
}

/// Like C's `strtoll` scan used for `--mem=`: optional sign, digits, trailing garbage ignored.
func scanDecimal(_ s: Substring) -> Int64? {
    var i = s.startIndex
    var negative = false
    if i < s.endIndex, s[i] == "-" || s[i] == "+" { negative = s[i] == "-"; i = s.index(after: i) }
    var v: Int64 = 0
    var any = false
    while i < s.endIndex, let d = s[i].wholeNumberValue, s[i].isASCII {
        let (m, o1) = v.multipliedReportingOverflow(by: 10)
        let (a, o2) = m.addingReportingOverflow(Int64(d))
        v = (o1 || o2) ? Int64.max : a
        any = true
        i = s.index(after: i)
    }
    guard any else { return nil }
    return negative ? -v : v
}

extension RunOptions {
    /// Parses `[OPTIONS] [--] KERNEL [ARGS...]` (the words after `skiff run`): the core's
    /// options here, every other option by the first of `modules` that accepts it.
    public static func parse(_ args: [String], modules: [ModuleDescriptor]) throws(OptionError) -> RunOptions {
        // Pass 1: find KERNEL; act on --help/--version as met.
        var i = 0
        while i < args.count, args[i].hasPrefix("-") {
            if args[i] == "--" { i += 1; break }
            if args[i] == "--help" || args[i] == "-h" { throw .help }
            if args[i] == "--version" { throw .version }
            i += 1
        }
        guard i < args.count else { throw .missingKernel }
        var o = RunOptions(kernel: args[i])
        o.guestArguments = Array(args[(i + 1)...])
        // Pass 2: the options before KERNEL.
        for a in args[..<i] where a != "--" {
            if a.hasPrefix("--mem=") {
                guard let v = scanDecimal(a.dropFirst(6)), v != 0 else { throw .malformedMemory }
                o.memoryBytes = UInt64(bitPattern: v) &* (1 << 20)
                if v < 0 || v > (1 << 43) { o.memoryBytes = .max }
            } else if a == "--no-sandbox" {
                o.sandbox = false
            } else if a.hasPrefix("--initrd="), a.count > 9 {
                o.initrd = String(a.dropFirst(9))
            } else if a.hasPrefix("--bench-port=") {
                let v = a.dropFirst(13)
                guard let p = v.hasPrefix("0x") ? UInt32(v.dropFirst(2), radix: 16) : UInt32(v), p > 0x508, p < 0x600 else {
                    throw .invalidOption(a)
                }
                o.ignoredPorts.append(p)
            } else {
                var taken = false
                for m in modules where !taken { taken = try m.parseOption(a, &o) }
                guard taken else { throw .invalidOption(a) }
            }
        }
        return o
    }

    /// `PREFIXNAME=VALUE` with a valid NAME and a non-empty VALUE.
    public static func named(_ a: String, _ prefix: String) -> NamedValue? {
        guard a.hasPrefix(prefix) else { return nil }
        let rest = a.dropFirst(prefix.count)
        guard let eq = rest.firstIndex(of: "=") else { return nil }
        let name = rest[..<eq], value = rest[rest.index(after: eq)...]
        guard isValidDeviceName(name), !value.isEmpty else { return nil }
        return NamedValue(name: String(name), value: String(value))
    }

    /// Usage text for `skiff run --help`, with each module's lines.
    public static func usage(command: String, modules: [ModuleDescriptor]) -> String {
        """
        usage: \(command) [OPTIONS] [--] KERNEL [ARGS...]
          KERNEL is an hvt unikernel (Solo5 ABI version 2); ARGS are passed to it.
        Options (solo5-hvt syntax):
          --mem=N                      guest memory in MiB (default 512, at most 4096)

        """ + modules.map { $0.usage }.filter { !$0.isEmpty }.map { $0 + "\n" }.joined() + """
          --initrd=PATH                initial RAM disk of an arm64 Linux Image (its /chosen linux,initrd-*)
          --no-sandbox                 do not confine the monitor with seccomp (debugging)
          --bench-port=PORT            ignore 4-byte OUTs to PORT (0x509-0x5ff; aarch64: stores to
                                       0x100000000 + (PORT-0x500)*8), to measure the bare exit cost
          --                           end of options
        Exit status: the guest's (255 = guest abort), 1 for a monitor error or a signal.
        """
    }
}
