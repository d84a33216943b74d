// GuestMemory.swift: the single owner of guest RAM; every access is bounds- and overflow-checked.
//
// One of the few files allowed raw pointers (with SkiffHost's Host.swift and
// the KVM backend's KVMSystem.swift). Everything else reads and writes guest
// memory through the typed, checked methods here: copies in and out, host
// I/O straight between a checked guest range and a file descriptor, and
// atomic 32-bit accesses for rings shared with a running guest. No host
// pointer into guest memory leaves this file except to the hypervisor.

import SkiffHost
import CSkiffLinux

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
    // SAFETY: `base` is a MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE mapping of
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

    /// Which bound an access is checked against.
    public enum Scope: Sendable {
        /// What the guest may name (hypercall arguments and buffers; strict end, spec §8).
        case guest
        /// The whole allocation (the monitor's own structures shared with the guest, e.g. ring slots).
        case allocation
    }

    private func check(_ gpa: GuestAddress, _ count: UInt64, _ scope: Scope) throws(GuestAccessError) {
        switch scope {
        case .guest: try check(gpa, count)
        case .allocation: try checkAllocation(gpa, count)
        }
    }

    /// Copies a value of trivial type `T` out of guest memory (unaligned-safe).
    public func load<T: BitwiseCopyable>(_: T.Type, at gpa: GuestAddress, scope: Scope = .guest) throws(GuestAccessError) -> T {
        try check(gpa, UInt64(MemoryLayout<T>.size), scope)
        // SAFETY: `[gpa, gpa + size)` was checked against `scope` just above.
        return (base + Int(gpa.rawValue)).loadUnaligned(as: T.self)
    }

    /// Copies a value of trivial type `T` into guest memory.
    public func store<T: BitwiseCopyable>(_ value: T, at gpa: GuestAddress, scope: Scope = .guest) throws(GuestAccessError) {
        try check(gpa, UInt64(MemoryLayout<T>.size), scope)
        // SAFETY: `[gpa, gpa + size)` was checked against `scope` just above.
        (base + Int(gpa.rawValue)).storeBytes(of: value, as: T.self)
    }

    /// Stores `value` at `offset` bytes into an argument block already checked by `load`.
    public func store<T: BitwiseCopyable>(_ value: T, at gpa: GuestAddress, offset: Int) throws(GuestAccessError) {
        try store(value, at: GuestAddress(gpa.rawValue &+ UInt64(offset)))
    }

    // MARK: Monitor set-up (whole allocation)

    /// Copies bytes into guest memory during set-up (loader, boot info, page tables).
    // SAFETY: the caller's buffer is only read during the call; the destination is checked first.
    public func write(_ bytes: UnsafeRawBufferPointer, at gpa: GuestAddress) throws(GuestAccessError) {
        try checkAllocation(gpa, UInt64(bytes.count))
        // SAFETY: the range was checked against the mapping on the line(s) above.
        if bytes.count > 0 { (base + Int(gpa.rawValue)).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
    }

    public func write(_ bytes: ArraySlice<UInt8>, at gpa: GuestAddress) throws(GuestAccessError) {
        try checkAllocation(gpa, UInt64(bytes.count))
        // SAFETY: the array's storage is read during the call only; the destination was checked above.
        bytes.withUnsafeBytes { b in
            // SAFETY: the range was checked against the mapping on the line(s) above.
            if b.count > 0 { (base + Int(gpa.rawValue)).copyMemory(from: b.baseAddress!, byteCount: b.count) }
        }
    }

    public func write(_ bytes: [UInt8], at gpa: GuestAddress) throws(GuestAccessError) {
        try checkAllocation(gpa, UInt64(bytes.count))
        // SAFETY: the array's storage is read during the call only; the destination was checked above.
        bytes.withUnsafeBytes { b in
            // SAFETY: the range was checked against the mapping on the line(s) above.
            if b.count > 0 { (base + Int(gpa.rawValue)).copyMemory(from: b.baseAddress!, byteCount: b.count) }
        }
    }

    /// Zero-fills `[gpa, gpa + count)` during set-up.
    public func zero(at gpa: GuestAddress, count: UInt64) throws(GuestAccessError) {
        try checkAllocation(gpa, count)
        // SAFETY: the range was checked against the mapping on the line(s) above.
        if count > 0 { memset(base + Int(gpa.rawValue), 0, Int(count)) }
    }

    /// Reads bytes from anywhere in the allocation (tests, ring set-up).
    public func read(at gpa: GuestAddress, count: Int) throws(GuestAccessError) -> [UInt8] {
        try checkAllocation(gpa, UInt64(count))
        // SAFETY: the range was checked against the mapping on the line(s) above.
        return Array(UnsafeRawBufferPointer(start: base + Int(gpa.rawValue), count: count))
    }

    /// Changes host protection of a page-aligned range (read-only text, spec §2.4).
    public func protect(at gpa: GuestAddress, count: UInt64, writable: Bool, readable: Bool) -> Bool {
        guard (try? checkAllocation(gpa, count)) != nil else { return false }
        let prot = (readable ? PROT_READ : 0) | (writable ? PROT_WRITE : 0)
        // SAFETY: the range was checked against the mapping on the line(s) above.
        guard mprotect(base + Int(gpa.rawValue), Int(count), prot) == 0 else { return false }
        hostProtections.append((gpa.rawValue, gpa.rawValue + count, readable, writable))
        return true
    }

    /// Writes `bytes` at `gpa` (anywhere in the allocation) for a debugger, through the host protections
    /// `protect` set, as ptrace writes a process's read-only text: the pages are made writable for the
    /// copy, then given back the protection they had, and the instruction cache is synchronised (a
    /// software breakpoint must be seen by the next fetch). False if the range is outside the
    /// allocation or a protection cannot be changed (nothing is written then).
    public func writeThroughProtection(_ bytes: [UInt8], at gpa: GuestAddress) -> Bool {
        guard (try? checkAllocation(gpa, UInt64(bytes.count))) != nil else { return false }
        guard !bytes.isEmpty else { return true }
        let start = gpa.rawValue, end = start + UInt64(bytes.count)
        guard hostProtections.contains(where: { $0.start < end && start < $0.end }) else {
            do throws(GuestAccessError) { try write(bytes, at: gpa) } catch { return false }
            // SAFETY: the bytes just written, inside the mapping (checked above).
            cskiff_sync_icache_range(base + Int(start), UInt(bytes.count))
            return true
        }
        let page = UInt64(cskiff_page_size())
        let first = start / page * page
        let last = min((end + page - 1) / page * page, allocationSize)
        // SAFETY: [first, last) lies in the mapping (checked range widened to whole pages, clipped to its end).
        guard mprotect(base + Int(first), Int(last - first), PROT_READ | PROT_WRITE) == 0 else { return false }
        _ = try? write(bytes, at: gpa)
        // SAFETY: the bytes just written, inside the mapping.
        cskiff_sync_icache_range(base + Int(start), UInt(bytes.count))
        // Back to what `protect` set, later calls over earlier ones; pages it never touched stay RW.
        for p in hostProtections where p.start < last && first < p.end {
            let a = max(p.start, first), b = min(p.end, last)
            // SAFETY: [a, b) is inside [first, last), itself inside the mapping.
            _ = mprotect(base + Int(a), Int(b - a), (p.readable ? PROT_READ : 0) | (p.writable ? PROT_WRITE : 0))
        }
        return true
    }

    /// Ranges `protect` restricted: [start, end), readable, writable on the host.
    private var hostProtections: [(start: UInt64, end: UInt64, readable: Bool, writable: Bool)] = []

    /// True if the monitor may read (or, with `write`, write) `[gpa, gpa + count)` of the
    /// allocation without faulting: in the mapping and not made unreadable (read-only) by
    /// `protect`. Core dumps and debuggers check it; the hypercall paths never meet such
    /// ranges in a well-formed guest and fault cleanly (EFAULT) in the others.
    public func hostAllows(_ gpa: GuestAddress, _ count: UInt64, write: Bool) -> Bool {
        guard (try? checkAllocation(gpa, count)) != nil else { return false }
        let start = gpa.rawValue, end = gpa.rawValue + count
        for p in hostProtections where p.start < end && start < p.end {
            if !(write ? p.writable : p.readable) { return false }
        }
        return true
    }

    // MARK: Host I/O on checked guest ranges

    /// One `write(2)` of the guest range `[gpa, gpa + count)` to `fd`: bytes written, or -1 with errno.
    public func write(to fd: Int32, from gpa: GuestAddress, count: UInt64) throws(GuestAccessError) -> Int {
        try check(gpa, count)
        // SAFETY: the range was just checked to lie inside the mapping.
        return cskiff_write(fd, base + Int(gpa.rawValue), UInt(count))
    }

    /// One `read(2)` from `fd` into the guest range: bytes read, or -1 with errno.
    public func read(from fd: Int32, into gpa: GuestAddress, count: UInt64) throws(GuestAccessError) -> Int {
        try check(gpa, count)
        // SAFETY: the range was just checked to lie inside the mapping.
        return cskiff_read(fd, base + Int(gpa.rawValue), UInt(count))
    }

    /// One `pwrite(2)` of the guest range to `fd` at `offset`: bytes written, or -1 with errno.
    /// `scope: .allocation` for the monitor's own copies (core dumps) of any part of the mapping.
    public func pwrite(to fd: Int32, from gpa: GuestAddress, count: UInt64, offset: UInt64,
                       scope: Scope = .guest) throws(GuestAccessError) -> Int {
        try check(gpa, count, scope)
        // SAFETY: the range was just checked to lie inside the mapping.
        return cskiff_pwrite(fd, base + Int(gpa.rawValue), UInt(count), Int(bitPattern: UInt(offset)))
    }

    /// One `pread(2)` from `fd` at `offset` into the guest range: bytes read, or -1 with errno.
    public func pread(from fd: Int32, into gpa: GuestAddress, count: UInt64, offset: UInt64) throws(GuestAccessError) -> Int {
        try check(gpa, count)
        // SAFETY: the range was just checked to lie inside the mapping.
        return cskiff_pread(fd, base + Int(gpa.rawValue), UInt(count), Int(bitPattern: UInt(offset)))
    }

    /// True if `[gpa, gpa + count)` of the allocation holds only zero bytes (a core dump skips
    /// such pages, leaving holes in the file: untouched guest memory costs no disk).
    public func isZero(at gpa: GuestAddress, count: UInt64) throws(GuestAccessError) -> Bool {
        try checkAllocation(gpa, count)
        // SAFETY: the range was checked against the mapping on the line above; only read.
        return cskiff_is_zero(base + Int(gpa.rawValue), UInt(count)) != 0
    }

    // MARK: Rings shared with a running guest (whole allocation)

    /// Checks that `[gpa, gpa + count)` lies in the allocation and is 4-byte aligned, for the atomics below.
    public func checkShared(_ gpa: GuestAddress, _ count: UInt64) throws(GuestAccessError) {
        try checkAllocation(gpa, count)
        guard gpa.rawValue & 3 == 0 else { throw GuestAccessError(address: gpa, count: count) }
    }

    /// Load-acquire of a 32-bit word the guest may be writing. `gpa` must lie in a range passed to `checkShared`.
    @inline(__always)
    public func loadAcquire32(_ gpa: GuestAddress) -> UInt32 {
        precondition(gpa.rawValue &+ 4 <= allocationSize)
        // SAFETY: in bounds (precondition) and aligned (checkShared).
        return cskiff_load_acquire_u32(base + Int(gpa.rawValue))
    }

    /// Store-release of a 32-bit word the guest may be reading. `gpa` must lie in a range passed to `checkShared`.
    @inline(__always)
    public func storeRelease32(_ gpa: GuestAddress, _ value: UInt32) {
        precondition(gpa.rawValue &+ 4 <= allocationSize)
        // SAFETY: in bounds (precondition) and aligned (checkShared).
        cskiff_store_release_u32(base + Int(gpa.rawValue), value)
    }
}
