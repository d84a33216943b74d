// main.swift: the `skiff` command: run, build, inspect, bench. The only place that turns errors into exit statuses.

import Glibc
import SkiffCore
import SkiffMonitor
import SkiffBuild
import SkiffQEMU

let skiffVersion = "0.1.0"

func emit(_ fd: Int32, _ s: String) {
    var s = s
    if !s.hasSuffix("\n") { s += "\n" }
    s.withCString { p in
        var off = 0
        let n = strlen(p)
        while off < n {
            let w = write(fd, p + off, n - off)
            if w <= 0 { if errno == EINTR { continue }; return }
            off += w
        }
    }
}
func err(_ s: String) { emit(2, "skiff: " + s) }

let topUsage = """
    usage: skiff <command> [ARGS...]
      run [OPTIONS] [--] KERNEL [ARGS...]   run an hvt unikernel (solo5-hvt syntax; see skiff run --help)
      build PATH -o OUT [--arch ARCH]       build a unikernel from Embedded Swift sources
      inspect [--json] KERNEL               print an image's ABI note and manifest
      bench [--json] [--update-docs]        run the benchmarks (scripts/bench of the source tree)
      --version                             print the version
    """

/// argv exactly as the kernel passed it (CommandLine.arguments repairs invalid UTF-8).
let rawArguments: [[UInt8]] = (0..<Int(CommandLine.argc)).map { i in
    guard let p = CommandLine.unsafeArgv[i] else { return [] }
    return Array(UnsafeRawBufferPointer(start: p, count: strlen(p)))
}

func runCommand(_ args: [String]) -> Int32 {
    var options: RunOptions
    do {
        options = try RunOptions.parse(args)
        options.rawGuestArguments = Array(rawArguments.suffix(options.guestArguments.count))
    } catch {
        switch error {
        case .help: emit(1, RunOptions.usage); return 0
        case .version: printVersion(); return 0
        default:
            err(error.message)
            emit(2, RunOptions.usage)
            return 1
        }
    }
    // aarch64: a Skiff QEMU-virt image (raw arm64 Image or its ELF), or any aarch64 ELF.
    if VirtImage.isVirtImage(path: options.kernel) || (try? ImageInfo(path: options.kernel))?.architecture == .aarch64 {
        return runAArch64Image(options, warn: { err($0) })
    }
    if !options.sandbox { err("WARNING: --no-sandbox: the monitor runs without its seccomp filter (debugging only)") }
    Monitor.installTerminationHandlers()
    do {
        let result = try Monitor(options: options, warn: { err("WARNING: " + $0) }).run()
        if result.halt.processStatus == 255, let f = result.trapFrame, f.count == 7 {
            err("guest aborted: trap frame cr2=\(hex(f[0])) ec=\(hex(f[1])) rip=\(hex(f[2])) rsp=\(hex(f[5])) rflags=\(hex(f[4]))")
        }
        return result.halt.processStatus
    } catch {
        err(error.message)
        return error.exitStatus
    }
}

/// `skiff bench`: runs `scripts/bench` of the source tree this binary was built in (SourceTree.locate()).
func benchCommand(_ args: [String]) -> Int32 {
    if let root = try? SourceTree.locate(), access(root + "/scripts/bench", X_OK) == 0 {
        let script = root + "/scripts/bench"
        var cargs = ([script] + args).map { strdup($0) } + [nil]
        execv(script, &cargs)
        err("bench: cannot run \(script): \(String(cString: strerror(errno)))")
        return 1
    }
    err("bench: scripts/bench not found above this binary (run it from the Skiff source tree)")
    return 1
}

func printVersion() {
    emit(1, "skiff \(skiffVersion) (Solo5 hvt tender compatible)")
    emit(1, "ABI version 2")
}

func main() -> Int32 {
    var args = Array(CommandLine.arguments.dropFirst())
    let prog = CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? "skiff"
    if prog == "solo5-hvt" { return runCommand(args) }
    guard let cmd = args.first else { emit(2, topUsage); return 1 }
    args.removeFirst()
    switch cmd {
    case "run": return runCommand(args)
    case "build": return skiffBuildMain(args)
    case "inspect": return inspectCommand(args)
    case "bench": return benchCommand(args)
    case "--version", "version": printVersion(); return 0
    case "--help", "-h", "help": emit(1, topUsage); return 0
    default:
        err("unknown command '\(cmd)'")
        emit(2, topUsage)
        return 1
    }
}

exit(main())
