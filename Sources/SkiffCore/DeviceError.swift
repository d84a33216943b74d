// Errors.swift: configuration errors of device attachment (bad files, taps, names), one line each.



public enum DeviceError: Error, Equatable, Sendable {
    case notDeclared(String)
    case duplicate(String)
    case cannotOpenBlock(path: String, error: String)
    case blockCapacity(String)
    case notBlockAligned(name: String, blockSize: UInt64)
    case tooSmall(name: String, blockSize: UInt64)
    case cannotAttachNet(iface: String, error: String)
    case notAttached([(String, String)])
    /// A directory a module writes into (`--dumpcore=DIR`) cannot be used.
    case unusableDirectory(option: String, path: String, error: String)
    /// A socket a module serves on (`--gdb`) cannot be opened.
    case cannotListen(option: String, address: String, error: String)

    public static func == (a: DeviceError, b: DeviceError) -> Bool { a.message == b.message }

    public var message: String {
        switch self {
        case .notDeclared(let n): return "Resource not declared in manifest: '\(n)'"
        case .duplicate(let n): return "Resource given more than once: '\(n)'"
        case .cannotOpenBlock(let p, let e): return "Could not open block device: \(p): \(e)"
        case .blockCapacity(let p): return "\(p): Could not determine capacity"
        case .notBlockAligned(let n, let bs): return "\(n): Backing storage size must be block aligned (\(bs) bytes)"
        case .tooSmall(let n, let bs): return "\(n): Backing storage must be at least 1 block (\(bs) bytes) in size"
        case .cannotAttachNet(let i, let e): return "Could not attach interface: \(i): \(e)"
        case .unusableDirectory(let o, let p, let e): return "\(o): cannot write to directory: \(p): \(e)"
        case .cannotListen(let o, let a, let e): return "\(o): cannot listen on \(a): \(e)"
        case .notAttached(let list):
            return list.map { "Device '\($0.0)' of type \($0.1) declared but not attached." }.joined(separator: "\n")
                + "\nAll declared devices must be attached. See --help for syntax."
        }
    }
}
