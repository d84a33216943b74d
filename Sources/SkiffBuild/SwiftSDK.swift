// SwiftSDK.swift: Skiff's platforms as Swift SDKs (`skiff sdk install`), and their link step (`skiff link`).
//
// One artifact bundle, `skiff.artifactbundle`, holds a Swift SDK per platform row (skiff-x86_64-hvt,
// skiff-aarch64-virt, ...). Each SDK's toolset carries the Embedded Swift and C flags of the row and
// names, as its tools directory, a `bin/` whose only tool is a `clang` script: swiftc links through
// the `clang` of its tools directory (`-tools-directory`), so SwiftPM's link command arrives at
// `skiff link`, which links with the row's linker script and C runtime and then runs the row's
// post-link step (page tables, checks, the raw arm64 Image). That is how a step SwiftPM's toolsets
// cannot name (a post-link step) still runs inside `swift build --swift-sdk`, with no plugin.

import SkiffCore

public enum SwiftSDK {
    public static let bundleName = "skiff.artifactbundle"

    public static let usage = """
        usage: skiff sdk install [--swift-sdks-path DIR]   install the Swift SDKs (one per platform) with `swift sdk install`
               skiff sdk remove [--swift-sdks-path DIR]    remove them (`swift sdk remove`)
               skiff sdk list                              the SDK names: swift build --swift-sdk NAME
               skiff sdk bundle DIR                        write skiff.artifactbundle into DIR (no install)
        """

    static func jsonArray(_ items: [String]) -> String {
        "[" + items.map(jsonString).joined(separator: ", ") + "]"
    }

    /// The toolset of one row: Embedded Swift and the runtime's include flags for swiftc, the row's C
    /// flags for clang (C targets), `bin/` as the tools directory (its `clang` is `skiff link`).
    static func toolset(platform: Platform, runtime: RuntimeSources, clang: String) -> String {
        let flags = Builder.Flags(runtime: runtime, stackSize: 1 << 20)
        // The row's Swift flags, minus what SwiftPM decides itself (target, optimisation, library
        // parsing) and the runtime's -I of Guest/include (SwiftPM passes the SkiffRuntime module map).
        var swift: [String] = []
        var skip = 0
        for (i, f) in flags.swift.enumerated() {
            if skip > 0 { skip -= 1; continue }
            if f == "-target" || (f == "-I" && i + 1 < flags.swift.count && flags.swift[i + 1] == runtime.includeDirectory) {
                skip = 1; continue
            }
            if f == "-O" || f == "-parse-as-library" { continue }
            swift.append(f)
        }
        var c: [String] = []
        skip = 0
        for f in flags.c {
            if skip > 0 { skip -= 1; continue }
            if f == "-target" { skip = 1; continue }
            c.append(f)
        }
        return """
            {
              "schemaVersion": "1.0",
              "rootPath": "bin",
              "swiftCompiler": { "extraCLIOptions": \(jsonArray(swift)) },
              "cCompiler": { "path": \(jsonString(clang)), "extraCLIOptions": \(jsonArray(c)) }
            }

            """
    }

    /// Writes `dir/skiff.artifactbundle` for every platform row; returns its path.
    static func writeBundle(into dir: String, skiff: String) throws(BuildError) -> String {
        let root = try SourceTree.locate()
        let bundle = dir + "/" + bundleName
        guard mkdir(bundle, 0o755) == 0 else { throw BuildError("\(bundle): \(FileSystem.errnoText())") }
        var artifacts: [String] = []
        for platform in Platform.all {
            let runtime = RuntimeSources(root: root, platform: platform)
            try runtime.check()
            let tools = try Toolchain.find(triple: platform.triple)
            let name = platform.sdkName
            let v = bundle + "/" + name
            for d in [v, v + "/bin"] {
                guard mkdir(d, 0o755) == 0 else { throw BuildError("\(d): \(FileSystem.errnoText())") }
            }
            try FileSystem.writeFile(v + "/swift-sdk.json", """
                {
                  "schemaVersion": "4.0",
                  "targetTriples": {
                    \(jsonString(platform.triple)): { "sdkRootPath": ".", "toolsetPaths": ["toolset.json"] }
                  }
                }

                """)
            try FileSystem.writeFile(v + "/toolset.json", toolset(platform: platform, runtime: runtime, clang: tools.clang))
            let script = """
                #!/bin/sh
                # \(name)'s linker driver: swiftc links through the clang of the toolset's tools directory; this is
                # Skiff's link step (ld.lld with the platform's runtime and linker script, then its post-link step).
                exec \(Command.quote(skiff)) link --arch \(platform.arch) --platform \(platform.name) -- "$@"

                """
            try FileSystem.writeFile(v + "/bin/clang", Array(script.utf8), mode: 0o755)
            artifacts.append("""
                    \(jsonString(name)): {
                      "type": "swiftSDK", "version": "1.0",
                      "variants": [{ "path": \(jsonString(name)), "supportedTriples": ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] }]
                    }
                """)
        }
        try FileSystem.writeFile(bundle + "/info.json", """
            {
              "schemaVersion": "1.0",
              "artifacts": {
            \(artifacts.joined(separator: ",\n"))
              }
            }

            """)
        return bundle
    }

