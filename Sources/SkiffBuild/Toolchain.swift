// Toolchain.swift: finding swiftc, clang, ld.lld, the Embedded Swift libraries and the guest runtime sources.

/// The tools `skiff build` drives. swiftc comes from `PATH` (else
/// /opt/swift/usr/bin); clang and ld.lld are taken from the same directory
/// when there (the Swift toolchain's clang knows `x86_64-unknown-none-elf`),
/// else from `PATH`, else /opt/swift/usr/bin.
struct Toolchain {
    var swiftc: String
    var clang: String
    var lld: String
    /// `<toolchain>/lib/swift/embedded/<triple>/libswiftUnicodeDataTables.a`, if present.
    var unicodeTables: String?

    static let fallbackDirectory = "/opt/swift/usr/bin"

    static func find(triple: String) throws(BuildError) -> Toolchain {
        let path = (FileSystem.environment("PATH") ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        func inPath(_ tool: String) -> String? {
            for dir in path where !dir.isEmpty {
                let p = dir + "/" + tool
                if FileSystem.isExecutable(p) { return p }
            }
            return nil
        }
        guard let swiftc = inPath("swiftc") ?? existing(fallbackDirectory + "/swiftc") else {
            throw BuildError("swiftc not found in PATH or \(fallbackDirectory)")
        }
        // swiftc is usually a symlink to swift-driver in the toolchain's bin.
        let binDir = FileSystem.dirname(FileSystem.realPath(swiftc) ?? swiftc)
        func tool(_ name: String) throws(BuildError) -> String {
            if let p = existing(binDir + "/" + name) ?? existing(FileSystem.dirname(swiftc) + "/" + name)
                ?? inPath(name) ?? existing(fallbackDirectory + "/" + name) {
                return p
            }
            throw BuildError("\(name) not found next to \(swiftc), in PATH or in \(fallbackDirectory)")
        }
        let lib = FileSystem.dirname(binDir) + "/lib/swift/embedded/" + triple + "/libswiftUnicodeDataTables.a"
        return Toolchain(swiftc: swiftc, clang: try tool("clang"), lld: try tool("ld.lld"),
                         unicodeTables: FileSystem.kind(lib) == .file ? lib : nil)
    }

    static func existing(_ p: String) -> String? { FileSystem.isExecutable(p) ? p : nil }
}

/// Where the Skiff runtime is (the guest runtime under `Guest/`, the hvt ABI
/// headers under `Sources/CSkiffABI/include`; in a source tree also
/// `scripts/`): `$SKIFF_RUNTIME_DIR` if set; else, for an installed `skiff`
/// (`PREFIX/bin/skiff`, scripts/install), `PREFIX/share/skiff`; else the
/// nearest directory above the running executable that holds `Guest/common`
/// (`.build/debug/skiff` → the repository). The one place that looks:
/// `skiff build`, `skiff init`, `skiff sdk` and `skiff bench` all ask it.
public enum SourceTree {
    public static let environmentVariable = "SKIFF_RUNTIME_DIR"
    /// The directory whose presence marks the source tree.
    static let marker = "Guest/common"

    /// The source tree's root directory, or a one-line error.
    public static func locate() throws(BuildError) -> String {
        if let dir = FileSystem.environment(environmentVariable) {
            guard FileSystem.kind(dir + "/" + marker) == .directory else {
                throw BuildError("\(environmentVariable)=\(dir) has no \(marker) directory")
            }
            return dir
        }
        guard let exe = FileSystem.executablePath() else {
            throw BuildError("cannot read /proc/self/exe to find the runtime (set \(environmentVariable))")
        }
        var dir = FileSystem.dirname(exe)
        if let installed = installedRoot(binDirectory: dir) { return installed }
        while true {
            if FileSystem.kind(dir + "/" + marker) == .directory { return dir }
            if dir == "/" || dir.isEmpty { break }
            dir = FileSystem.dirname(dir)
        }
        throw BuildError("runtime sources (\(marker)) not found in \(FileSystem.dirname(FileSystem.dirname(exe)))/\(installedSubdirectory)"
            + " or above \(FileSystem.dirname(exe)); reinstall (scripts/install) or set \(environmentVariable)")
    }

    /// Where scripts/install puts the runtime, relative to the prefix.
    public static let installedSubdirectory = "share/skiff"

