// SkiffBuild.swift: `skiff build`: Embedded Swift sources + manifest.json → a unikernel for one platform row (Platforms.swift).

import SkiffCore

/// Options of `skiff build PATH -o OUT [--arch A] [--platform P] [--verbose]`.
public struct BuildOptions: Equatable, Sendable {
    public var source: String
    public var output: String
    public var arch: String = "x86_64"
    public var verbose = false
    /// Guest platform: `hvt` (x86_64's default; aarch64 too), `virt` (aarch64's default) or `xen`.
    public var platform: String = "hvt"
    /// User stack size in bytes (x86_64; default 1 MiB).
    public var stackSize: UInt64 = 1 << 20
    /// `-g`: DWARF for debuggers (line tables, frames, variables) in the image; still optimized.
    public var debugInfo = false

    public static let usage = """
        usage: skiff build [PATH] [-o OUT] [--arch x86_64] [--platform P] [-g] [--verbose]
          PATH       a Swift package made by skiff init (default: the current directory,
                     when it has a Package.swift), a .swift file, or a directory of .swift
                     files (+ optional manifest.json)
          -o OUT     the unikernel to write (default: NAME.hvt)
          --arch A   target architecture: x86_64 (default; hvt) or aarch64 (QEMU virt
                     Image + OUT.elf; docs/boot-aarch64.md)
          --platform P
                     guest platform: hvt (x86_64's default; also aarch64, an hvt ELF:
                     docs/boot-aarch64-hvt.md), virt (aarch64's default) or xen
                     (x86_64: a PVH ELF for Xen or QEMU -kernel; docs/platform-xen.md)
          -g         include DWARF debug information (gdb: break FILE:LINE, bt, print;
                     docs/debugging.md); the code is optimized as without it
          --verbose  print each command as it runs
          --stack-size N
                     user stack size: bytes, or with a K/M suffix (x86_64; default 1M)
        """

