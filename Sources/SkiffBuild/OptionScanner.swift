// OptionScanner.swift: the command-line scanner `skiff init` and `skiff build` share: value options, flags and operands, read in order.

/// One argument as `OptionScanner` read it.
enum ScannedArgument: Equatable {
    /// A value option by the spelling its command declared (`-o`, `--arch`), with its value.
    case value(String, String)
    /// A flag by its declared spelling (`-g`).
    case flag(String)
    /// Anything else that does not start with `-` (and a lone `-` where the command takes it as an operand).
    case operand(String)
}

/// Reads a command's arguments one at a time, in order, so that the command acts on (and refuses) each
/// where it stands:
/// - a value option takes the next argument, whatever it is (`--arch A`); at the end it is the error
///   "--arch needs a value". A long one is also written `--arch=A`, a two-letter one `-oA`;
/// - `-h` and `--help` are the error "help" (the command prints its usage and exits 0);
/// - any other argument starting with `-` is the error "unknown option X";
/// - an option given twice is read twice: the command keeps the last value.
struct OptionScanner {
    private let args: [String]
    private let valued: [String]
    private let flags: [String]
    private let dashIsOperand: Bool
    private var index = 0

    /// `valued`: the spellings that take a value; `flags`: those that do not; `dashIsOperand`: a lone `-`
    /// is an operand (a path) rather than an unknown option.
    init(_ args: [String], valued: [String], flags: [String] = [], dashIsOperand: Bool = false) {
        self.args = args
        self.valued = valued
        self.flags = flags
        self.dashIsOperand = dashIsOperand
    }

    /// The next argument, or nil after the last.
    mutating func next() throws(BuildError) -> ScannedArgument? {
        guard index < args.count else { return nil }
        let a = args[index]
        index += 1
        if a == "-h" || a == "--help" { throw BuildError("help") }
        if flags.contains(a) { return .flag(a) }
        if valued.contains(a) {
            guard index < args.count else { throw BuildError("\(a) needs a value") }
            index += 1
            return .value(a, args[index - 1])
        }
        for name in valued {
            if name.hasPrefix("--") {
                if a.hasPrefix(name + "=") { return .value(name, String(a.dropFirst(name.count + 1))) }
            } else if name.count == 2 && a.count > 2 && a.hasPrefix(name) {
                return .value(name, String(a.dropFirst(2)))
            }
        }
        if a.hasPrefix("-") && !(dashIsOperand && a == "-") { throw BuildError("unknown option \(a)") }
        return .operand(a)
    }
}
