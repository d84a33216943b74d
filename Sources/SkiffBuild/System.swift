// System.swift: files, directories and child processes for `skiff build`, on Glibc (no Foundation).

import Glibc

/// A build failure: one line for the user, printed as `skiff build: <message>`.
public struct BuildError: Error, Equatable, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

enum FileSystem {
    static func errnoText() -> String { String(cString: strerror(errno)) }

    static func readFile(_ path: String) throws(BuildError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BuildError("\(path): \(errnoText())") }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw BuildError("\(path): \(errnoText())")
            }
            if n == 0 { return out }
            out += chunk[0..<n]
        }
    }

    static func writeFile(_ path: String, _ data: [UInt8], mode: mode_t = 0o644) throws(BuildError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw BuildError("\(path): \(errnoText())") }
        defer { close(fd) }
        var off = 0
        while off < data.count {
            let n = data.withUnsafeBytes { write(fd, $0.baseAddress! + off, data.count - off) }
            if n < 0 {
                if errno == EINTR { continue }
                throw BuildError("\(path): \(errnoText())")
            }
            off += n
        }
    }

    static func writeFile(_ path: String, _ text: String) throws(BuildError) {
        try writeFile(path, Array(text.utf8))
    }

    enum Kind { case file, directory, other, missing }

    static func kind(_ path: String) -> Kind {
        var st = stat()
        guard stat(path, &st) == 0 else { return .missing }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    static func isExecutable(_ path: String) -> Bool {
        kind(path) == .file && access(path, X_OK) == 0
    }

    /// Names in `dir` (no "." or ".."), sorted bytewise.
    static func list(_ dir: String) throws(BuildError) -> [String] {
        guard let d = opendir(dir) else { throw BuildError("\(dir): \(errnoText())") }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    static func makeTemporaryDirectory() throws(BuildError) -> String {
        var base = "/tmp"
        if let t = getenv("TMPDIR"), t.pointee != 0 { base = String(cString: t) }
        var template = Array((base + "/skiff-build.XXXXXX").utf8CString)
        let ok = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) != nil }
        guard ok else { throw BuildError("cannot create a temporary directory in \(base): \(errnoText())") }
        return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Removes `path` and everything below it (no symlinks followed).
    static func removeTree(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if st.st_mode & S_IFMT == S_IFDIR {
            for name in (try? list(path)) ?? [] { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

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
    static func executablePath() -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func environment(_ name: String) -> String? {
        guard let v = getenv(name), v.pointee != 0 else { return nil }
        return String(cString: v)
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
        let argv = ([c.executable] + c.arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var cargv: [UnsafeMutablePointer<CChar>?] = argv
        cargv.append(nil)
        var pid: pid_t = 0
        let rc = cargv.withUnsafeMutableBufferPointer { buf in
            posix_spawn(&pid, c.executable, nil, nil, buf.baseAddress!, environ)
        }
        guard rc == 0 else {
            throw BuildError("cannot run \(c.executable): \(String(cString: strerror(rc)))")
        }
        return pid
    }

    /// Exit status, or 256 + signal number.
    static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return 255 }
        }
        let sig = status & 0x7f
        if sig != 0 { return 256 + sig }
        return (status >> 8) & 0xff
    }
}

func printError(_ line: String) {
    var s = line
    if !s.hasSuffix("\n") { s += "\n" }
    s.withCString { p in
        var off = 0
        let n = strlen(p)
        while off < n {
            let w = write(2, p + off, n - off)
            if w <= 0 { if errno == EINTR { continue }; return }
            off += w
        }
    }
}
