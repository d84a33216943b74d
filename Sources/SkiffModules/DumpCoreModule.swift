// DumpCoreModule.swift: `--dumpcore[=DIR]`: on a guest abort (HALT 255) or fault, an ELF core file of guest memory and the faulting registers.
//
// Upstream's solo5-hvt-debug `--dumpcore=DIR` (spec §9.7), on both
// architectures. DIR is opened and checked when the run is set up (a bad
// DIR ends the run before the guest starts); the file
// `DIR/core.skiff-hvt.PID` (`core.solo5-hvt.PID` when invoked as
// solo5-hvt or solo5-hvt-debug) is created, exclusively and mode 0600, only
// when the guest aborts or faults — so the sandbox allows `openat` (plus
// `pwrite64` and `close`) when, and only when, this option is given.
// The layout is SkiffDebug's `CoreFile`; zero pages are not written (the file
// is sparse). For an abort with a trap frame (the HALT cookie), the registers
// are the frame's, i.e. the guest's at the trap, not the HALT hypercall's.

import CSkiffLinux
import SkiffCore
import SkiffDebug

public final class DumpCoreModule: MonitorModule {
    public static let descriptor = ModuleDescriptor(
        name: "dumpcore",
        usage: """
              --dumpcore[=DIR]             on a guest abort or fault, write an ELF core file to DIR (default: .)
            """,
        parseOption: { (a, o) throws(OptionError) in
            guard a == "--dumpcore" || a.hasPrefix("--dumpcore=") else { return false }
            let dir = a == "--dumpcore" ? "." : String(a.dropFirst("--dumpcore=".count))
            guard !dir.isEmpty else { throw .invalidOption(a) }
            o.moduleSettings.removeAll { $0.name == "dumpcore" }
            o.moduleSettings.append(RunOptions.NamedValue(name: "dumpcore", value: dir))
            return true
        },
        make: { (setup) throws(DeviceError) in try DumpCoreModule(setup: setup) })

    /// DIR, as given.
    public let directory: String
    /// DIR, open (O_PATH-like: only used as `openat`'s base).
    let directoryFD: Int32
    /// The core file's name in DIR.
    public let fileName: String
    let pid: Int32
    /// The image's file name, recorded in NT_PRPSINFO.
    let imageName: String
    let inform: (String) -> Void
    private var host: (any ModuleHost)?
    private var dumped = false

    /// Opens DIR and checks it is a writable directory; nil when `--dumpcore` is not given.
    init?(setup: ModuleSetup) throws(DeviceError) {
        guard let dir = setup.options.moduleSettings.last(where: { $0.name == "dumpcore" })?.value else { return nil }
        let fd = dir.withCString { cskiff_openat(AT_FDCWD, $0, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0) }
        guard fd >= 0 else { throw .unusableDirectory(option: "--dumpcore", path: dir, error: errnoString()) }
        guard access(dir, W_OK | X_OK) == 0 else {
            let e = errnoString()
            close(fd)
            throw .unusableDirectory(option: "--dumpcore", path: dir, error: e)
        }
        directory = dir
        directoryFD = fd
        pid = getpid()
        fileName = Self.fileName(program: setup.options.program, pid: pid)
        imageName = String(setup.options.kernel.split(separator: "/").last ?? "")
        inform = setup.inform
    }

    deinit { close(directoryFD) }

    /// `core.skiff-hvt.PID`, or upstream's `core.solo5-hvt.PID` under a solo5-hvt name.
    public static func fileName(program: String, pid: Int32) -> String {
        (program.hasPrefix("solo5-hvt") ? "core.solo5-hvt." : "core.skiff-hvt.") + String(pid)
    }

    /// The path printed for the core file: DIR/NAME.
    public var path: String { (directory.hasSuffix("/") ? directory : directory + "/") + fileName }

    public var syscalls: [Int] { [Int(SYS_openat), Int(SYS_pwrite64), Int(SYS_close)] }

    public func attach(table: inout HypercallTable, host: any ModuleHost, setup: ModuleSetup) -> ModuleAttachment {
        self.host = host
        return ModuleAttachment()
    }

    public func guestFaulted(_ fault: GuestFault) {
        guard let host, let cpu = host.debugCPU else { return }
        do throws(BackendError) {
            dump(registers: try cpu.readRegisters(), signal: CoreFile.sigSEGV, memory: host.memory)
        } catch {
            inform("dumpcore: not dumped: cannot read the registers: \(error.message)")
        }
    }

