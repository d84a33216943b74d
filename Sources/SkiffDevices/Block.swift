// Block.swift: file-backed block devices and the BLOCK_READ/BLOCK_WRITE hypercalls (spec §9.4, §10.1).

import Glibc
import CSkiffABI
import SkiffCore

/// An opened backing file for one manifest block device.
public final class BlockBackend {
    public let name: String
    public let path: String
    public let fd: Int32
    public let capacity: UInt64
    public let blockSize: UInt64

    /// Opens `path` read-write and checks its size against `blockSize`.
    public init(name: String, path: String, blockSize: UInt64) throws(DeviceError) {
        self.name = name
        self.path = path
        self.blockSize = blockSize
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpenBlock(path: path, error: String(cString: strerror(errno))) }
        var st = stat()
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            close(fd); throw .cannotOpenBlock(path: path, error: "Is a directory")
        }
        let end = lseek(fd, 0, SEEK_END)
        guard end >= 0 else { close(fd); throw .blockCapacity(path) }
        self.fd = fd
        capacity = UInt64(end)
        guard capacity % blockSize == 0 else { close(fd); throw .notBlockAligned(name: name, blockSize: blockSize) }
        guard capacity >= blockSize else { close(fd); throw .tooSmall(name: name, blockSize: blockSize) }
    }

    deinit { close(fd) }

    /// Makes every acknowledged write durable in the file (called on every way out of a run).
    public func flush() { _ = fdatasync(fd) }

    /// Moves all of `buffer` to or from the file at `offset` (pwrite/pread,
    /// retried on EINTR and short transfers); a host error or end of file is fatal.
    func transfer(write isWrite: Bool, _ buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(HypercallFault) {
        var done = 0
        while done < buffer.count {
            let n = isWrite
                ? pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
                : pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                throw .hostIO("Fatal error when \(isWrite ? "writing" : "reading"): \(String(cString: strerror(errno)))")
            }
            if n == 0 {
                throw .hostIO("Fatal error: \(isWrite ? "wrote" : "read") only \(done) out of \(buffer.count) bytes")
            }
            done += n
        }
    }
}

/// Registers BLOCK_WRITE and BLOCK_READ over `devices[handle]`.
public func registerBlockHypercalls(_ table: inout HypercallTable, memory: GuestMemory, devices: [BlockBackend?]) {
    func serve(_ arg: GuestAddress, write isWrite: Bool) throws(HypercallFault) {
        let req = try memory.argument(hvt_hc_block.self, at: arg)
        let h = Int(UInt32(truncatingIfNeeded: req.handle))
        var result = HypercallResult.invalid
        if h < devices.count, let dev = devices[h], req.len <= UInt64(Int.max), req.offset < dev.capacity {
            let (end, o) = req.offset.addingReportingOverflow(req.len)
            if !o, end <= dev.capacity {
                try memory.withGuestBuffer(GuestAddress(req.data), count: req.len) { (b) throws(HypercallFault) in
                    try dev.transfer(write: isWrite, b, at: req.offset)
                }
                result = .ok
            }
        }
        try memory.result(result.rawValue, at: arg, offset: 32)
    }
    try! table.register(.blockWrite) { (arg) throws(HypercallFault) in try serve(arg, write: true) }
    try! table.register(.blockRead) { (arg) throws(HypercallFault) in try serve(arg, write: false) }
}
