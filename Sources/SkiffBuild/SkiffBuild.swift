// SkiffBuild.swift: `skiff build`: Embedded Swift sources + manifest.json → an hvt unikernel (x86_64).

import Glibc

/// Options of `skiff build PATH -o OUT [--arch x86_64] [--verbose]`.
public struct BuildOptions: Equatable, Sendable {
    public var source: String
    public var output: String
    public var arch: String = "x86_64"
    public var verbose = false
    /// User stack size in bytes (x86_64; default 1 MiB).
    public var stackSize: UInt64 = 1 << 20

    public static let usage = """
        usage: skiff build PATH [-o OUT] [--arch x86_64] [--verbose]
          PATH       a .swift file, or a directory of .swift files (+ optional manifest.json)
          -o OUT     the unikernel to write (default: NAME.hvt)
          --arch A   target architecture: x86_64 (default; hvt) or aarch64 (QEMU virt
                     Image + OUT.elf; docs/boot-aarch64.md)
          --verbose  print each command as it runs
          --stack-size N
                     user stack size: bytes, or with a K/M suffix (x86_64; default 1M)
        """

    /// Parses the arguments after `build`.
    public static func parse(_ args: [String]) throws(BuildError) -> BuildOptions {
        var source: String?, output: String?, arch = "x86_64", verbose = false
        var stackSize: UInt64 = 1 << 20
        var i = 0
        func value(_ name: String) throws(BuildError) -> String {
            i += 1
            guard i < args.count else { throw BuildError("\(name) needs a value") }
            return args[i]
        }
        while i < args.count {
            let a = args[i]
            switch a {
            case "-o", "--output": output = try value(a)
            case "--arch": arch = try value(a)
            case "--verbose", "-v": verbose = true
            case "--stack-size": stackSize = try parseStackSize(try value(a))
            case "-h", "--help": throw BuildError("help")
            default:
                if a.hasPrefix("-o") && a.count > 2 {
                    output = String(a.dropFirst(2))
                } else if a.hasPrefix("--output=") {
                    output = String(a.dropFirst(9))
                } else if a.hasPrefix("--arch=") {
                    arch = String(a.dropFirst(7))
                } else if a.hasPrefix("--stack-size=") {
                    stackSize = try parseStackSize(String(a.dropFirst(13)))
                } else if a.hasPrefix("-") && a != "-" {
                    throw BuildError("unknown option \(a)")
                } else if source == nil {
                    source = a
                } else {
                    throw BuildError("more than one PATH (\(source!), \(a))")
                }
            }
            i += 1
        }
        guard let source else { throw BuildError("missing PATH (a .swift file or a directory)") }
        guard arch == "x86_64" || arch == "aarch64" else {
            throw BuildError("--arch \(arch) is not supported (supported: x86_64, aarch64)")
        }
        var out = output ?? ""
        if out.isEmpty {
            var base = FileSystem.basename(source)
            if base.hasSuffix(".swift") { base = String(base.dropLast(6)) }
            if base.isEmpty || base == "." || base == ".." { base = "unikernel" }
            out = base + (arch == "aarch64" ? ".img" : ".hvt")
        }
        var o = BuildOptions(source: source, output: out, arch: arch, verbose: verbose)
        o.stackSize = stackSize
        return o
    }

    /// "65536", "64K", "8M": a multiple of 4 KiB from 16 KiB to 1 GiB.
    static func parseStackSize(_ text: String) throws(BuildError) -> UInt64 {
        var digits = Substring(text)
        var unit: UInt64 = 1
        if let last = digits.last, "kKmM".contains(last) {
            unit = (last == "k" || last == "K") ? 1 << 10 : 1 << 20
            digits = digits.dropLast()
        }
        guard let n = UInt64(digits), n.multipliedReportingOverflow(by: unit).overflow == false else {
            throw BuildError("--stack-size \(text): not a size (bytes, or with a K/M suffix)")
        }
        let bytes = n * unit
        guard bytes % 4096 == 0, bytes >= 16 << 10, bytes <= 1 << 30 else {
            throw BuildError("--stack-size \(text): must be a multiple of 4K from 16K to 1024M")
        }
        return bytes
    }
}