    public func guestHalted(_ halt: HaltStatus) {
        guard halt.processStatus == 255, let host, let cpu = host.debugCPU else { return }
        do throws(BackendError) {
            let atHalt = try cpu.readRegisters()
            let registers = halt.cookie.flatMap { host.faultRegisters(cookie: $0, halt: atHalt) } ?? atHalt
            dump(registers: registers, signal: CoreFile.sigABRT, memory: host.memory)
        } catch {
            inform("dumpcore: not dumped: cannot read the registers: \(error.message)")
        }
    }

    /// Guest memory as core regions: what the guest may use, then the monitor's ring area (if any).
    public static func regions(_ memory: GuestMemory) -> [(address: UInt64, size: UInt64)] {
        var r: [(address: UInt64, size: UInt64)] = [(0, memory.usableSize)]
        if memory.allocationSize > memory.usableSize {
            r.append((memory.usableSize, memory.allocationSize - memory.usableSize))
        }
        return r
    }

    /// Writes the core file (once per run) and reports its path, or why it could not.
    func dump(registers: CPURegisters, signal: Int32, memory: GuestMemory) {
        guard !dumped else { return }
        dumped = true
        let core = CoreFile(registers: registers, regions: Self.regions(memory), signal: signal, pid: pid, name: imageName)
        let fd = fileName.withCString {
            cskiff_openat(directoryFD, $0, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        }
        guard fd >= 0 else { inform("dumpcore: could not create \(path): \(errnoString())"); return }
        defer { close(fd) }
        switch Self.write(core, from: memory, to: fd) {
        case .success(let pages): inform("dumpcore: dumped guest core to: \(path) (\(pages.written) of \(pages.total) pages)")
        case .failure(let e): inform("dumpcore: could not write \(path): \(errnoString(e.errno))")
        }
    }

    public struct WriteError: Error, Sendable { public let errno: Int32 }

    /// Writes `core` to `fd`: its header, then each segment's non-zero pages at their file
    /// offsets (zero pages stay holes), and the last byte, so the file has its full size.
    /// Returns the pages written and the pages in all segments.
    public static func write(_ core: CoreFile, from memory: GuestMemory, to fd: Int32)
        -> Result<(written: UInt64, total: UInt64), WriteError> {
        guard Host.pwriteAll(fd, core.header, at: 0) else { return .failure(WriteError(errno: errno)) }
        let page = CoreFile.pageSize
        /// Nothing to write: all zero, or unreadable on the host (an execute-only segment).
        func skip(_ a: UInt64, _ n: UInt64) -> Bool {
            !memory.hostAllows(GuestAddress(a), n, write: false) || ((try? memory.isZero(at: GuestAddress(a), count: n)) ?? true)
        }
        var written: UInt64 = 0, total: UInt64 = 0
        var fileEnd = UInt64(core.header.count)
        for s in core.segments {
            var at: UInt64 = 0
            while at < s.size {
                // A run of non-zero pages: [at, end).
                let n = min(page, s.size - at)
                total += 1
                if skip(s.address + at, n) { at += n; continue }
                var end = at + n
                written += 1
                while end < s.size {
                    let m = min(page, s.size - end)
                    if skip(s.address + end, m) { break }
                    end += m; written += 1; total += 1
                }
                var done = at
                while done < end {
                    let r: Int
                    do throws(GuestAccessError) {
                        r = try memory.pwrite(to: fd, from: GuestAddress(s.address + done), count: end - done,
                                              offset: s.fileOffset + done, scope: .allocation)
                    } catch { return .failure(WriteError(errno: EFAULT)) }
                    if r < 0 && errno == EINTR { continue }
                    guard r > 0 else { return .failure(WriteError(errno: r < 0 ? errno : EIO)) }
                    done += UInt64(r)
                }
                fileEnd = max(fileEnd, s.fileOffset + end)
                at = end
            }
        }
        // The file's size: when the last page was zero (a hole), write the file's last byte.
        if fileEnd < core.fileSize, !Host.pwriteAll(fd, [0], at: core.fileSize - 1) { return .failure(WriteError(errno: errno)) }
        return .success((written, total))
    }
}
