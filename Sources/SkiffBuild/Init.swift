// Init.swift: `skiff init [--arch A] [--platform P] NAME`: a new unikernel as a Swift package (Package.swift, Sources/NAME/main.swift, manifest.json).

import SkiffCore

/// A unikernel project as SwiftPM lays a package out:
///
/// ```
/// NAME/Package.swift            the executable target NAME, depending on the Skiff guest package
/// NAME/Sources/NAME/main.swift  top-level code, as in any SwiftPM executable
/// NAME/manifest.json            the devices (Solo5 manifest), beside Package.swift
/// NAME/.gitignore               .build/
/// ```
///
/// Package.swift carries the platform chosen here on a `// skiff-platform:
/// ARCH-PLATFORM` line, which `skiff build` reads when given no `--arch` or
/// `--platform`; `swift build --swift-sdk skiff-ARCH-PLATFORM` picks it the
/// SwiftPM way. The Skiff package is named by the absolute path of the
/// runtime this `skiff` uses (`PREFIX/share/skiff/Guest` once installed).
public enum ProjectInit {
    public static let usage = """
        usage: skiff init [--arch A] [--platform P] NAME
          NAME         the new package's directory and executable target (a Swift identifier)
          --arch A     x86_64 (default) or aarch64
          --platform P hvt (x86_64's default), virt (aarch64's default) or xen
        """

    /// The marker line in Package.swift.
    public static let platformMarker = "// skiff-platform: "

    struct Options {
        var name: String
        var platform: Platform
    }

    static func parse(_ args: [String]) throws(BuildError) -> Options {
        var name: String?, arch: String?, platformName: String?
        var scanner = OptionScanner(args, valued: ["--arch", "--platform"])
        while let argument = try scanner.next() {
            switch argument {
            case .value("--arch", let v): arch = v
            case .value(_, let v): platformName = v
            case .flag(let f): throw BuildError("unknown option \(f)")
            case .operand(let a):
                if let name { throw BuildError("more than one NAME (\(name), \(a))") }
                name = a
            }
        }
        guard let name else { throw BuildError("missing NAME") }
        guard isIdentifier(name) else {
            throw BuildError("\(name): NAME must be a Swift identifier (letters, digits, _; not starting with a digit)")
        }
        guard name != "Skiff" && name != "SkiffRuntime" else {
            throw BuildError("\(name): that name is the Skiff module's own; choose another")
        }
        return Options(name: name, platform: try Platform.select(arch: arch, platform: platformName))
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`, at most 64 characters: a module name SwiftPM and swiftc both accept.
    static func isIdentifier(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard !u.isEmpty, u.count <= 64 else { return false }
        func letter(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x5f }
        return letter(u[0]) && u.allSatisfy { letter($0) || ($0 >= 0x30 && $0 <= 0x39) }
    }

    /// The files of a new project, by path relative to the package directory.
    static func files(name: String, platform: Platform, skiffPackage: String) -> [(path: String, text: String)] {
        let sdk = platform.sdkName
        let packageSwift = """
            // swift-tools-version: 6.0
            // \(name): a Skiff unikernel (made by `skiff init --arch \(platform.arch) --platform \(platform.name) \(name)`).
            //
            //   skiff build && skiff run \(name)\(platform.outputSuffix) a b
            //       Skiff's build, for the platform on the skiff-platform line below
            //   swift build --swift-sdk \(sdk) && skiff run .build/\(platform.triple)/debug/\(name) a b
            //       the same with SwiftPM and Skiff's Swift SDK (installed with skiff, or: skiff sdk install)
            //   swift build
            //       for the host: type-checks against the Skiff API (editors, SourceKit-LSP), runs without devices
            //
            // The unikernel's devices (its Solo5 manifest) are in manifest.json beside this file.
            \(platformMarker)\(platform.arch)-\(platform.name)

            import PackageDescription

            let package = Package(
                name: "\(name)",
                dependencies: [
                    // The Skiff guest module (the runtime installed with skiff).
                    .package(path: "\(skiffPackage)"),
                ],
                targets: [
                    .executableTarget(name: "\(name)", dependencies: [.product(name: "Skiff", package: "Guest")]),
                ]
            )

            """
        let main = """
            // main.swift: \(name), a Skiff unikernel: prints its arguments and exits 0.

            import Skiff

            print((["\(name):"] + Skiff.arguments).joined(separator: " "))

            """
        let manifest = """
            {
              "type": "solo5.manifest",
              "version": 1,
              "devices": []
            }

            """
        return [("Package.swift", packageSwift), ("Sources/\(name)/main.swift", main),
                ("manifest.json", manifest), (".gitignore", ".build/\n*\(platform.outputSuffix)\n")]
    }

    /// Creates the project in `directory` (which must not exist yet).
    static func create(_ o: Options, in directory: String, skiffPackage: String) throws(BuildError) {
        guard FileSystem.kind(directory) == .missing else { throw BuildError("\(directory) already exists") }
        for d in [directory, directory + "/Sources", directory + "/Sources/" + o.name] {
            guard mkdir(d, 0o755) == 0 else { throw BuildError("\(d): \(FileSystem.errnoText())") }
        }
        for f in files(name: o.name, platform: o.platform, skiffPackage: skiffPackage) {
            try FileSystem.writeFile(directory + "/" + f.path, f.text)
        }
    }

    /// The Skiff guest package (Guest/Package.swift) of the runtime this `skiff` uses, as an absolute path.
    static func skiffPackagePath() throws(BuildError) -> String {
        let root = try SourceTree.locate()
        let guest = (FileSystem.realPath(root) ?? root) + "/Guest"
        guard FileSystem.kind(guest + "/Package.swift") == .file else {
            throw BuildError("\(guest)/Package.swift missing: the runtime is incomplete (reinstall)")
        }
        return guest
    }
}

/// Entry point of `skiff init`: 0, or 1 with one `skiff init: ...` line.
public func skiffInitMain(_ args: [String]) -> Int32 {
    do throws(BuildError) {
        let o = try ProjectInit.parse(args)
        try ProjectInit.create(o, in: o.name, skiffPackage: try ProjectInit.skiffPackagePath())
        printOut("skiff init: created \(o.name)/ (\(o.platform.arch) \(o.platform.name)): cd \(o.name) && skiff build && skiff run \(o.name)\(o.platform.outputSuffix)")
        return 0
    } catch {
        if error.message == "help" { printOut(ProjectInit.usage); return 0 }
        printError("skiff init: " + error.message)
        if error.message.hasPrefix("missing") || error.message.hasPrefix("unknown") || error.message.hasPrefix("more than") {
            printError(ProjectInit.usage)
        }
        return 1
    }
}
