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

/// Where the guest runtime sources are: a directory holding `Guest/x86_64`
/// (and `Sources/CSkiffABI/include/hvt_abi.h`). `SKIFF_RUNTIME_DIR` wins;
/// otherwise walk up from the running executable's directory
/// (`.build/debug/skiff` → the repository).
struct RuntimeSources {
    var root: String

    static let environmentVariable = "SKIFF_RUNTIME_DIR"

    static func find() throws(BuildError) -> RuntimeSources {
        if let dir = FileSystem.environment(environmentVariable) {
            guard FileSystem.kind(dir + "/Guest/x86_64") == .directory else {
                throw BuildError("\(environmentVariable)=\(dir) has no Guest/x86_64 directory")
            }
            return RuntimeSources(root: dir)
        }
        guard let exe = FileSystem.executablePath() else {
            throw BuildError("cannot read /proc/self/exe to find the runtime (set \(environmentVariable))")
        }
        var dir = FileSystem.dirname(exe)
        while true {
            if FileSystem.kind(dir + "/Guest/x86_64") == .directory { return RuntimeSources(root: dir) }
            if dir == "/" || dir.isEmpty { break }
            dir = FileSystem.dirname(dir)
        }
        throw BuildError("runtime sources (Guest/x86_64) not found above \(FileSystem.dirname(exe)); set \(environmentVariable)")
    }

    var guest: String { root + "/Guest" }
    var platformDirectory: String { guest + "/x86_64" }
    var includeDirectory: String { guest + "/include" }
    var abiIncludeDirectory: String { root + "/Sources/CSkiffABI/include" }
    var linkerScript: String { platformDirectory + "/skiff.ld" }
    var startAssembly: String { platformDirectory + "/start.S" }

    func cSources() throws(BuildError) -> [String] {
        try FileSystem.list(guest + "/rt").filter { $0.hasSuffix(".c") }.map { guest + "/rt/" + $0 }
    }

    func swiftSources() throws(BuildError) -> [String] {
        try FileSystem.list(guest + "/Skiff").filter { $0.hasSuffix(".swift") }.map { guest + "/Skiff/" + $0 }
    }

    /// Object file name for a runtime C source (`heap.c` → `rt-heap.o`).
    static func objectName(_ source: String) -> String {
        var base = FileSystem.basename(source)
        if base.hasSuffix(".c") { base.removeLast(2) }
        return "rt-" + base + ".o"
    }

    /// The runtime's object files, in link order (start.o first).
    func objectNames() throws(BuildError) -> [String] {
        ["start.o"] + (try cSources()).map(RuntimeSources.objectName) + ["Skiff.o"]
    }

    /// Every file the runtime objects are built from.
    func inputFiles() throws(BuildError) -> [String] {
        var files = try swiftSources() + (try cSources())
        for dir in [guest + "/rt", includeDirectory, platformDirectory] {
            files += try FileSystem.list(dir).filter { $0.hasSuffix(".h") || $0.hasSuffix(".S")
                || $0.hasSuffix(".ld") || $0.hasSuffix(".modulemap") }.map { dir + "/" + $0 }
        }
        files.append(abiIncludeDirectory + "/hvt_abi.h")
        return files.sorted()
    }

    func check() throws(BuildError) {
        for p in [linkerScript, startAssembly, abiIncludeDirectory + "/hvt_abi.h", includeDirectory + "/module.modulemap"]
        where FileSystem.kind(p) != .file {
            throw BuildError("runtime file missing: \(p)")
        }
    }
}