/// Entry point of `skiff build`: returns the process exit status (0 or 1)
/// and prints at most one `skiff build: ...` line on failure (compiler
/// diagnostics come before it, straight from the compiler).
public func skiffBuildMain(_ args: [String]) -> Int32 {
    let options: BuildOptions
    do {
        options = try BuildOptions.parse(args)
    } catch {
        if error.message == "help" {
            printOut(BuildOptions.usage)
            return 0
        }
        printError("skiff build: " + error.message)
        printError(BuildOptions.usage)
        return 1
    }
    do {
        try Builder(options: options).run()
        return 0
    } catch {
        printError("skiff build: " + error.message)
        return 1
    }
}

/// The build, step by step:
///
/// 1. Collect PATH's `.swift` files and `manifest.json`; validate the manifest.
/// 2. The runtime: the `Skiff` module (Guest/Skiff/*.swift), the C runtime
///    (Guest/rt/*.c) and start.S, compiled in parallel (with the generated
///    notes) unless the runtime cache already holds them (RuntimeCache.swift).
/// 3. swiftc the application module against it (`import Skiff`).
/// 4. ld.lld with Guest/x86_64/skiff.ld.
/// 5. Compute the page tables from the linked layout, write them into the
///    image, check the result against the hvt loader's rules, write OUT.
struct Builder {
    static let triple = "x86_64-unknown-none-elf"
    var options: BuildOptions

    func run() throws(BuildError) {
        if options.arch == "aarch64" { return try AArch64Builder(options: options).run() }   // AArch64.swift
        let (sources, manifestPath) = try collectSources()
        var devices: [DeviceDeclaration] = []
        if let manifestPath {
            devices = try ManifestSource.parse(try FileSystem.readFile(manifestPath), fileName: manifestPath)
        }
        let runtime = try RuntimeSources.find()
        try runtime.check()
        let tools = try Toolchain.find(triple: Builder.triple)

        let tmp = try FileSystem.makeTemporaryDirectory()
        let keep = FileSystem.environment("SKIFF_BUILD_KEEP") != nil
        defer {
            if keep { printError("skiff build: kept \(tmp)") } else { FileSystem.removeTree(tmp) }
        }
        if options.verbose { printError("+ # runtime \(runtime.root), scratch \(tmp)") }

        let flags = Flags(runtime: runtime)
        try FileSystem.writeFile(tmp + "/notes.S", SoloNotes.assembly(devices))
        let notes = Command(executable: tools.clang, arguments: [
            "-target", Builder.triple, "-c", tmp + "/notes.S", "-o", tmp + "/notes.o"])
        let runtimeDir = try buildRuntime(runtime, tools: tools, flags: flags, scratch: tmp, alongside: [notes])

        try Processes.run([Command(executable: tools.swiftc, arguments: flags.swift + [
            "-module-name", "SkiffApp", "-I", runtimeDir, "-c", "-o", tmp + "/app.o"] + sources)],
            verbose: options.verbose)

        let objects = (try runtime.objectNames()).map { runtimeDir + "/" + $0 }
            + [tmp + "/notes.o", tmp + "/app.o"]
        let elf = tmp + "/image.elf"
        try Processes.run([Command(executable: tools.lld, arguments: [
            "-T", runtime.linkerScript, "-nostdlib", "-static", "--gc-sections",
            "--orphan-handling=error", "-z", "max-page-size=4096", "-z", "norelro",
            "-z", "noexecstack", "--no-dynamic-linker", "-o", elf] + objects
            + (tools.unicodeTables.map { [$0] } ?? []))], verbose: options.verbose)

        var image = try ELFFile(bytes: try FileSystem.readFile(elf))
        try ImagePatcher.writePageTables(into: &image)
        try ImagePatcher.check(image)
        let partial = options.output + ".tmp-skiff"
        try FileSystem.writeFile(partial, image.bytes, mode: 0o755)
        guard rename(partial, options.output) == 0 else {
            let e = FileSystem.errnoText()
            unlink(partial)
            throw BuildError("\(options.output): \(e)")
        }
    }

    /// Compiler flags for the runtime and the application.
    struct Flags {
        var c: [String]
        var swift: [String]

