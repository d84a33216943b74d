// Tar.swift: a ustar archive writer (regular files and directories) for OCI image layers and archives.

public struct TarWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// Adds a directory `path` (no trailing slash needed).
    public mutating func addDirectory(_ path: String, mode: Int = 0o755) {
        header(path.hasSuffix("/") ? path : path + "/", size: 0, mode: mode, type: UInt8(ascii: "5"))
    }

    /// Adds a regular file.
    public mutating func addFile(_ path: String, _ data: [UInt8], mode: Int = 0o644) {
        header(path, size: data.count, mode: mode, type: UInt8(ascii: "0"))
        bytes += data
        pad()
    }

    /// The archive with its two zero end blocks.
    public func finished() -> [UInt8] { bytes + [UInt8](repeating: 0, count: 1024) }

    mutating func pad() {
        let r = bytes.count % 512
        if r != 0 { bytes += [UInt8](repeating: 0, count: 512 - r) }
    }

    /// Names up to 100 bytes fit in `name`; longer ones (up to 255) are split into ustar's prefix and name at a slash.
    static func splitName(_ path: String) -> (prefix: [UInt8], name: [UInt8])? {
        let p = Array(path.utf8)
        if p.count <= 100 { return ([], p) }
        for i in stride(from: min(p.count - 1, 155), through: 1, by: -1) where p[i] == UInt8(ascii: "/") {
            if p.count - i - 1 <= 100 { return (Array(p[0..<i]), Array(p[(i + 1)...])) }
        }
        return nil
    }

    mutating func header(_ path: String, size: Int, mode: Int, type: UInt8) {
        var h = [UInt8](repeating: 0, count: 512)
        // Callers name files with short, fixed names (OCI blobs: 78 bytes); a longer name is truncated into the field.
        let (prefix, name) = TarWriter.splitName(path) ?? ([], Array(path.utf8.prefix(100)))
        func put(_ field: [UInt8], at o: Int) { for (i, b) in field.enumerated() { h[o + i] = b } }
        func octal(_ v: Int, width: Int) -> [UInt8] {   // width-1 digits and a NUL
            var digits: [UInt8] = []
            var x = v
            for _ in 0..<(width - 1) { digits.insert(UInt8(ascii: "0") + UInt8(x & 7), at: 0); x >>= 3 }
            return digits + [0]
        }
        put(name, at: 0)
        put(octal(mode, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)      // uid
        put(octal(0, width: 8), at: 116)      // gid
        put(octal(size, width: 12), at: 124)
        put(octal(0, width: 12), at: 136)     // mtime: 0, so the same inputs give the same digest
        h[156] = type
        put(Array("ustar".utf8) + [0, 0x30, 0x30], at: 257)
        put(prefix, at: 345)
        for i in 148..<156 { h[i] = 0x20 }
        let sum = h.reduce(0) { $0 + Int($1) }
        put(octal(sum, width: 7) + [0x20], at: 148)
        bytes += h
    }
}
