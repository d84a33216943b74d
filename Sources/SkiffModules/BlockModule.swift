// BlockModule.swift: file-backed block devices (`--block:NAME=PATH`) and the BLOCK_READ/BLOCK_WRITE hypercalls (spec §9.4, §10.1).

import CSkiffABI
import CSkiffLinux
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
        guard fd >= 0 else { throw .cannotOpenBlock(path: path, error: errnoString()) }
        var st = stat()
        if fstat(fd, &st) == 0, cskiff_is_directory(UInt32(st.st_mode)) != 0 {
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

    /// Makes every acknowledged write durable in the file (called on every way out of a run);
    /// nil, or the failure (retried on EINTR).
    @discardableResult
    public func flush() -> HypercallFault? {
        while fdatasync(fd) != 0 {
            if errno == EINTR { continue }
            return .hostIO("Fatal error when flushing block device '\(name)': \(errnoString())")
        }
        return nil
    }

    /// Moves `count` bytes between guest memory at `gpa` and the file at `offset` (pwrite/pread,
    /// retried on EINTR and short transfers); a bad guest range, a host error or end of file is fatal.
    func transfer(write isWrite: Bool, memory: GuestMemory, _ gpa: GuestAddress, count: UInt64, at offset: UInt64,
                  _ file: StaticString = #fileID, _ line: UInt = #line) throws(HypercallFault) {
        try memory.checkBuffer(gpa, count: count, file, line)
        var done: UInt64 = 0
        while done < count {
            let n: Int
            do throws(GuestAccessError) {
                n = isWrite
                    ? try memory.pwrite(to: fd, from: GuestAddress(gpa.rawValue + done), count: count - done, offset: offset + done)
                    : try memory.pread(from: fd, into: GuestAddress(gpa.rawValue + done), count: count - done, offset: offset + done)
            } catch { throw error.fault(file, line) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                throw .hostIO("Fatal error when \(isWrite ? "writing" : "reading"): \(errnoString())")
            }
            if n == 0 {
                throw .hostIO("Fatal error: \(isWrite ? "wrote" : "read") only \(done) out of \(count) bytes")
            }
            done += UInt64(n)
        }
    }
}

/// Block devices: `--block:NAME=PATH`, `--block-sector-size:NAME=N`; BLOCK_WRITE/BLOCK_READ and the block ring.
public final class BlockModule: MonitorModule {
    public static let descriptor = ModuleDescriptor(
        name: "block",
        usage: """
              --block:NAME=PATH            attach file PATH as block device NAME
              --block-sector-size:NAME=N   block size of NAME: a power of two, 512 to 32768 (default 512)
            """,
        deviceRules: [
            DeviceOptionRule(type: .blockBasic, attaches: true) { $0.blocks },
            DeviceOptionRule(type: .blockBasic, attaches: false) { $0.blockSectorSizes },
        ],
        parseOption: { (a, o) throws(OptionError) in
            if let nv = RunOptions.named(a, "--block:") {
                o.blocks.append(nv)
            } else if let nv = RunOptions.named(a, "--block-sector-size:") {
                guard let n = UInt64(nv.value), n >= 512, n <= 32768, n & (n - 1) == 0 else { throw .badSectorSize(a) }
                o.blockSectorSizes.append(nv)
            } else {
                return false
            }
            return true
        },
        make: { (setup) throws(DeviceError) in try BlockModule(setup: setup) })

    /// The devices by manifest handle.
    public let devices: [BlockBackend?]

    /// Opens every `--block` file and attaches it to the manifest copy; nil when none is given.
    init?(setup: ModuleSetup) throws(DeviceError) {
        let o = setup.options
        guard !o.blocks.isEmpty else { return nil }
        var devices = [BlockBackend?](repeating: nil, count: setup.manifest.entries.count)
        for nv in o.blocks {
            let h = setup.manifest.handle(named: nv.name)!
            let bs = o.blockSectorSizes.last { $0.name == nv.name }.flatMap { UInt64($0.value) } ?? 512
            let dev = try BlockBackend(name: nv.name, path: nv.value, blockSize: bs)
            devices[h] = dev
            setup.manifest.entries[h].attachBlock(capacity: dev.capacity, blockSize: UInt16(bs), hostFD: dev.fd)
        }
        self.devices = devices
    }

    public var syscalls: [Int] { [Int(SYS_pread64), Int(SYS_pwrite64), Int(SYS_fdatasync), Int(SYS_fsync)] }

    public func attach(table: inout HypercallTable, host: any ModuleHost, setup: ModuleSetup) -> ModuleAttachment {
        Self.registerHypercalls(&table, memory: host.memory, devices: devices)
        registerBlockRingHypercall(&table, memory: host.memory, devices: devices, stopRequested: { host.stopRequested })
        var a = ModuleAttachment()
        a.hostFeatures = SKIFF_FEATURE_BLOCK_RING
        a.hypercallLimit = Hypercall.skiffBlockRing.rawValue + 1
        return a
    }

    /// Flushes every device (all of them, even after one fails); the first failure.
    public func finish() -> HypercallFault? {
        var first: HypercallFault? = nil
        for b in devices { if let f = b?.flush(), first == nil { first = f } }
        return first
    }

    /// Registers BLOCK_WRITE and BLOCK_READ over `devices[handle]`.
    public static func registerHypercalls(_ table: inout HypercallTable, memory: GuestMemory, devices: [BlockBackend?]) {
        func serve(_ arg: GuestAddress, write isWrite: Bool) throws(HypercallFault) {
            let req = try memory.argument(hvt_hc_block.self, at: arg)
            let h = Int(UInt32(truncatingIfNeeded: req.handle))
            var result = HypercallResult.invalid
            if h < devices.count, let dev = devices[h], req.len <= UInt64(Int.max), req.offset < dev.capacity {
                let (end, o) = req.offset.addingReportingOverflow(req.len)
                if !o, end <= dev.capacity {
                    try dev.transfer(write: isWrite, memory: memory, GuestAddress(req.data), count: req.len, at: req.offset)
                    result = .ok
                }
            }
            try memory.result(result.rawValue, at: arg, offset: 32)
        }
        try! table.register(.blockWrite) { (arg) throws(HypercallFault) in try serve(arg, write: true) }
        try! table.register(.blockRead) { (arg) throws(HypercallFault) in try serve(arg, write: false) }
    }
}