        init(runtime: RuntimeSources) {
            let includes = ["-I", runtime.includeDirectory, "-I", runtime.abiIncludeDirectory]
            c = ["-target", Builder.triple, "-ffreestanding", "-fno-builtin", "-nostdlib",
                 "-O2", "-fno-pic", "-mstack-protector-guard=global", "-fstack-protector-strong",
                 "-fno-asynchronous-unwind-tables", "-ffunction-sections", "-fdata-sections",
                 "-std=c11", "-Wall", "-Werror=implicit-function-declaration"]
            c += includes
            swift = ["-target", Builder.triple, "-enable-experimental-feature", "Embedded",
                     "-wmo", "-parse-as-library", "-O", "-Xcc", "-fno-pic",
                     "-Xfrontend", "-function-sections"]
            swift += includes.flatMap { ["-Xcc", $0] }
            swift += ["-I", runtime.includeDirectory]
            // Extra flags for experiments, e.g. SKIFF_SWIFTFLAGS="-Xfrontend -disable-stack-protector".
            if let extra = FileSystem.environment("SKIFF_SWIFTFLAGS") {
                swift += extra.split(separator: " ").map(String.init)
            }
        }
    }

    /// Makes sure the runtime objects exist and returns their directory (the
    /// cache entry, or one in `scratch`); runs `alongside` in the same
    /// parallel batch. The runtime depends only on its sources, the
    /// toolchain, the flags and the stack size, so it is built once per
    /// content hash.
    func buildRuntime(_ runtime: RuntimeSources, tools: Toolchain, flags: Flags, scratch: String,
                      alongside: [Command]) throws(BuildError) -> String {
        let key = try RuntimeCache.key(runtime: runtime, tools: tools,
                                       flags: flags.swift + ["|"] + flags.c + ["|stack=\(options.stackSize)"])
        let cache = RuntimeCache(key: key)
        if let cache, cache.hit {
            if options.verbose { printError("+ # runtime objects from the cache: \(cache.directory)") }
            try Processes.run(alongside, verbose: options.verbose)
            return cache.directory
        }
        let dir = scratch + "/runtime"
        guard mkdir(dir, 0o755) == 0 else { throw BuildError("\(dir): \(FileSystem.errnoText())") }
        var commands = alongside
        commands.append(Command(executable: tools.swiftc, arguments: flags.swift + [
            "-module-name", "Skiff", "-emit-module", "-emit-module-path", dir + "/Skiff.swiftmodule",
            "-c", "-o", dir + "/Skiff.o"] + (try runtime.swiftSources())))
        commands.append(Command(executable: tools.clang, arguments: [
            "-target", Builder.triple, "-I", runtime.platformDirectory,
            "-I", runtime.includeDirectory, "-I", runtime.abiIncludeDirectory,
            "-DSKIFF_STACK_SIZE=\(options.stackSize)", "-c", runtime.startAssembly, "-o", dir + "/start.o"]))
        for c in try runtime.cSources() {
            commands.append(Command(executable: tools.clang, arguments: flags.c + [
                "-c", c, "-o", dir + "/" + RuntimeSources.objectName(c)]))
        }
        try Processes.run(commands, verbose: options.verbose)
        return cache?.store(dir) ?? dir
    }

    /// The `.swift` files to compile and the manifest, if any.
    func collectSources() throws(BuildError) -> ([String], String?) {
        let path = options.source
        switch FileSystem.kind(path) {
        case .directory:
            let names = try FileSystem.list(path)
            let swift = names.filter { $0.hasSuffix(".swift") }.map { path + "/" + $0 }
            guard !swift.isEmpty else { throw BuildError("\(path): no .swift files") }
            let manifest = path + "/manifest.json"
            return (swift, FileSystem.kind(manifest) == .file ? manifest : nil)
        case .file:
            guard path.hasSuffix(".swift") else { throw BuildError("\(path): not a .swift file or a directory") }
            let manifest = FileSystem.dirname(path) + "/manifest.json"
            return ([path], FileSystem.kind(manifest) == .file ? manifest : nil)
        case .missing:
            throw BuildError("\(path): no such file or directory")
        case .other:
            throw BuildError("\(path): not a .swift file or a directory")
        }
    }
}

func printOut(_ text: String) {
    var s = text
    if !s.hasSuffix("\n") { s += "\n" }
    s.withCString { p in _ = write(1, p, strlen(p)) }
}
