// GuestMemory+Debugger.swift: a debugger's reads and writes of guest memory, through GuestMemory's checked accessors and host protections.

import SkiffCore

extension GuestMemory {
    /// Up to `count` bytes at `address` for a debugger: the part of the range inside the
    /// allocation (gdb accepts a short read at the end of memory); `.memory` when `address`
    /// itself is outside, or when the host made the range unreadable.
    public func debuggerRead(at address: UInt64, count: Int) throws(GDBTargetError) -> [UInt8] {
        guard count >= 0, address < allocationSize else { throw .memory }
        let n = Int(min(UInt64(count), allocationSize - address))
        guard hostAllows(GuestAddress(address), UInt64(n), write: false) else { throw .memory }
        do throws(GuestAccessError) { return try read(at: GuestAddress(address), count: n) } catch { throw .memory }
    }

    /// Writes `bytes` at `address` for a debugger; `.memory` unless the whole range is inside the
    /// allocation and writable on the host (read-only text needs the backend's help: a
    /// hardware breakpoint, or a temporary `protect`).
    public func debuggerWrite(_ bytes: [UInt8], at address: UInt64) throws(GDBTargetError) {
        guard hostAllows(GuestAddress(address), UInt64(bytes.count), write: true) else { throw .memory }
        do throws(GuestAccessError) { try write(bytes, at: GuestAddress(address)) } catch { throw .memory }
    }
}
