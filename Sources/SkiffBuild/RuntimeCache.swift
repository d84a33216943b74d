// RuntimeCache.swift: reuse the compiled guest runtime (Skiff module, C and assembly runtime) across builds, per platform row.

import SkiffCore

/// A directory of runtime objects keyed by the platform row and a hash of
/// everything they are built from: the row, the runtime sources, the
/// runtime's location, the compiler binaries and the flags. Location: `$SKIFF_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/skiff`, else `$HOME/.cache/skiff`; `SKIFF_CACHE_DIR=off`
/// disables it. Entries are built in the build's scratch directory and
/// renamed into place, so concurrent builds never see half an entry; a cache
/// that cannot be written just means building without it.
struct RuntimeCache {
    let directory: String
    let hit: Bool

    init?(platform: Platform, key: String) {
        guard let root = RuntimeCache.root() else { return nil }
        directory = root + "/runtime-\(platform.name)-\(platform.arch)-" + key
        hit = FileSystem.kind(directory + "/Skiff.swiftmodule") == .file
    }

    static func root() -> String? {
        if let d = FileSystem.environment("SKIFF_CACHE_DIR") { return d == "off" ? nil : d }
        if let x = FileSystem.environment("XDG_CACHE_HOME") { return x + "/skiff" }
        if let h = FileSystem.environment("HOME") { return h + "/.cache/skiff" }
        return nil
    }

    /// Moves a freshly built runtime directory into the cache; returns the
    /// cached path, or nil (keep using `built`) if the cache is not writable.
    func store(_ built: String) -> String? {
        let parent = FileSystem.dirname(directory)
        guard makeDirectories(parent) else { return nil }
        if rename(built, directory) == 0 { return directory }
        // Another build stored the same entry first: use theirs.
        return FileSystem.kind(directory + "/Skiff.swiftmodule") == .file ? directory : nil
    }

    func makeDirectories(_ path: String) -> Bool {
        if FileSystem.kind(path) == .directory { return true }
        guard path != "/" && !path.isEmpty, makeDirectories(FileSystem.dirname(path)) else { return false }
        return mkdir(path, 0o755) == 0 || errno == EEXIST
    }

    /// FNV-1a (64-bit) over the inputs; a cache key, not a security boundary.
    static func key(runtime: RuntimeSources, tools: Toolchain, flags: [String]) throws(BuildError) -> String {
        var h = FNV1a()
        let p = runtime.platform
        for field in [p.name, p.arch, p.triple, p.linkerScript, "\(p.postLink)"] + p.runtimeDirectories + p.cFlags {
            h.add(field)
        }
        h.add(runtime.root)
        for f in try runtime.inputFiles() {
            h.add(f)
            h.add(try FileSystem.readFile(f))
        }
        for tool in [tools.swiftc, tools.clang] {
            let real = FileSystem.realPath(tool) ?? tool
            h.add(real)
            var st = stat()
            if stat(real, &st) == 0 {
                h.add(String(st.st_size) + ":" + String(st.st_mtim.tv_sec))
            }
        }
        for f in flags { h.add(f) }
        return String(h.value, radix: 16)
    }
}

struct FNV1a {
    var value: UInt64 = 0xcbf2_9ce4_8422_2325

    /// Mixes in `bytes` and a terminator, so ("ab","c") and ("a","bc") differ.
    mutating func add(_ bytes: [UInt8]) {
        for b in bytes + [0xff] {
            value ^= UInt64(b)
            value &*= 0x0000_0100_0000_01b3
        }
    }

    mutating func add(_ s: String) { add(Array(s.utf8)) }
}
