// ImageFile.swift: read a kernel image file and turn read failures into the monitor's image errors.

import SkiffHost

extension FileReadError {
    /// The text after `FILE: ` in the monitor's messages.
    public var reason: String {
        switch self {
        case .system(let e): return errnoString(e)
        case .directory: return "Is a directory"
        case .notRegular: return "not a regular file"
        case .tooLarge(let l): return "file larger than \(l) bytes"
        case .shortRead: return "short read"
        }
    }

    /// As an image error (`Could not open: …`, or for size an invalid header).
    public var imageError: ImageError {
        if case .tooLarge = self { return .invalidHeader(reason) }
        return .cannotOpen(reason)
    }
}

public enum ImageFile {
    /// The largest kernel file read whole.
    public static let sizeLimit = 1 << 30

    /// Reads the whole regular file at `path` (at most `sizeLimit` bytes).
    public static func read(_ path: String) throws(ImageError) -> [UInt8] {
        do { return try Host.readFile(path, limit: sizeLimit) } catch { throw error.imageError }
    }
}
