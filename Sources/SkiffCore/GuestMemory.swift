// GuestMemory.swift: the single owner of guest RAM; every access is bounds- and overflow-checked.
//
// This is one of the few files allowed raw pointers (with the KVM backend and
// the C shim). Everything else reads and writes guest memory through the typed,
// checked methods here.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A guest access that failed the bounds check: `[address, address + count)`
/// is not inside the guest-usable memory.
public struct GuestAccessError: Error, Equatable, Sendable {
    public let address: GuestAddress
    public let count: UInt64
    @inlinable public init(address: GuestAddress, count: UInt64) { self.address = address; self.count = count }
    public var message: String { "Invalid guest access: gpa=\(address), sz=\(count)" }
}

/// Guest RAM: one anonymous mapping at guest physical address 0.
///
/// Two sizes matter. `allocationSize` is what is mapped into the VM (it
/// includes the network ring, if any). `usableSize` is what the guest may name
/// in hypercall arguments: the hvt ABI excludes the ring area from it
/// (spec §5.2). Checked accesses use `usableSize`; the loader and the
/// monitor's own set-up use `withAllocation`.
public final class GuestMemory: @unchecked Sendable {
    // SAFETY: `base` is a private MAP_SHARED|MAP_ANONYMOUS mapping of
    // `allocationSize` bytes owned by this object and unmapped in deinit; no
    // pointer into it escapes except to the hypervisor (KVM memslot), whose
    // lifetime is bounded by the VM that holds this object.
    @usableFromInline let base: UnsafeMutableRawPointer
    public let allocationSize: UInt64
    public private(set) var usableSize: UInt64

    public enum AllocationError: Error, Sendable { case mmapFailed(Int32) }

