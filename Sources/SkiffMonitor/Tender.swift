// Tender.swift: the tender's command line (solo5-hvt syntax): parse, run, one-line errors prefixed with the program name, exit status.
//
// Shared by `skiff-hvt` (also invoked as `solo5-hvt` / `solo5-hvt-debug`) and,
// when no tender binary is found beside it, `skiff run`. The only place that
// turns monitor errors into process exit statuses; it never calls exit().

import SkiffCore
import SkiffModules

/// The tender's command line: solo5-hvt's syntax in, one-line errors and an exit status out.
public enum Tender {
    /// The tender's version line.
    public static let version = "0.1.0"

    /// Runs one command line. `program` is the name to print (`skiff` means `skiff run`);
    /// `rawArguments` are the exact bytes of the guest's arguments (argv need not be UTF-8).
    public static func main(_ args: [String], rawArguments: [[UInt8]], program: String) -> Int32 {
        let command = program == "skiff" ? "skiff run" : program
        func fail(_ s: String) { Host.writeLine(2, program + ": " + s) }
        var options: RunOptions
        do {
            options = try RunOptions.parse(args)
            options.rawGuestArguments = Array(rawArguments.suffix(options.guestArguments.count))
            options.program = program
        } catch {
            switch error {
            case .help: Host.writeLine(1, RunOptions.usage(command: command)); return 0
            case .version: printVersion(program: program); return 0
            default:
                fail(error.message)
                Host.writeLine(2, RunOptions.usage(command: command))
                return 1
            }
        }
        if !options.sandbox { fail("WARNING: --no-sandbox: the monitor runs without its seccomp filter (debugging only)") }
        Monitor.installTerminationHandlers()
        do {
            let result = try Monitor(options: options, warn: { fail("WARNING: " + $0) }, inform: { fail($0) }).run()
            if result.halt.processStatus == 255, let f = result.trapFrame, f.count == 7 {
                fail("guest aborted: trap frame cr2=\(hex(f[0])) ec=\(hex(f[1])) rip=\(hex(f[2])) rsp=\(hex(f[5])) rflags=\(hex(f[4]))")
            }
            return result.halt.processStatus
        } catch {
            fail(error.message)
            return error.exitStatus
        }
    }

    /// Prints the version lines (`PROGRAM VERSION (Solo5 hvt tender compatible)`, `ABI version 2`).
    public static func printVersion(program: String) {
        Host.writeLine(1, "\(program) \(version) (Solo5 hvt tender compatible)")
        Host.writeLine(1, "ABI version 2")
    }

    /// The program name under which a binary was started (the last path component of argv[0]).
    public static func programName(_ argv0: [UInt8]) -> String {
        let name = argv0.split(separator: UInt8(ascii: "/")).last.map { String(decoding: $0, as: UTF8.self) } ?? ""
        return name.isEmpty ? "skiff-hvt" : name
    }
}
