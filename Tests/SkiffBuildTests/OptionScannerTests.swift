// OptionScannerTests.swift: the option scanner `skiff init` and `skiff build` share, and what the two commands make of it.

import Testing
@testable import SkiffBuild

/// Everything the scanner reads from `args` (as `skiff build` declares its options), or its error.
private func scan(_ args: [String], dashIsOperand: Bool = true) -> Result<[ScannedArgument], BuildError> {
    var scanner = OptionScanner(args, valued: ["-o", "--output", "--arch"], flags: ["-g", "--verbose"],
                                dashIsOperand: dashIsOperand)
    var all: [ScannedArgument] = []
    do {
        while let a = try scanner.next() { all.append(a) }
        return .success(all)
    } catch {
        return .failure(error)
    }
}

@Test func scannerReadsValuesFlagsAndOperandsInOrder() {
    #expect(scan(["a", "-o", "x", "--arch=aarch64", "-g", "-oy", "--output=z", "--verbose", "b"]) == .success([
        .operand("a"), .value("-o", "x"), .value("--arch", "aarch64"), .flag("-g"), .value("-o", "y"),
        .value("--output", "z"), .flag("--verbose"), .operand("b"),
    ]))
    // A value option takes the next argument even when it looks like an option; `--arch=` is an empty value.
    #expect(scan(["--arch", "--verbose", "--arch="]) == .success([.value("--arch", "--verbose"), .value("--arch", "")]))
    #expect(scan([]) == .success([]))
}

@Test func scannerMissingValue() {
    #expect(scan(["-o"]) == .failure(BuildError("-o needs a value")))
    #expect(scan(["a", "--arch"]) == .failure(BuildError("--arch needs a value")))
}

@Test func scannerUnknownOptionsAndHelp() {
    for bad in ["--frobnicate", "-x", "--verbose=1", "-gv", "--arch-x", "--"] {
        #expect(scan(["a", bad]) == .failure(BuildError("unknown option \(bad)")), "\(bad)")
    }
    // An error stops the scan where it stands: what follows is not read.
    #expect(scan(["--bogus", "-o"]) == .failure(BuildError("unknown option --bogus")))
    #expect(scan(["-o", "--help"]) == .success([.value("-o", "--help")]))
    #expect(scan(["a", "-h", "--bogus"]) == .failure(BuildError("help")))
    #expect(scan(["--help"]) == .failure(BuildError("help")))
    // A lone `-` is an operand only where the command says so.
    #expect(scan(["-"]) == .success([.operand("-")]))
    #expect(scan(["-"], dashIsOperand: false) == .failure(BuildError("unknown option -")))
}

@Test func repeatedOptionsAreReadAgainAndTheLastWins() throws {
    #expect(scan(["--arch", "x86_64", "--arch=aarch64"]) == .success([.value("--arch", "x86_64"), .value("--arch", "aarch64")]))
    let built = try BuildOptions.parse(["--arch", "x86_64", "a.swift", "-o", "one.hvt", "--arch=aarch64", "-otwo.img"])
    #expect(built.arch == "aarch64" && built.platform == "virt" && built.output == "two.img")
    let made = try ProjectInit.parse(["--arch", "aarch64", "--arch", "x86_64", "--platform=xen", "k"])
    #expect(made.platform.arch == "x86_64" && made.platform.name == "xen")
}

@Test func commandsKeepTheirMessages() {
    func initMessage(_ args: [String]) -> String? {
        do { _ = try ProjectInit.parse(args); return nil } catch { return error.message }
    }
    func buildMessage(_ args: [String]) -> String? {
        do { _ = try BuildOptions.parse(args); return nil } catch { return error.message }
    }
    #expect(initMessage(["-"]) == "unknown option -")
    #expect(initMessage(["--arch"]) == "--arch needs a value")
    #expect(initMessage(["k", "--platform"]) == "--platform needs a value")
    #expect(initMessage(["a", "b"]) == "more than one NAME (a, b)")
    #expect(initMessage(["-h", "--bogus"]) == "help")
    #expect(buildMessage(["a", "-"]) == "more than one PATH (a, -)")
    #expect(buildMessage(["--stack-size", "bad", "--bogus"]) == "--stack-size bad: not a size (bytes, or with a K/M suffix)")
    #expect(buildMessage(["--bogus", "--stack-size", "bad"]) == "unknown option --bogus")
    #expect(buildMessage(["a", "--output"]) == "--output needs a value")
}