    /// Parses the arguments after `build`.
    public static func parse(_ args: [String]) throws(BuildError) -> BuildOptions {
        var source: String?, output: String?, arch: String?, platformName: String?, verbose = false
        var stackSize: UInt64 = 1 << 20
        var debugInfo = false
        var scanner = OptionScanner(args, valued: ["-o", "--output", "--arch", "--platform", "--stack-size"],
                                    flags: ["--verbose", "-v", "-g", "--debug-info"], dashIsOperand: true)
        while let argument = try scanner.next() {
            switch argument {
            case .value("--arch", let v): arch = v
            case .value("--platform", let v): platformName = v
            case .value("--stack-size", let v): stackSize = try parseStackSize(v)
            case .value(_, let v): output = v   // -o, --output
            case .flag("-g"), .flag("--debug-info"): debugInfo = true
            case .flag: verbose = true          // --verbose, -v
            case .operand(let a):
                if let source { throw BuildError("more than one PATH (\(source), \(a))") }
                source = a
            }
        }
        if source == nil && FileSystem.kind("Package.swift") == .file { source = "." }
        guard let source else { throw BuildError("missing PATH (a package, a .swift file or a directory)") }
        let package = try PackageSource.open(source)
        if arch == nil && platformName == nil, let p = package?.platform {
            arch = p.0; platformName = p.1
        }
        let platform = try Platform.select(arch: arch, platform: platformName)
        var out = output ?? ""
        if out.isEmpty {
            var base = package?.target ?? FileSystem.basename(source)
            if base.hasSuffix(".swift") { base = String(base.dropLast(6)) }
            if base.isEmpty || base == "." || base == ".." { base = "unikernel" }
            out = base + platform.outputSuffix
        }
        var o = BuildOptions(source: source, output: out, arch: platform.arch, verbose: verbose, platform: platform.name)
        o.stackSize = stackSize
        o.debugInfo = debugInfo
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

/// The build, step by step, the same for every platform row:
///
/// 1. Collect PATH's `.swift` files and `manifest.json`; validate the manifest.
/// 2. The runtime: the `Skiff` module (Guest/Skiff/*.swift) and the row's C
///    and assembly sources (Guest/common, arch/, platform/, drivers/),
///    compiled in parallel (with the generated notes) unless the runtime
///    cache already holds them (RuntimeCache.swift).
///    Then the `SkiffNet` module (Guest/Net: the TCP/IP stack), which imports Skiff.
/// 3. swiftc the application module against it (`import Skiff`, `import SkiffNet`).
/// 4. ld.lld with the row's linker script.
/// 5. The row's post-link step: hvt page tables and checks (x86_64), the
///    hvt checks alone (aarch64), or the raw arm64 Image; then OUT is
///    renamed into place.
struct Builder {
    var options: BuildOptions

    var platform: Platform {
        Platform.all.first { $0.name == options.platform && $0.arch == options.arch } ?? Platform.all[0]
    }

    func run() throws(BuildError) {
        let (sources, manifestPath) = try collectSources()
        let isPackage = try PackageSource.open(options.source) != nil
        try build(manifestPath: manifestPath, linkerArguments: [], linksSkiffModule: true) { (tools, flags, runtimeDir, tmp) throws(BuildError) in
            // SwiftPM's rule in a package: a main.swift holds top-level code (no -parse-as-library).
            var appFlags = flags.swift
            if isPackage, sources.contains(where: { FileSystem.basename($0) == "main.swift" }) {
                appFlags.removeAll { $0 == "-parse-as-library" }
            }
            try Processes.run([Command(executable: tools.swiftc, arguments: appFlags + [
                "-module-name", "SkiffApp", "-I", runtimeDir, "-c", "-o", tmp + "/app.o"] + sources)],
                verbose: options.verbose)
            return [tmp + "/app.o"]
        }
    }

    /// Everything but compiling the application, shared by `skiff build` and
    /// the Swift SDKs' link step (`skiff link`, SwiftSDK.swift): the runtime
    /// (cached), the notes, `application` (returns the application's objects),
    /// ld.lld with `linkerArguments`, the post-link step. `linksSkiffModule`:
    /// link the runtime's own `Skiff.o` (false when SwiftPM compiled the
    /// Skiff module from Guest/Package.swift).
    func build(manifestPath: String?, linkerArguments: [String], linksSkiffModule: Bool,
               application: (Toolchain, Flags, String, String) throws(BuildError) -> [String]) throws(BuildError) {
        let platform = self.platform
        var manifest = Manifest(devices: [])
        if let manifestPath {
            manifest = try ManifestSource.parse(try FileSystem.readFile(manifestPath), fileName: manifestPath)
        }
        let runtime = RuntimeSources(root: try SourceTree.locate(), platform: platform)
        try runtime.check()
        let tools = try Toolchain.find(triple: platform.triple)

        let tmp = try FileSystem.makeTemporaryDirectory()
        let keep = FileSystem.environment("SKIFF_BUILD_KEEP") != nil
        defer {
            if keep { printError("skiff build: kept \(tmp)") } else { FileSystem.removeTree(tmp) }
        }
        if options.verbose {
            let target = platform == Platform.all[0] ? "" : ", arch \(platform.arch)"
            printError("+ # runtime \(runtime.root)\(target), scratch \(tmp)")
        }

        // The generated notes: the MFT1 manifest note (read by the monitor,
        // and on virt by the guest itself) and hvt's ABI1 note (discarded by
        // platforms that are not hvt).
        let flags = Flags(runtime: runtime, stackSize: options.stackSize, debugInfo: options.debugInfo)
        try FileSystem.writeFile(tmp + "/notes.S", SoloNotes.assembly(manifest))
        let notes = Command(executable: tools.clang, arguments: flags.assembly + ["-c", tmp + "/notes.S", "-o", tmp + "/notes.o"])
        let runtimeDir = try buildRuntime(runtime, tools: tools, flags: flags, scratch: tmp, alongside: [notes])
        let appObjects = try application(tools, flags, runtimeDir, tmp)

        let runtimeObjects = (try runtime.objectNames()).filter { linksSkiffModule || $0 != "Skiff.o" }
        let objects = runtimeObjects.map { runtimeDir + "/" + $0 } + [tmp + "/notes.o"] + appObjects
        let elf = tmp + "/image.elf"
        try Processes.run([Command(executable: tools.lld, arguments: [
            "-T", runtime.linkerScript, "-nostdlib", "-static", "--gc-sections",
            "--orphan-handling=error", "-z", "max-page-size=4096", "-z", "norelro",
            "-z", "noexecstack", "--no-dynamic-linker"] + platform.linkFlags + linkerArguments + ["-o", elf] + objects
            + (tools.unicodeTables.map { [$0] } ?? []))], verbose: options.verbose)

        let elfBytes = try FileSystem.readFile(elf)
        switch platform.postLink {
        case .hvtPageTables:
            var image = try ELFFile(linked: elfBytes)
            try ImagePatcher.writePageTables(into: &image)
            try ImagePatcher.check(image, arch: .x86_64)
            try replace(options.output, with: image.bytes, mode: 0o755)
        case .hvtChecked:
            let image = try ELFFile(linked: elfBytes)
            try ImagePatcher.check(image, arch: .aarch64)
            try replace(options.output, with: image.bytes, mode: 0o755)
        case .pvh:
            let image = try ELFFile(linked: elfBytes)
            try PVHImage.check(image)
            try replace(options.output, with: image.bytes, mode: 0o644)
        case .xenArm64Image:
            let linked = try ELFFile(linked: elfBytes)
            try XenArm64Image.checkRelocations(linked)
            let image = try AArch64Image.flatten(linked)
            try XenArm64Image.check(image)
            try FileSystem.writeFile(options.output + ".elf", elfBytes, mode: 0o644)
            try replace(options.output, with: image, mode: 0o644)
        case .arm64Image:
            let image = try AArch64Image.flatten(try ELFFile(linked: elfBytes))
            try AArch64Image.check(image)
            try FileSystem.writeFile(options.output + ".elf", elfBytes, mode: 0o755)
            try replace(options.output, with: image, mode: 0o644)
        }
    }

    /// Writes `path` whole or not at all: a scratch file renamed over it.
    func replace(_ path: String, with bytes: [UInt8], mode: mode_t) throws(BuildError) {
        let partial = path + ".tmp-skiff"
        try FileSystem.writeFile(partial, bytes, mode: mode)
        guard rename(partial, path) == 0 else {
            let e = FileSystem.errnoText()
            unlink(partial)
            throw BuildError("\(path): \(e)")
        }
    }

    /// Compiler flags for the runtime and the application.
    struct Flags {
        var c: [String]
        var assembly: [String]
        var swift: [String]

        init(runtime: RuntimeSources, stackSize: UInt64, debugInfo: Bool = false) {
            let platform = runtime.platform
            let includes = runtime.includeFlags + ["-D\(platform.define)"]
            c = ["-target", platform.triple, "-ffreestanding", "-fno-builtin", "-nostdlib",
                 "-O2", "-fno-pic"] + platform.cFlags
                + ["-mstack-protector-guard=global", "-fstack-protector-strong",
                   "-fno-asynchronous-unwind-tables", "-ffunction-sections", "-fdata-sections",
                   "-std=c11", "-Wall", "-Werror=implicit-function-declaration"]
            c += includes
            assembly = ["-target", platform.triple, "-DSKIFF_STACK_SIZE=\(stackSize)"] + includes
            swift = ["-target", platform.triple, "-enable-experimental-feature", "Embedded",
                     "-wmo", "-parse-as-library", "-O", "-Xcc", "-fno-pic",
                     "-Xfrontend", "-function-sections"]
            swift += includes.flatMap { ["-Xcc", $0] }
            swift += ["-I", runtime.includeDirectory]
            if debugInfo {
                // DWARF in every object. No clang-module skeleton units: they name .pcm files of this
                // machine's module cache, which gdb then looks for ("Could not find DWO CU").
                c += ["-g"]
                assembly += ["-g"]
                swift += ["-g", "-Xfrontend", "-no-clang-module-breadcrumbs"]
            }
            // Extra flags for experiments, e.g. SKIFF_SWIFTFLAGS="-Xfrontend -disable-stack-protector".
            if let extra = FileSystem.environment("SKIFF_SWIFTFLAGS") {
                swift += extra.split(separator: " ").map(String.init)
            }
        }
    }

    /// Makes sure the runtime objects exist and returns their directory (the
    /// cache entry, or one in `scratch`); runs `alongside` in the same
    /// parallel batch. The runtime depends only on its platform row, its
    /// sources, the toolchain, the flags and the stack size, so it is built
    /// once per content hash.
    func buildRuntime(_ runtime: RuntimeSources, tools: Toolchain, flags: Flags, scratch: String,
                      alongside: [Command]) throws(BuildError) -> String {
        let key = try RuntimeCache.key(runtime: runtime, tools: tools,
                                       flags: flags.swift + ["|"] + flags.c + ["|"] + flags.assembly)
        let cache = RuntimeCache(platform: runtime.platform, key: key)
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
        for source in try runtime.compiledSources() {
            let base = source.hasSuffix(".S") ? flags.assembly : flags.c
            commands.append(Command(executable: tools.clang, arguments: base + [
                "-c", source, "-o", dir + "/" + runtime.objectName(source)]))
        }
        try Processes.run(commands, verbose: options.verbose)
        // SkiffNet imports Skiff, so it compiles once Skiff.swiftmodule exists.
        try Processes.run([Command(executable: tools.swiftc, arguments: flags.swift + [
            "-module-name", "SkiffNet", "-I", dir, "-emit-module", "-emit-module-path", dir + "/SkiffNet.swiftmodule",
            "-c", "-o", dir + "/SkiffNet.o"] + (try runtime.netSwiftSources()))], verbose: options.verbose)
        return cache?.store(dir) ?? dir
    }

    /// The `.swift` files to compile and the manifest, if any.
    func collectSources() throws(BuildError) -> ([String], String?) {
        let path = options.source
        if let package = try PackageSource.open(path) {
            return (package.sources, package.manifest)
        }
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

/// A unikernel package (skiff init): a directory with Package.swift, one
/// target directory under Sources/ and its manifest beside Package.swift.
/// `skiff build` compiles that target alone; a package with dependencies
/// builds with `swift build --swift-sdk` (SwiftSDK.swift).
struct PackageSource {
    var root: String
    /// The target's name (its directory under Sources/).
    var target: String
    /// Every `.swift` file under Sources/TARGET, subdirectories included.
    var sources: [String]
    var manifest: String?
    /// `(arch, platform)` from the `// skiff-platform: ARCH-PLATFORM` line, if any.
    var platform: (String, String)?

    /// nil when `path` is not a package directory; an error when it is one `skiff build` cannot build.
    static func open(_ path: String) throws(BuildError) -> PackageSource? {
        guard FileSystem.kind(path) == .directory, FileSystem.kind(path + "/Package.swift") == .file else { return nil }
        let sourcesDir = path + "/Sources"
        guard FileSystem.kind(sourcesDir) == .directory else { throw BuildError("\(path): a package without Sources/") }
        var targets: [(String, [String])] = []
        for name in try FileSystem.list(sourcesDir) where FileSystem.kind(sourcesDir + "/" + name) == .directory {
            let files = try swiftFiles(sourcesDir + "/" + name)
            if !files.isEmpty { targets.append((name, files)) }
        }
        guard targets.count == 1 else {
            let names = targets.map { $0.0 }.joined(separator: ", ")
            throw BuildError(targets.isEmpty ? "\(sourcesDir): no target with .swift files"
                : "\(sourcesDir): \(targets.count) targets (\(names)); skiff build builds a package of one target: use swift build --swift-sdk")
        }
        let manifest = path + "/manifest.json"
        var platform: (String, String)?
        let text = String(decoding: try FileSystem.readFile(path + "/Package.swift"), as: UTF8.self)
        // skiff build compiles the target alone: a package with dependencies besides Skiff is SwiftPM's to build.
        let dependencies = text.split(separator: "\n").filter { line in
            !line.drop(while: { $0 == " " }).hasPrefix("//") && PackageSource.contains(Array(line.utf8), Array(".package(".utf8))
        }
        guard dependencies.count <= 1 else {
            throw BuildError("\(path): the package has dependencies besides Skiff: build it with swift build --swift-sdk skiff-ARCH-PLATFORM")
        }
        for line in text.split(separator: "\n") where line.hasPrefix(ProjectInit.platformMarker) {
            let value = line.dropFirst(ProjectInit.platformMarker.count).split(separator: " ").first.map(String.init) ?? ""
            guard let dash = value.firstIndex(of: "-") else {
                throw BuildError("\(path)/Package.swift: \(ProjectInit.platformMarker)\(value): expected ARCH-PLATFORM (x86_64-hvt)")
            }
            platform = (String(value[..<dash]), String(value[value.index(after: dash)...]))
        }
        return PackageSource(root: path, target: targets[0].0, sources: targets[0].1,
                             manifest: FileSystem.kind(manifest) == .file ? manifest : nil, platform: platform)
    }

    /// True when `needle` occurs in `haystack` (bytes; no Foundation).
    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) {
            return true
        }
        return false
    }

    static func swiftFiles(_ dir: String) throws(BuildError) -> [String] {
        var files: [String] = []
        for name in try FileSystem.list(dir) where !name.hasPrefix(".") {
            let p = dir + "/" + name
            switch FileSystem.kind(p) {
            case .directory: files += try swiftFiles(p)
            case .file where name.hasSuffix(".swift"): files.append(p)
            default: break
            }
        }
        return files
    }
}
