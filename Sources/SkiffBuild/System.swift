// System.swift: files, directories and child processes for `skiff build`, over SkiffHost's Host (no raw pointers here, no Foundation).

import SkiffCore

/// A build failure: one line for the user, printed as `skiff build: <message>`.
public struct BuildError: Error, Equatable, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

enum FileSystem {
    static func errnoText() -> String { errnoString() }

    static func readFile(_ path: String) throws(BuildError) -> [UInt8] {
        do {
            return try Host.readFile(path, limit: Int.max)
        } catch {
            throw BuildError("\(path): \(error.reason)")
        }
    }

    static func writeFile(_ path: String, _ data: [UInt8], mode: mode_t = 0o644) throws(BuildError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw BuildError("\(path): \(errnoText())") }
        defer { close(fd) }
        guard Host.writeAll(fd, data) else { throw BuildError("\(path): \(errnoText())") }
    }

    static func writeFile(_ path: String, _ text: String) throws(BuildError) {
        try writeFile(path, Array(text.utf8))
    }

    enum Kind { case file, directory, other, missing }

    static func kind(_ path: String) -> Kind {
        switch Host.fileType(path) {
        case .regular: return .file
        case .directory: return .directory
        case .other: return .other
        case nil: return .missing
        }
    }

    static func isExecutable(_ path: String) -> Bool {
        kind(path) == .file && access(path, X_OK) == 0
    }

    /// Names in `dir` (no "." or ".."), sorted bytewise.
    static func list(_ dir: String) throws(BuildError) -> [String] {
        guard let names = Host.listDirectory(dir) else { throw BuildError("\(dir): \(errnoText())") }
        return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    static func makeTemporaryDirectory() throws(BuildError) -> String {
        let base = environment("TMPDIR") ?? "/tmp"
        guard let dir = Host.makeTemporaryDirectory(base + "/skiff-build.XXXXXX") else {
            throw BuildError("cannot create a temporary directory in \(base): \(errnoText())")
        }
        return dir
    }

    /// Removes `path` and everything below it (no symlinks followed).
    static func removeTree(_ path: String) {
        guard let type = Host.fileType(path, followLinks: false) else { return }
        if type == .directory {
            for name in (try? list(path)) ?? [] { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    static func realPath(_ path: String) -> String? { Host.realPath(path) }

    static func dirname(_ path: String) -> String {
        var parts = path.split(separator: "/", omittingEmptySubsequences: false)
        while parts.count > 1, parts.last == "" { parts.removeLast() }
        guard parts.count > 1 else { return path.hasPrefix("/") ? "/" : "." }
        parts.removeLast()
        let d = parts.joined(separator: "/")
        return d.isEmpty ? "/" : d
    }

    static func basename(_ path: String) -> String {
        let parts = path.split(separator: "/")
        return parts.last.map(String.init) ?? path
    }

    /// The running executable (readlink /proc/self/exe).
    static func executablePath() -> String? { Host.executablePath() }

    /// The environment variable `name`, if set and not empty.
    static func environment(_ name: String) -> String? {
        guard let v = Host.environment(name), !v.isEmpty else { return nil }
        return v
    }
}

/// One command to run: an absolute executable path and its arguments.
struct Command {
    var executable: String
    var arguments: [String]

    /// The command as a shell would show it (for --verbose).
    var display: String {
        ([executable] + arguments).map(Command.quote).joined(separator: " ")
    }

    static func quote(_ s: String) -> String {
        let safe = s.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
                || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")
                || c == UInt8(ascii: "/") || c == UInt8(ascii: "=") || c == UInt8(ascii: ",")
                || c == UInt8(ascii: ":") || c == UInt8(ascii: "+")
        }
        if safe && !s.isEmpty { return s }
        return "'" + s.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }
}

enum Processes {
    /// Starts `commands` at once, waits for all, and throws for the first
    /// that failed. Children inherit stdin/stdout/stderr, so compiler
    /// diagnostics reach the user as they are.
    static func run(_ commands: [Command], verbose: Bool) throws(BuildError) {
        var pids: [(pid_t, Command)] = []
        var spawnError: BuildError?
        for c in commands {
            if verbose { printError("+ " + c.display) }
            do {
                pids.append((try spawn(c), c))
            } catch {
                spawnError = error
                break
            }
        }
        var failure: BuildError? = spawnError
        for (pid, c) in pids {
            let status = wait(pid)
            if failure == nil, status != 0 {
                let tool = FileSystem.basename(c.executable)
                failure = BuildError(status > 255
                    ? "\(tool) was killed by signal \(status - 256)"
                    : "\(tool) failed with exit status \(status)")
            }
        }
        if let failure { throw failure }
    }

    static func spawn(_ c: Command) throws(BuildError) -> pid_t {
        switch Host.spawn([c.executable] + c.arguments) {
        case .success(let pid): return pid
        case .failure(let e): throw BuildError("cannot run \(c.executable): \(e.message)")
        }
    }

    /// Exit status, or 256 + signal number (255 if it cannot be waited for).
    static func wait(_ pid: pid_t) -> Int32 {
        guard let status = Host.wait(pid) else { return 255 }
        let sig = status & 0x7f
        if sig != 0 { return 256 + sig }
        return (status >> 8) & 0xff
    }
}

/// One line (a newline added unless there) to stderr.
func printError(_ line: String) { Host.writeLine(2, line) }

/// Text (a newline added unless there) to stdout.
func printOut(_ text: String) { Host.writeLine(1, text) }
