// VirtioBlock.swift: a virtio-blk device (virtio 1.2 §5.2) over a `--block` file, for the arm64 Linux-Image machine.
//
// One request queue. Requests: IN (pread into the guest's buffers), OUT (pwrite from them), FLUSH
// (fdatasync), GET_ID (the device's name). A request past the end of the device, or one whose
// buffers have the wrong direction, gets VIRTIO_BLK_S_IOERR; an unknown type VIRTIO_BLK_S_UNSUPP.
// Host I/O errors end the run (as hvt's BLOCK_WRITE does): an acknowledged write is in the file.
// Offered: VIRTIO_BLK_F_BLK_SIZE (the `--block-sector-size`) and VIRTIO_BLK_F_FLUSH.

import SkiffCore

public final class VirtioBlock: VirtioBackend {
    static let sector: UInt64 = 512
    static let typeIn: UInt32 = 0, typeOut: UInt32 = 1, typeFlush: UInt32 = 4, typeGetID: UInt32 = 8
    static let statusOK: UInt8 = 0, statusIOError: UInt8 = 1, statusUnsupported: UInt8 = 2
    static let featureBlockSize: UInt64 = 1 << 6, featureFlush: UInt64 = 1 << 9

    public let file: BlockBackend
    public let deviceID: UInt32 = 2
    public let queueCount = 1
    public var deviceFeatures: UInt64 { Self.featureBlockSize | Self.featureFlush }

    public init(file: BlockBackend) { self.file = file }

    /// capacity (u64, 512-byte sectors) at 0x00, blk_size (u32) at 0x14.
    public var configuration: [UInt8] {
        var c = [UInt8](repeating: 0, count: 0x18)
        let sectors = file.capacity / Self.sector
        for i in 0..<8 { c[i] = UInt8(truncatingIfNeeded: sectors >> (8 * UInt64(i))) }
        for i in 0..<4 { c[0x14 + i] = UInt8(truncatingIfNeeded: file.blockSize >> (8 * UInt64(i))) }
        return c
    }

    public func serve(queue: Int, chain: [VirtqBuffer], ram: GuestRAM) throws(DeviceFault) -> UInt32? {
        guard chain.count >= 2, let statusBuffer = chain.last, statusBuffer.deviceWritable, statusBuffer.length >= 1,
              !chain[0].deviceWritable, chain[0].length >= 16 else {
            throw DeviceFault("virtio-blk '\(file.name)': malformed request (\(chain.count) buffers)")
        }
        let type: UInt32 = try ram.load(UInt32.self, chain[0].address)
        let sectorNumber: UInt64 = try ram.load(UInt64.self, chain[0].address + 8)
        let data = chain[1..<(chain.count - 1)]
        var written: UInt32 = 0
        let status: UInt8
        switch type {
        case Self.typeIn, Self.typeOut:
            status = try transfer(write: type == Self.typeOut, sector: sectorNumber, data, ram: ram, written: &written)
        case Self.typeFlush:
            if let f = file.flush() { throw DeviceFault(f.message) }
            status = Self.statusOK
        case Self.typeGetID:
            if let b = data.first, b.deviceWritable {
                let id = Array(file.name.utf8.prefix(20))
                let n = min(UInt32(id.count), b.length)
                let a = try ram.address(b.address, UInt64(n))
                do { try ram.memory.write(id[0..<Int(n)], at: a) } catch { throw DeviceFault("virtio: invalid guest access: gpa=\(hex(b.address))") }
                written = n
                status = Self.statusOK
            } else {
                status = Self.statusIOError
            }
        default:
            status = Self.statusUnsupported
        }
        try ram.store(status, statusBuffer.address)
        return written + 1
    }

    /// IN/OUT: every data buffer has the direction the type needs and the whole request lies inside the device.
    private func transfer(write: Bool, sector: UInt64, _ data: ArraySlice<VirtqBuffer>, ram: GuestRAM,
                          written: inout UInt32) throws(DeviceFault) -> UInt8 {
        var total: UInt64 = 0
        for b in data {
            guard b.deviceWritable != write else { return Self.statusIOError }
            total += UInt64(b.length)
        }
        let (start, overflow) = sector.multipliedReportingOverflow(by: Self.sector)
        guard !overflow, start <= file.capacity, total <= file.capacity - start else { return Self.statusIOError }
        var offset = start
        for b in data where b.length > 0 {
            let a = try ram.address(b.address, UInt64(b.length))
            do { try file.transfer(write: write, memory: ram.memory, a, count: UInt64(b.length), at: offset) } catch {
                throw DeviceFault(error.message)
            }
            offset += UInt64(b.length)
            if !write { written &+= b.length }
        }
        return Self.statusOK
    }
}
