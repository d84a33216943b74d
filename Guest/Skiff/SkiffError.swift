// SkiffError.swift: the error type of every throwing Skiff API.

/// Why a device operation failed. Embedded Swift has only typed throws, so
/// every throwing Skiff function is `throws(SkiffError)`.
public enum SkiffError: Error, Equatable {
    /// Try again later: no network frame was pending (`SOLO5_R_AGAIN`).
    case again
    /// The request was invalid: bad handle, offset, size or alignment
    /// (`SOLO5_R_EINVAL`).
    case invalid
    /// Any other failure (`SOLO5_R_EUNSPEC`).
    case unspecified
    /// No attached device of that name and type is in the manifest.
    case notFound

    init(result: Int32) {
        switch UInt32(bitPattern: result) {
        case HVTResult.again: self = .again
        case HVTResult.invalid: self = .invalid
        default: self = .unspecified
        }
    }
}

/// `enum hvt_result` values (the C enum imports as a struct in Swift).
enum HVTResult {
    static let ok: UInt32 = 0
    static let again: UInt32 = 1
    static let invalid: UInt32 = 2
    static let unspecified: UInt32 = 3
}