    /// `swift` beside the swiftc `skiff build` uses.
    static func swiftDriver() throws(BuildError) -> String {
        let tools = try Toolchain.find(triple: Platform.all[0].triple)
        let swift = FileSystem.dirname(tools.swiftc) + "/swift"
        guard FileSystem.isExecutable(swift) else { throw BuildError("\(swift) not found (needed by swift sdk install)") }
        return swift
    }

    /// Where `swift sdk` keeps bundles: `--swift-sdks-path`, else ~/.swiftpm/swift-sdks, with ~ the
    /// user's home directory from /etc/passwd (SwiftPM's choice on Linux: it does not read $HOME).
    static func sdksDirectory(_ given: String?) -> String? {
        if let given { return given }
        let uid = String(getuid())
        if let passwd = try? FileSystem.readFile("/etc/passwd") {
            for line in String(decoding: passwd, as: UTF8.self).split(separator: "\n") {
                let f = line.split(separator: ":", omittingEmptySubsequences: false)
                if f.count >= 6, f[2] == uid { return String(f[5]) + "/.swiftpm/swift-sdks" }
            }
        }
        return FileSystem.environment("HOME").map { $0 + "/.swiftpm/swift-sdks" }
    }

    static func run(_ argv: [String]) throws(BuildError) {
        try Processes.run([Command(executable: argv[0], arguments: Array(argv.dropFirst()))], verbose: false)
    }
}

/// Entry point of `skiff sdk`: 0, or 1 with one `skiff sdk: ...` line.
public func skiffSDKMain(_ args: [String]) -> Int32 {
    do throws(BuildError) {
        guard let verb = args.first else { throw BuildError("missing command (install, remove, list or bundle)") }
        var rest = Array(args.dropFirst())
        var sdksPath: String?
        if rest.count == 2 && rest[0] == "--swift-sdks-path" {
            sdksPath = rest[1]
            rest = []
        } else if rest.count == 1 && rest[0].hasPrefix("--swift-sdks-path=") {
            sdksPath = String(rest[0].dropFirst(18))
            rest = []
        }
        let pathFlag = sdksPath.map { ["--swift-sdks-path", $0] } ?? []
        switch verb {
        case "list" where rest.isEmpty:
            for p in Platform.all { printOut(p.sdkName) }
        case "bundle" where rest.count == 1:
            guard let skiff = FileSystem.executablePath() else { throw BuildError("cannot read /proc/self/exe") }
            printOut(try SwiftSDK.writeBundle(into: rest[0], skiff: skiff))
        case "install" where rest.isEmpty:
            guard let skiff = FileSystem.executablePath() else { throw BuildError("cannot read /proc/self/exe") }
            let swift = try SwiftSDK.swiftDriver()
            if let dir = SwiftSDK.sdksDirectory(sdksPath), FileSystem.kind(dir + "/" + SwiftSDK.bundleName) != .missing {
                try SwiftSDK.run([swift, "sdk", "remove"] + pathFlag + [SwiftSDK.bundleName])
            }
            let tmp = try FileSystem.makeTemporaryDirectory()
            defer { FileSystem.removeTree(tmp) }
            let bundle = try SwiftSDK.writeBundle(into: tmp, skiff: skiff)
            try SwiftSDK.run([swift, "sdk", "install"] + pathFlag + [bundle])
            printOut("skiff sdk: installed " + Platform.all.map { $0.sdkName }.joined(separator: ", "))
        case "remove" where rest.isEmpty:
            let swift = try SwiftSDK.swiftDriver()
            guard let dir = SwiftSDK.sdksDirectory(sdksPath), FileSystem.kind(dir + "/" + SwiftSDK.bundleName) != .missing else {
                printOut("skiff sdk: not installed")
                return 0
            }
            try SwiftSDK.run([swift, "sdk", "remove"] + pathFlag + [SwiftSDK.bundleName])
        case "-h", "--help", "help":
            printOut(SwiftSDK.usage)
        default:
            throw BuildError("bad arguments: \(args.joined(separator: " "))")
        }
        return 0
    } catch {
        printError("skiff sdk: " + error.message)
        printError(SwiftSDK.usage)
        return 1
    }
}

