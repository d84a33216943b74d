// Host.swift: the POSIX calls that need raw buffers or C strings (files, directories, console, randomness, argv, processes, seccomp), in one place.
//
// Everything above this file (and GuestMemory, and the KVM backend) works on
// Swift values only. Each function here checks its results and reports
// errno; none of them keeps a pointer after it returns.

import CSkiffLinux
import Synchronization


/// Why a whole-file read failed.
public enum FileReadError: Error, Equatable, Sendable {
    /// open/fstat/read failed with this errno.
    case system(Int32)
    case directory
    case notRegular
    case tooLarge(limit: Int)
    case shortRead

    /// As strerror would say it (EINVAL for a file that is not regular, EFBIG, EIO).
    public var errnoReason: String {
        switch self {
        case .system(let e): return errnoString(e)
        case .directory, .notRegular: return errnoString(EINVAL)
        case .tooLarge: return errnoString(EFBIG)
        case .shortRead: return errnoString(EIO)
        }
    }
}

public enum Host {
    /// Reads `path` whole, or with `prefixOnly` at most its first `limit` bytes.
    /// Regular files only: opened O_NONBLOCK so a FIFO is refused, never waited on.
    public static func readFile(_ path: String, limit: Int, prefixOnly: Bool = false) throws(FileReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw .system(errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .system(errno) }
        guard cskiff_is_regular(UInt32(st.st_mode)) != 0 else {
            throw cskiff_is_directory(UInt32(st.st_mode)) != 0 ? .directory : .notRegular
        }
        guard prefixOnly || st.st_size <= limit else { throw .tooLarge(limit: limit) }
        var bytes = [UInt8](repeating: 0, count: min(Int(st.st_size), limit))
        var done = 0
        while done < bytes.count {
            // SAFETY: the buffer is the array's own storage, `count - done` bytes from `done`.
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .shortRead }
            done += n
        }
        return bytes
    }

    /// The first bytes (at most `max`) of a small file read to its end, e.g. a sysfs attribute
    /// (whose size says 4096 whatever it holds); nil if it cannot be opened or read.
    public static func readSmallFile(_ path: String, max: Int = 4096) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: max)
        var done = 0
        while done < max {
            // SAFETY: the buffer is the array's own storage, `count - done` bytes from `done`.
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return nil }
            if n == 0 { break }
            done += n
        }
        return Array(bytes[0..<done])
    }

    /// Writes all of `bytes` to `fd` (retrying EINTR and short writes); false on error.
    @discardableResult
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            // SAFETY: the buffer is the array's own storage, `count - off` bytes from `off`.
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            off += n
        }
        return true
    }

    /// One read(2) into `buffer` (from its start, at most its count), retrying EINTR: the bytes read,
    /// 0 at end of file, -1 with errno set (EAGAIN on an empty non-blocking descriptor).
    public static func readOnce(_ fd: Int32, into buffer: inout [UInt8]) -> Int {
        while true {
            // SAFETY: the buffer is the array's own storage, `count` bytes.
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            return n
        }
    }

    /// Waits until one of `fds` is readable (poll(2), POLLIN; by default no timeout, 0: just look); which
    /// ones are (hung-up ones too), in order. Empty after a timeout or an error other than EINTR.
    public static func waitReadable(_ fds: [Int32], timeoutMilliseconds: Int32 = -1) -> [Int32] {
        var set = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        while true {
            // SAFETY: the kernel reads and writes `count` pollfd entries of the array during the call.
            let r = set.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), timeoutMilliseconds) }
            if r < 0 && errno == EINTR { continue }
            guard r > 0 else { return [] }
            return set.filter { $0.revents != 0 }.map { $0.fd }
        }
    }

    /// Writes all of `bytes` to `fd` at file offset `offset` (pwrite, retrying EINTR and short
    /// writes); false on error (errno says why).
    @discardableResult
    public static func pwriteAll(_ fd: Int32, _ bytes: [UInt8], at offset: UInt64) -> Bool {
        var off = 0
        while off < bytes.count {
            // SAFETY: the buffer is the array's own storage, `count - off` bytes from `off`.
            let n = bytes.withUnsafeBytes {
                cskiff_pwrite(fd, $0.baseAddress! + off, UInt($0.count - off), Int(truncatingIfNeeded: offset &+ UInt64(off)))
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            off += n
        }
        return true
    }

    /// Writes `line` and a newline (unless it ends with one) to `fd`.
    @discardableResult
    public static func writeLine(_ fd: Int32, _ line: String) -> Bool {
        writeAll(fd, Array(line.utf8) + (line.utf8.last == 0x0a ? [] : [0x0a]))
    }

    /// `n` bytes from the kernel's random source (getrandom; zeros if it fails).
    public static func randomBytes(_ n: Int) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: n)
        // SAFETY: getrandom writes at most `n` bytes into the array's storage.
        _ = b.withUnsafeMutableBytes { cskiff_getrandom($0.baseAddress, UInt($0.count)) }
        return b
    }

    /// argv exactly as the kernel passed it (CommandLine.arguments repairs invalid UTF-8).
    public static func rawArguments() -> [[UInt8]] {
        #if hasFeature(Embedded)
        return embeddedArguments
        #else
        // SAFETY: argv[0..<argc] is the process's own, valid for its lifetime.
        return arguments(Int(CommandLine.argc), CommandLine.unsafeArgv)
        #endif
    }

    /// C's `char **argv`, as `main` receives it.
    // SAFETY: the C main's argv, only handed to `arguments`/`setArguments`, which copy it.
    public typealias CArgv = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>

    /// Copies `argv[0..<argc]`.
    public static func arguments(_ argc: Int, _ argv: CArgv) -> [[UInt8]] {
        (0..<argc).map { i in
            // SAFETY: argv[0..<argc] are NUL-terminated strings owned by the process for its lifetime.
            guard let p = argv[i] else { return [] }
            return Array(UnsafeRawBufferPointer(start: p, count: strlen(p)))
        }
    }

    /// Records argv for `rawArguments()` where the standard library has no CommandLine (Embedded: call from `main`).
    public static func setArguments(_ argc: Int32, _ argv: CArgv) {
        embeddedArguments = arguments(Int(argc), argv)
    }

    /// The path of the running executable (/proc/self/exe), if readable.
    public static func executablePath() -> String? {
        var buf = [UInt8](repeating: 0, count: 4096)
        // SAFETY: readlink writes at most `count - 1` bytes into the array's storage.
        let n = buf.withUnsafeMutableBytes { readlink("/proc/self/exe", $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count - 1) }
        return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : nil
    }

    // Directories and paths, for the tools (`skiff build`); the tender never calls them.

    /// The names in directory `path` (no "." or ".."), in directory order; nil with errno set if it cannot be opened.
    public static func listDirectory(_ path: String) -> [String]? {
        guard let d = opendir(path) else { return nil }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            // SAFETY: d_name is a NUL-terminated array inside the dirent, valid until the next readdir.
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// mkdtemp(3) on `template` (ending in XXXXXX): the new directory's path, or nil with errno set.
    public static func makeTemporaryDirectory(_ template: String) -> String? {
        var t = Array(template.utf8CString)
        // SAFETY: mkdtemp rewrites the X's in place, within the NUL-terminated array's own storage.
        guard t.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else { return nil }
        return String(decoding: t.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// realpath(3): `path` with symlinks, `.` and `..` resolved; nil if it does not resolve.
    public static func realPath(_ path: String) -> String? {
        // SAFETY: realpath returns a malloc'ed NUL-terminated string, copied and then freed here.
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// The file type of `path` (stat(2), following links), or nil if it does not exist.
    public static func fileType(_ path: String, followLinks: Bool = true) -> FileType? {
        var st = stat()
        guard (followLinks ? stat(path, &st) : lstat(path, &st)) == 0 else { return nil }
        let mode = UInt32(st.st_mode)
        return cskiff_is_regular(mode) != 0 ? .regular : cskiff_is_directory(mode) != 0 ? .directory : .other
    }

    public enum FileType: Sendable { case regular, directory, other }

    /// Ends the process (for executables' `main` only: the libraries never call it).
    public static func exit(_ status: Int32) -> Never { cskiff_exit(status) }

    /// Replaces the process with `path` run as `argv` (argv[0] may differ from the path); returns only on failure, with errno.
    public static func exec(_ path: String, _ argv: [[UInt8]]) -> Int32 {
        // SAFETY: each argument is copied into its own NUL-terminated allocation, freed below if execv returns.
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { a in
            // SAFETY: a NUL-terminated copy, freed below if execv returns.
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: a.count + 1)
            for (i, b) in a.enumerated() { p[i] = CChar(bitPattern: b) }
            p[a.count] = 0
            return p
        }
        cargs.append(nil)
        execv(path, &cargs)
        let e = errno
        for p in cargs { p?.deallocate() }
        return e
    }

    /// The environment variable `name`, if set.
    public static func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

    /// Starts `argv[0]` (a path) with `argv`, stdin from /dev/null when asked (and stdout and stderr too,
    /// when `quiet`: the OCI runtime's helpers must not write into a container's output); returns the pid or an errno.
    public static func spawn(_ argv: [String], stdinFromNull: Bool = false, quiet: Bool = false) -> Result<pid_t, SpawnError> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if stdinFromNull || quiet { posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) }
        if quiet {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        let cargs = argv.map { strdup($0) }
        defer { cargs.forEach { free($0) } }
        var cargv = cargs + [nil]
        var pid: pid_t = 0
        // SAFETY: `cargv` is a NULL-terminated array of strdup'ed strings alive until the deferred free.
        let rc = cargv.withUnsafeMutableBufferPointer { posix_spawn(&pid, argv[0], &actions, nil, $0.baseAddress!, cskiff_environ()) }
        return rc == 0 ? .success(pid) : .failure(SpawnError(errno: rc))
    }

    /// Waits for `pid` (retrying EINTR); the raw wait status, or nil with errno set.
    public static func wait(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return nil }
        }
        return status
    }

    /// How a child run by `runForwardingTermination` ended.
    public enum ChildOutcome: Equatable, Sendable {
        public enum Step: Sendable { case spawn, wait }
        /// It exited with this status.
        case exited(Int32)
        /// It died of this signal on its own.
        case killed(Int32)
        /// We received this SIGINT/SIGTERM and passed it on as SIGTERM.
        case interrupted(Int32)
        case failed(Step, errno: Int32)
    }

    /// Runs `argv` (argv[0] a path) with stdin from /dev/null and waits for it; a SIGINT or SIGTERM
    /// received meanwhile is forwarded to the child as SIGTERM. `start` starts the child (default: `spawn`;
    /// `skiff run`'s QEMU runner passes one whose child dies with this process, which keeps fork out of the tender).
    public static func runForwardingTermination(
        _ argv: [String], start: ([String]) -> Result<pid_t, SpawnError> = { Host.spawn($0, stdinFromNull: true) }
    ) -> ChildOutcome {
        let forward: @convention(c) (Int32) -> Void = { sig in
            if forwardedSignal == 0 { forwardedSignal = sig }
            if forwardingChild > 0 { kill(forwardingChild, SIGTERM) }
        }
        var oldInt = sigaction(), oldTerm = sigaction()
        cskiff_set_signal(SIGINT, forward, SA_RESTART, &oldInt)
        cskiff_set_signal(SIGTERM, forward, SA_RESTART, &oldTerm)
        defer {
            sigaction(SIGINT, &oldInt, nil)
            sigaction(SIGTERM, &oldTerm, nil)
        }
        let pid: pid_t
        switch start(argv) {
        case .success(let p): pid = p
        case .failure(let e): return .failed(.spawn, errno: e.errno)
        }
        forwardingChild = pid
        defer { forwardingChild = 0 }
        if forwardedSignal != 0 { kill(pid, SIGTERM) }
        guard let status = wait(pid) else { return .failed(.wait, errno: errno) }
        if forwardedSignal != 0 { return .interrupted(forwardedSignal) }
        let sig = status & 0x7f
        return sig != 0 ? .killed(sig) : .exited((status >> 8) & 0xff)
    }

    /// Starts a thread running `body`; returns once the thread runs Swift code (by then the C
    /// library has made the thread's start-up system calls, so a seccomp filter installed next
    /// never sees them). Nil if the thread could not be created.
    public static func startThread(_ body: @escaping () -> Void) -> HostThread? {
        let start = ThreadStart(body)
        var thread = cskiff_thread()
        // SAFETY: the retained `Start` is released exactly once, by the new thread or on failure below.
        let ctx = Unmanaged.passRetained(start).toOpaque()
        let r = cskiff_thread_create(&thread, { ctx in
            let start = Unmanaged<ThreadStart>.fromOpaque(ctx!).takeRetainedValue()
            start.started.store(1, ordering: .releasing)
            start.body()
            return nil
        }, ctx)
        if r != 0 { Unmanaged<ThreadStart>.fromOpaque(ctx).release(); return nil }
        while start.started.load(ordering: .acquiring) == 0 { sched_yield() }
        return HostThread(thread: thread)
    }

    /// Installs a seccomp-BPF program for every thread (`PR_SET_NO_NEW_PRIVS`, TSYNC); false with errno set on failure.
    public static func installSeccomp(_ program: [sock_filter]) -> Bool {
        var prog = program
        // SAFETY: the kernel copies the program during the call; the array outlives it.
        return prog.withUnsafeMutableBufferPointer { cskiff_seccomp_install($0.baseAddress, UInt16($0.count), 1) } == 0
    }
}

