// main.swift (Tests/guests/mft_maxdevices): Solo5 test_mft_maxdevices: 63 block devices, use the first and the last.
//
// storage0 gets block 0 = "first", storage62 its last block = "last"; the
// e2e test checks both image files. storage63 is not in the manifest.

import Skiff

func put(_ disk: BlockDevice, _ text: String, at offset: UInt64) throws(SkiffError) {
    let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(disk.blockSize), alignment: 16)
    defer { buf.deallocate() }
    for i in 0..<buf.count { buf[i] = 0 }
    var i = 0
    for b in text.utf8 { buf[i] = b; i += 1 }
    try disk.write(at: offset, from: UnsafeRawBufferPointer(buf))
    for i in 0..<buf.count { buf[i] = 0xff }
    try disk.read(at: offset, into: buf)
    i = 0
    for b in text.utf8 {
        if buf[i] != b { throw .unspecified }
        i += 1
    }
}

@main
struct App {
    static func main() {
        do {
            let first = try BlockDevice(name: "storage0")
            let last = try BlockDevice(name: "storage62")
            print("mft_maxdevices: storage0 handle \(first.handle), storage62 handle \(last.handle)")
            guard first.handle == 1, last.handle == 63 else {
                print("FAILURE: handles must be the manifest indices 1 and 63")
                Skiff.exit(1)
            }
            try put(first, "first", at: 0)
            try put(last, "last", at: last.capacity - last.blockSize)
        } catch {
            print("FAILURE: \(error)")
            Skiff.exit(1)
        }
        do {
            _ = try BlockDevice(name: "storage63")
            print("FAILURE: storage63 is not declared")
            Skiff.exit(1)
        } catch {
            if error != .notFound { print("FAILURE: storage63: \(error)"); Skiff.exit(1) }
        }
        print("SUCCESS")
    }
}