    /// Maps `size` bytes of zero-filled memory, readable and writable, never executable on the host.
    public init(size: UInt64) throws(AllocationError) {
        let p = mmap(nil, Int(size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let p, p != MAP_FAILED else { throw .mmapFailed(errno) }
        base = p
        allocationSize = size
        usableSize = size
    }

    deinit { munmap(base, Int(allocationSize)) }

    /// Shrinks the guest-usable part (the top is carved out for the net ring).
    public func reserveTop(_ bytes: UInt64) {
        precondition(bytes <= usableSize)
        usableSize -= bytes
    }

    /// Host address of the mapping, for registering it with the hypervisor only.
    public var hostAddressForHypervisor: UInt { UInt(bitPattern: base) }

    // MARK: Checks

    /// The hvt bounds check (spec §8): `gpa < usable`, no overflow, and
    /// `gpa + count < usable` (strict, as upstream: a buffer may not end on the last byte).
    @inlinable
    public func check(_ gpa: GuestAddress, _ count: UInt64) throws(GuestAccessError) {
        let (end, overflow) = gpa.rawValue.addingReportingOverflow(count)
        guard gpa.rawValue < usableSize, !overflow, end < usableSize else {
            throw GuestAccessError(address: gpa, count: count)
        }
    }

    /// Check against the whole allocation, inclusive end (for the monitor's own set-up).
    @inlinable
    public func checkAllocation(_ gpa: GuestAddress, _ count: UInt64) throws(GuestAccessError) {
        let (end, overflow) = gpa.rawValue.addingReportingOverflow(count)
        guard !overflow, end <= allocationSize else { throw GuestAccessError(address: gpa, count: count) }
    }

    // MARK: Typed access (guest-usable range)

    /// Copies a value of trivial type `T` out of guest memory.
    public func load<T: BitwiseCopyable>(_: T.Type, at gpa: GuestAddress) throws(GuestAccessError) -> T {
        try check(gpa, UInt64(MemoryLayout<T>.size))
        return (base + Int(gpa.rawValue)).loadUnaligned(as: T.self)
    }

    /// Copies a value of trivial type `T` into guest memory.
    public func store<T: BitwiseCopyable>(_ value: T, at gpa: GuestAddress) throws(GuestAccessError) {
        try check(gpa, UInt64(MemoryLayout<T>.size))
        (base + Int(gpa.rawValue)).storeBytes(of: value, as: T.self)
    }

    /// Stores `value` at `offset` bytes into an argument block already checked by `load`.
    public func store<T: BitwiseCopyable>(_ value: T, at gpa: GuestAddress, offset: Int) throws(GuestAccessError) {
        try store(value, at: GuestAddress(gpa.rawValue &+ UInt64(offset)))
    }

    /// Gives `body` a view of `[gpa, gpa + count)` after the bounds check. The
    /// buffer must not escape `body`.
    public func withBytes<R, E: Error>(
        at gpa: GuestAddress, count: UInt64,
        _ body: (UnsafeRawBufferPointer) throws(E) -> R
    ) throws(GuestMemoryAccessError<E>) -> R {
        do { try check(gpa, count) } catch { throw .access(error) }
        do { return try body(UnsafeRawBufferPointer(start: base + Int(gpa.rawValue), count: Int(count))) }
        catch { throw .body(error) }
    }

    /// Mutable variant of `withBytes`.
    public func withMutableBytes<R, E: Error>(
        at gpa: GuestAddress, count: UInt64,
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(GuestMemoryAccessError<E>) -> R {
        do { try check(gpa, count) } catch { throw .access(error) }
        do { return try body(UnsafeMutableRawBufferPointer(start: base + Int(gpa.rawValue), count: Int(count))) }
        catch { throw .body(error) }
    }

    // MARK: Monitor set-up (whole allocation)

    /// Copies bytes into guest memory during set-up (loader, boot info, page tables).
    public func write(_ bytes: UnsafeRawBufferPointer, at gpa: GuestAddress) throws(GuestAccessError) {
        try checkAllocation(gpa, UInt64(bytes.count))
        if bytes.count > 0 { (base + Int(gpa.rawValue)).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
    }

    public func write(_ bytes: ArraySlice<UInt8>, at gpa: GuestAddress) throws(GuestAccessError) {
        try checkAllocation(gpa, UInt64(bytes.count))
        bytes.withUnsafeBytes { b in
            if b.count > 0 { (base + Int(gpa.rawValue)).copyMemory(from: b.baseAddress!, byteCount: b.count) }
        }
    }

    public func write(_ bytes: [UInt8], at gpa: GuestAddress) throws(GuestAccessError) {
        try checkAllocation(gpa, UInt64(bytes.count))
        bytes.withUnsafeBytes { b in
            if b.count > 0 { (base + Int(gpa.rawValue)).copyMemory(from: b.baseAddress!, byteCount: b.count) }
        }
    }

    /// Zero-fills `[gpa, gpa + count)` during set-up.
    public func zero(at gpa: GuestAddress, count: UInt64) throws(GuestAccessError) {
        try checkAllocation(gpa, count)
        if count > 0 { memset(base + Int(gpa.rawValue), 0, Int(count)) }
    }

    /// Reads bytes from anywhere in the allocation (tests, ring set-up).
    public func read(at gpa: GuestAddress, count: Int) throws(GuestAccessError) -> [UInt8] {
        try checkAllocation(gpa, UInt64(count))
        return Array(UnsafeRawBufferPointer(start: base + Int(gpa.rawValue), count: count))
    }

    /// Changes host protection of a page-aligned range (read-only text, spec §2.4).
    public func protect(at gpa: GuestAddress, count: UInt64, writable: Bool, readable: Bool) -> Bool {
        guard (try? checkAllocation(gpa, count)) != nil else { return false }
        let prot = (readable ? PROT_READ : 0) | (writable ? PROT_WRITE : 0)
        return mprotect(base + Int(gpa.rawValue), Int(count), prot) == 0
    }

    /// The host view of a range the caller has just checked with `check`.
    @usableFromInline
    func unsafeMutableBuffer(_ gpa: GuestAddress, count: UInt64) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base + Int(gpa.rawValue), count: Int(count))
    }

    /// Host pointer of a checked range, for the ring I/O thread's reads and
    /// writes done with read()/write() system calls. The caller must have
    /// bounds-checked the range with `check`.
    public func unsafeHostPointer(_ gpa: GuestAddress) -> UnsafeMutableRawPointer {
        precondition(gpa.rawValue < allocationSize)
        return base + Int(gpa.rawValue)
    }
}

/// Failure of `GuestMemory.withBytes`: either the bounds check or the body.
public enum GuestMemoryAccessError<E: Error>: Error {
    case access(GuestAccessError)
    case body(E)
}