    /// `BIN/../share/skiff` when it holds the runtime (an installed `skiff`).
    static func installedRoot(binDirectory: String) -> String? {
        let root = FileSystem.dirname(binDirectory) + "/" + installedSubdirectory
        return FileSystem.kind(root + "/" + marker) == .directory ? root : nil
    }

    /// True when `root` is a source tree (not an installed runtime).
    public static func isSourceTree(_ root: String) -> Bool {
        FileSystem.kind(root + "/Package.swift") == .file && FileSystem.kind(root + "/Sources/SkiffBuild") == .directory
    }
}

/// The guest runtime of one platform row: which files under `root/Guest`
/// it is built from, and the object names they become.
struct RuntimeSources {
    var root: String
    var platform: Platform

    var guest: String { root + "/Guest" }
    var abiIncludeDirectory: String { root + "/Sources/CSkiffABI/include" }
    /// Guest/include (the `SkiffRuntime` module map and skiff_rt.h).
    var includeDirectory: String { guest + "/include" }
    var linkerScript: String { guest + "/" + platform.linkerScript }
    var directories: [String] { platform.runtimeDirectories.map { guest + "/" + $0 } }

    /// `-I` flags: the public headers, every runtime directory, the ABI.
    var includeFlags: [String] {
        ([includeDirectory] + directories + [abiIncludeDirectory]).flatMap { ["-I", $0] }
    }

    /// The `.c` and `.S` files, in link order.
    func compiledSources() throws(BuildError) -> [String] {
        var files: [String] = []
        for dir in directories {
            files += try FileSystem.list(dir).filter { $0.hasSuffix(".S") }.map { dir + "/" + $0 }
            files += try FileSystem.list(dir).filter { $0.hasSuffix(".c") }.map { dir + "/" + $0 }
        }
        return files
    }

    func swiftSources() throws(BuildError) -> [String] {
        try FileSystem.list(guest + "/Skiff").filter { $0.hasSuffix(".swift") }.map { guest + "/Skiff/" + $0 }
    }

    /// The `SkiffNet` module (the TCP/IP stack, docs/networking.md): its core
    /// (`Guest/Net/Core`, also a host SwiftPM target) and the Skiff glue (`Guest/Net`).
    func netSwiftSources() throws(BuildError) -> [String] {
        var files: [String] = []
        for dir in [guest + "/Net/Core", guest + "/Net"] {
            files += try FileSystem.list(dir).filter { $0.hasSuffix(".swift") }.sorted().map { dir + "/" + $0 }
        }
        return files
    }

    /// Object file name for a runtime source, unique within the runtime
    /// (`Guest/common/heap.c` → `common-heap.o`).
    func objectName(_ source: String) -> String {
        var rel = source.hasPrefix(guest + "/") ? String(source.dropFirst(guest.count + 1)) : FileSystem.basename(source)
        if let dot = rel.lastIndex(of: ".") { rel = String(rel[..<dot]) }
        return rel.split(separator: "/").joined(separator: "-") + ".o"
    }

    /// The runtime's object files, in link order (Skiff.o and SkiffNet.o last; --gc-sections drops
    /// what an application does not use).
    func objectNames() throws(BuildError) -> [String] {
        (try compiledSources()).map(objectName) + ["Skiff.o", "SkiffNet.o"]
    }

    /// Every file the runtime objects are built from.
    func inputFiles() throws(BuildError) -> [String] {
        var files = try swiftSources() + (try netSwiftSources()) + (try compiledSources())
        for dir in [includeDirectory] + directories {
            files += try FileSystem.list(dir).filter { $0.hasSuffix(".h") || $0.hasSuffix(".ld")
                || $0.hasSuffix(".modulemap") }.map { dir + "/" + $0 }
        }
        files += try FileSystem.list(abiIncludeDirectory).filter { $0.hasSuffix(".h") }.map { abiIncludeDirectory + "/" + $0 }
        return files.sorted()
    }

    func check() throws(BuildError) {
        for p in [linkerScript, abiIncludeDirectory + "/hvt_abi.h", includeDirectory + "/module.modulemap"]
        where FileSystem.kind(p) != .file {
            throw BuildError("runtime file missing: \(p)")
        }
        for d in directories where FileSystem.kind(d) != .directory {
            throw BuildError("runtime directory missing: \(d)")
        }
    }
}
