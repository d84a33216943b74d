// Hypercall.swift: hypercall numbers, the handler table, and the faults a handler may raise.

import CSkiffABI

/// hvt hypercall numbers (spec §8), plus Skiff's extension.
public enum Hypercall: UInt32, CaseIterable, Sendable {
    case walltime = 1, puts = 2, poll = 3, blockWrite = 4, blockRead = 5, netWrite = 6, netRead = 7, halt = 8
    /// Skiff extension (docs/block-ring.md): serve a guest's block ring. Only
    /// decoded when offered (a block device is attached).
    case skiffBlockRing = 9
    /// `HVT_HYPERCALL_MAX`: numbers below it are hvt hypercalls.
    public static let limit: UInt32 = 9
    /// Table size: hvt numbers and Skiff's extensions.
    public static let tableSize: UInt32 = 16
}

/// A hypercall that breaks the ABI: the run ends with exit status 1.
public enum HypercallFault: Error, Equatable, Sendable {
    /// A guest-supplied range failed the bounds check. `site` names the check, like upstream's `file:line`.
    case invalidAccess(GuestAccessError, site: String)
    /// A host I/O failure while serving the call.
    case hostIO(String)
    /// A shared structure (a ring) in a state the ABI does not allow.
    case invalidState(String)

    public var message: String {
        switch self {
        case .invalidAccess(let e, let site): return "\(site): \(e.message)"
        case .hostIO(let s): return s
        case .invalidState(let s): return s
        }
    }
}

extension GuestAccessError {
    /// Wraps a bounds-check failure with the source location of the check.
    @inlinable public func fault(_ file: StaticString = #fileID, _ line: UInt = #line) -> HypercallFault {
        .invalidAccess(self, site: "\(file):\(line)")
    }
}

/// Serves one hypercall. `argument` is the guest address of the argument block.
public typealias HypercallHandler = (_ argument: GuestAddress) throws(HypercallFault) -> Void

/// Hypercall number → handler. Numbers with no handler are invalid (fatal).
public struct HypercallTable {
    public struct DuplicateHandler: Error { public let number: Hypercall }
    private var handlers: [HypercallHandler?] = Array(repeating: nil, count: Int(Hypercall.tableSize))

    public init() {}

    /// Registers `handler` for `number`; registering a number twice is a programming error reported as a throw.
    public mutating func register(_ number: Hypercall, _ handler: @escaping HypercallHandler) throws(DuplicateHandler) {
        guard handlers[Int(number.rawValue)] == nil else { throw DuplicateHandler(number: number) }
        handlers[Int(number.rawValue)] = handler
    }

    public func handler(for number: UInt32) -> HypercallHandler? {
        number < Hypercall.tableSize ? handlers[Int(number)] : nil
    }

    public func isRegistered(_ number: Hypercall) -> Bool { handlers[Int(number.rawValue)] != nil }
}

/// The value `ret` fields carry (`solo5_result_t`).
public enum HypercallResult: Int32, Sendable {
    case ok = 0, again = 1, invalid = 2, unspecified = 3
}

extension GuestMemory {
    /// Copies a hypercall's argument block out of guest memory once; the
    /// handler then checks and uses the copy only.
    @inlinable
    public func argument<T: BitwiseCopyable>(_: T.Type, at gpa: GuestAddress,
                                             _ file: StaticString = #fileID, _ line: UInt = #line) throws(HypercallFault) -> T {
        do throws(GuestAccessError) { return try load(T.self, at: gpa) } catch { throw error.fault(file, line) }
    }

    /// Writes an OUT field of a hypercall's argument block.
    @inlinable
    public func result<T: BitwiseCopyable>(_ value: T, at gpa: GuestAddress, offset: Int,
                                           _ file: StaticString = #fileID, _ line: UInt = #line) throws(HypercallFault) {
        do throws(GuestAccessError) { try store(value, at: gpa, offset: offset) } catch { throw error.fault(file, line) }
    }

    /// Checks a guest-supplied buffer `[gpa, gpa + count)`; a failed check is a fault naming the caller.
    @inlinable
    public func checkBuffer(_ gpa: GuestAddress, count: UInt64,
                            _ file: StaticString = #fileID, _ line: UInt = #line) throws(HypercallFault) {
        do throws(GuestAccessError) { try check(gpa, count) } catch { throw error.fault(file, line) }
    }
}