// SAFETY: written by the signal handler and read by the one thread that runs
// `runForwardingTermination`; word-sized, so a torn read is impossible.
nonisolated(unsafe) private var forwardingChild: pid_t = 0
// SAFETY: see forwardingChild above: word-sized, written by the handler, read by one thread.
nonisolated(unsafe) private var forwardedSignal: Int32 = 0
// SAFETY: written once by `main` before any thread starts (Embedded builds only).
nonisolated(unsafe) private var embeddedArguments: [[UInt8]] = []

/// What a new thread runs, and the flag it raises once running.
private final class ThreadStart {
    let body: () -> Void
    let started = Atomic<UInt32>(0)
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// A lock for state two threads share briefly (a device model and its I/O thread): a spin lock that
/// yields the CPU while held elsewhere. Not reentrant.
public final class HostLock: @unchecked Sendable {
    private let state = Atomic<UInt32>(0)

    public init() {}

    public func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        while !state.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged { sched_yield() }
        defer { state.store(0, ordering: .releasing) }
        return try body()
    }
}

/// A thread started by `Host.startThread`.
public struct HostThread {
    let thread: cskiff_thread
    /// Waits for the thread to end.
    public func join() { _ = cskiff_thread_join(thread) }
    /// The calling thread.
    public static var current: HostThread { HostThread(thread: cskiff_thread_self()) }
    /// Sends `signal` to the thread.
    public func signal(_ sig: Int32) { _ = cskiff_thread_kill(thread, sig) }
}

/// posix_spawn's error number.
public struct SpawnError: Error, Equatable, Sendable {
    public let errno: Int32
    public init(errno: Int32) { self.errno = errno }
    public var message: String { errnoString(errno) }
}
