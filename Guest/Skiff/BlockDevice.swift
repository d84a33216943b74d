// BlockDevice.swift: block devices declared in the manifest (BLOCK_BASIC).

import SkiffRuntime

/// A block device: a manifest entry of type `BLOCK_BASIC`, attached by the
/// monitor with `--block:NAME=PATH`.
///
/// ```swift
/// let disk = try BlockDevice(name: "storage")
/// let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(disk.blockSize), alignment: 16)
/// try disk.read(at: 0, into: buf)
/// ```
public struct BlockDevice {
    /// The device handle: its index in the manifest (1...63).
    public let handle: UInt64
    /// Size of the device in bytes.
    public let capacity: UInt64
    /// Size of one block in bytes (a power of two, at least 512).
    public let blockSize: UInt64

    /// Looks up the attached block device `name` in the boot manifest.
    ///
    /// - Throws: ``SkiffError/notFound`` if no attached `BLOCK_BASIC` device
    ///   has that name.
    public init(name: String) throws(SkiffError) {
        let (handle, entry) = try Platform.device(named: name, type: UInt32(MFT_DEV_BLOCK_BASIC))
        self.handle = handle
        self.capacity = entry.u.block_basic.capacity
        self.blockSize = UInt64(entry.u.block_basic.block_size)
    }

    /// Reads `buffer.count` bytes starting at byte `offset`.
    ///
    /// `offset` must be a multiple of ``blockSize`` and `buffer.count` a
    /// non-zero multiple of it, within ``capacity``; otherwise this throws
    /// ``SkiffError/invalid`` without asking the monitor. The whole request
    /// is one hypercall (`BLOCK_READ`).
    public func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(SkiffError) {
        try check(offset, buffer.count)
        try rawRead(at: offset, into: buffer)
    }

    /// Writes `buffer.count` bytes starting at byte `offset`; the same rules
    /// as ``read(at:into:)-(_,UnsafeMutableRawBufferPointer)`` apply. The corresponding hypercall is
    /// `BLOCK_WRITE`.
    public func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) throws(SkiffError) {
        try check(offset, buffer.count)
        try rawWrite(at: offset, from: buffer)
    }

    /// Reads `buffer.count` bytes at `offset` into an array (same rules as
    /// ``read(at:into:)``; array form because Embedded Swift cannot throw
    /// typed errors out of `withUnsafeMutableBytes`).
    public func read(at offset: UInt64, into buffer: inout [UInt8]) throws(SkiffError) {
        try check(offset, buffer.count)
        let r = buffer.withUnsafeMutableBytes { b in
            skiff_block_read(handle, offset, b.baseAddress, UInt64(b.count))
        }
        if r != 0 { throw SkiffError(result: r) }
    }

    /// Writes all of `buffer` at `offset` (same rules as ``read(at:into:)-(_,[UInt8])``).
    public func write(at offset: UInt64, from buffer: [UInt8]) throws(SkiffError) {
        try check(offset, buffer.count)
        let r = buffer.withUnsafeBytes { b in
            skiff_block_write(handle, offset, b.baseAddress, UInt64(b.count))
        }
        if r != 0 { throw SkiffError(result: r) }
    }

    /// Passes a read request to the monitor unchecked (for conformance
    /// tests: the monitor must reject bad requests itself).
    public func rawRead(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(SkiffError) {
        let r = skiff_block_read(handle, offset, buffer.baseAddress, UInt64(buffer.count))
        if r != 0 { throw SkiffError(result: r) }
    }

    /// Passes a write request to the monitor unchecked.
    public func rawWrite(at offset: UInt64, from buffer: UnsafeRawBufferPointer) throws(SkiffError) {
        let r = skiff_block_write(handle, offset, buffer.baseAddress, UInt64(buffer.count))
        if r != 0 { throw SkiffError(result: r) }
    }

    private func check(_ offset: UInt64, _ count: Int) throws(SkiffError) {
        let size = UInt64(count)
        guard blockSize != 0, count > 0,
              offset % blockSize == 0, size % blockSize == 0,
              offset < capacity, size <= capacity - offset
        else { throw .invalid }
    }
}