/// `skiff link --arch A --platform P -- CLANG-ARGS...`: the Swift SDKs' link step. From the clang
/// command line swiftc writes it takes the objects and archives, `@FILE` response files, each
/// `-Xlinker X` (SwiftPM's `--defsym main=NAME_main`) and `-o OUT`; the other driver flags (-L, -B,
/// --sysroot, --target, -g, -v) do not apply to a Skiff link. The manifest is `manifest.json` beside
/// the Package.swift above OUT (`PKG/.build/TRIPLE/CONFIG/NAME`), if any.
public func skiffLinkMain(_ args: [String]) -> Int32 {
    do throws(BuildError) {
        var arch: String?, platformName: String?
        var i = 0
        while i < args.count, args[i] != "--" {
            switch args[i] {
            case "--arch" where i + 1 < args.count: arch = args[i + 1]; i += 1
            case "--platform" where i + 1 < args.count: platformName = args[i + 1]; i += 1
            default: throw BuildError("unknown option \(args[i]) (usage: skiff link --arch A --platform P -- CLANG-ARGS...)")
            }
            i += 1
        }
        guard i < args.count else {
            throw BuildError("missing -- CLANG-ARGS (usage: skiff link --arch A --platform P -- CLANG-ARGS...; the Swift SDKs' linker driver)")
        }
        let platform = try Platform.select(arch: arch, platform: platformName)
        var driver = Array(args.dropFirst(i + 1))
        // SwiftPM also compiles C targets with the tools directory's clang: anything but a link
        // (-c, -E, -S, a query) goes to the real clang unchanged.
        let compiles = driver.contains { $0 == "-c" || $0 == "-E" || $0 == "-S" || $0 == "-fsyntax-only" || $0.hasPrefix("-print") || $0 == "--version" }
        if compiles || !driver.contains(where: { $0.hasSuffix(".o") || $0.hasPrefix("@") }) {
            let clang = try Toolchain.find(triple: platform.triple).clang
            let e = Host.exec(clang, ([clang] + driver).map { Array($0.utf8) })
            throw BuildError("cannot run \(clang): \(errnoString(e))")
        }
        var objects: [String] = [], linkerArguments: [String] = [], output: String?
        var verbose = false
        var j = 0
        while j < driver.count {
            let a = driver[j]
            if a.hasPrefix("@") {
                let words = String(decoding: try FileSystem.readFile(String(a.dropFirst())), as: UTF8.self)
                    .split(whereSeparator: { $0 == "\n" || $0 == " " }).map(String.init)
                driver.insert(contentsOf: words.map { $0.hasPrefix("\"") && $0.hasSuffix("\"") && $0.count >= 2
                    ? String($0.dropFirst().dropLast()) : $0 }, at: j + 1)
            } else if a == "-o" || a == "-Xlinker" || a == "-L" || a == "-B" || a == "--sysroot" || a == "-target" {
                guard j + 1 < driver.count else { throw BuildError("\(a) needs a value") }
                if a == "-o" { output = driver[j + 1] }
                if a == "-Xlinker" { linkerArguments.append(driver[j + 1]) }
                j += 1
            } else if a.hasPrefix("-Wl,") {
                linkerArguments += a.dropFirst(4).split(separator: ",").map(String.init)
            } else if a == "-v" {
                verbose = true
            } else if a.hasSuffix(".swiftmodule.o") {
                // swiftc -modulewrap: the module's AST for lldb (.swift_ast), not code: left out.
            } else if a.hasSuffix(".o") || a.hasSuffix(".a") {
                objects.append(a)
            }
            j += 1
        }
        guard let output else { throw BuildError("no -o OUTPUT in the link command") }
        guard !objects.isEmpty else { throw BuildError("no objects in the link command") }
        // The package's manifest: manifest.json beside the first Package.swift above OUT.
        var manifest: String?
        var dir = FileSystem.dirname(FileSystem.realPath(FileSystem.dirname(output)).map { $0 + "/x" } ?? output)
        while true {
            if FileSystem.kind(dir + "/Package.swift") == .file {
                if FileSystem.kind(dir + "/manifest.json") == .file { manifest = dir + "/manifest.json" }
                break
            }
            if dir == "/" || dir == "." || dir.isEmpty { break }
            dir = FileSystem.dirname(dir)
        }
        var options = BuildOptions(source: dir, output: output, arch: platform.arch, verbose: verbose, platform: platform.name)
        options.verbose = verbose || FileSystem.environment("SKIFF_LINK_VERBOSE") != nil
        // SwiftPM's debug builds compile with -g; the link strips the DWARF, so an SDK-built image is
        // as small as `skiff build`'s (for gdb, build with `skiff build -g`: docs/debugging.md).
        try Builder(options: options).build(manifestPath: manifest, linkerArguments: ["--strip-debug"] + linkerArguments,
                                            linksSkiffModule: false) { (_, _, _, _) throws(BuildError) in objects }
        return 0
    } catch {
        printError("skiff link: " + error.message)
        return 1
    }
}
