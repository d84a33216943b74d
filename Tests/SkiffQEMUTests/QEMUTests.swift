// QEMUTests.swift: the aarch64 launcher without QEMU: image recognition, manifest reading, the QEMU command line, option checks.

import Glibc
import Testing
@testable import SkiffQEMU
import SkiffCore

// MARK: Synthetic images

func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

/// A note as skiff build writes it: header, name padded to 4 (or to 8 for MFT1), descriptor.
func note(_ name: String, _ type: UInt32, _ desc: [UInt8]) -> [UInt8] {
    var n = le32(UInt32(name.utf8.count + 1)) + le32(UInt32(desc.count)) + le32(type)
    var nm = Array(name.utf8) + [0]
    while nm.count % 4 != 0 { nm.append(0) }
    n += nm + desc
    while n.count % 4 != 0 { n.append(0) }
    return n
}

let platformNote = note("Skiff", 0x5452_4956, le32(1) + le32(183) + le32(0x200000) + le32(0))

func manifestNote(_ devices: [(String, DeviceType)]) -> [UInt8] {
    note("Solo5", 0x3154_464d, [0, 0, 0, 0] + Manifest(devices: devices.map { (name: $0.0, type: $0.1) }).bytes)
}

/// A raw Image: header, SKIFFIMG block, then the notes at 0x100.
func rawImage(manifest: [UInt8]?, platform: [UInt8]? = platformNote) -> [UInt8] {
    var b = [UInt8](repeating: 0, count: 0x100)
    b.replaceSubrange(0x38..<0x3c, with: [0x41, 0x52, 0x4d, 0x64])
    b.replaceSubrange(0x40..<0x48, with: Array("SKIFFIMG".utf8))
    b.replaceSubrange(0x48..<0x50, with: le32(1) + le32(64))
    var body: [UInt8] = []
    if let manifest {
        b.replaceSubrange(0x50..<0x60, with: le64(0x100) + le64(UInt64(manifest.count)))
        body += manifest
    }
    if let platform {
        b.replaceSubrange(0x60..<0x70, with: le64(0x100 + UInt64(body.count)) + le64(UInt64(platform.count)))
        body += platform
    }
    return b + body
}

@Test func rawImageManifestIsRead() throws {
    let img = try VirtImage(bytes: rawImage(manifest: manifestNote([("storage", .blockBasic), ("service0", .netBasic)])),
                            name: "t")
    #expect(img.format == .image)
    #expect(img.manifest.devices.map(\.name) == ["storage", "service0"])
    #expect(SkiffImageBlock.isPresent(in: rawImage(manifest: nil)))
}

@Test func imageWithoutManifestHasNoDevices() throws {
    let img = try VirtImage(bytes: rawImage(manifest: nil), name: "t")
    #expect(img.manifest.devices.isEmpty)
}

@Test func imageWithoutPlatformNoteIsRefused() {
    #expect(throws: VirtImageError.self) { try VirtImage(bytes: rawImage(manifest: nil, platform: nil), name: "t") }
}

@Test func notesOutsideTheImageAreRefused() {
    var b = rawImage(manifest: nil)
    b.replaceSubrange(0x60..<0x68, with: le64(UInt64.max - 4))
    #expect(throws: VirtImageError.self) { try VirtImage(bytes: b, name: "t") }
}

@Test func invalidManifestIsRefused() {
    var m = manifestNote([("storage", .blockBasic)])
    m[m.count - 8] = 1   // attached set in the image
    #expect(throws: VirtImageError.self) { try VirtImage(bytes: rawImage(manifest: m), name: "t") }
}

@Test func otherFilesAreNotVirtImages() {
    #expect(!SkiffImageBlock.isPresent(in: [UInt8](repeating: 0, count: 256)))
    #expect(throws: VirtImageError.self) { try VirtImage(bytes: [UInt8](repeating: 7, count: 256), name: "t") }
}

@Test func hostileNoteHeadersStopTheWalk() {
    // namesz/descsz that run past the region: no notes, no trap.
    let bad = le32(0xffff_fff0) + le32(8) + le32(1) + [0, 0, 0, 0]
    #expect(ELFNote.parse(bad).isEmpty)
    let huge = le32(6) + le32(0xffff_fff0) + le32(1) + Array("Solo5\0\0\0".utf8)
    #expect(ELFNote.parse(huge).isEmpty)
}

// MARK: The QEMU command line

@Test func bootargsCarryNamesThenTheCommandLine() {
    var l = QEMULaunch(memoryMiB: 64, kernel: "k", guestCommandLine: "", devices: [])
    #expect(l.bootargs == "--")
    l.guestCommandLine = " b"   // an empty first argument survives
    #expect(l.bootargs == "--  b")
    l.devices = [QEMUDevice(name: "service0", kind: .net(tap: "tap0", mac: [2, 0, 0, 0, 0, 1], mtu: 1500)),
                 QEMUDevice(name: "storage", kind: .block(path: "/d", blockSize: 512))]
    l.guestCommandLine = "a b"
    #expect(l.bootargs == "skiff.block=storage skiff.net=service0 -- a b")
}

@Test func argumentsDescribeTheVirtMachine() {
    var l = QEMULaunch(memoryMiB: 256, kernel: "/x/hello.img", guestCommandLine: "x y", devices: [
        QEMUDevice(name: "storage", kind: .block(path: "/tmp/a,b.img", blockSize: 4096)),
        QEMUDevice(name: "service0", kind: .net(tap: "tap0", mac: [0x02, 0xab, 0, 1, 0x0c, 0xff], mtu: 9000)),
    ])
    l.gicVersion = "3"
    l.cpu = "max"
    let a = l.arguments
    func after(_ flag: String) -> [String] { a.indices.filter { a[$0] == flag }.map { a[$0 + 1] } }
    #expect(a.first == "qemu-system-aarch64")
    #expect(after("-machine") == ["virt,gic-version=3"])
    #expect(after("-cpu") == ["max"])
    #expect(after("-m") == ["256M"])
    #expect(after("-kernel") == ["/x/hello.img"])
    #expect(after("-append") == ["skiff.block=storage skiff.net=service0 -- x y"])
    #expect(after("-semihosting-config") == ["enable=on,target=native"])
    #expect(after("-global") == ["virtio-mmio.force-legacy=false"])
    #expect(after("-drive") == ["if=none,format=raw,id=blk-storage,file=/tmp/a,,b.img"])
    #expect(after("-netdev") == ["tap,id=net-service0,ifname=tap0,script=no,downscript=no"])
    #expect(after("-device") == [
        "virtio-blk-device,drive=blk-storage,logical_block_size=4096,physical_block_size=4096",
        "virtio-net-device,netdev=net-service0,mac=02:ab:00:01:0c:ff,host_mtu=9000"])
    #expect(a.contains("-nodefaults") && a.contains("-no-reboot"))
}

@Test func blockDevicesComeBeforeNetDevices() {
    let l = QEMULaunch(memoryMiB: 64, kernel: "k", guestCommandLine: "", devices: [
        QEMUDevice(name: "n0", kind: .net(tap: "t0", mac: [2, 0, 0, 0, 0, 0], mtu: 1500)),
        QEMUDevice(name: "b0", kind: .block(path: "/p0", blockSize: 512)),
        QEMUDevice(name: "b1", kind: .block(path: "/p1", blockSize: 512)),
    ])
    let devices = l.arguments.indices.filter { l.arguments[$0] == "-device" }.map { l.arguments[$0 + 1] }
    #expect(devices.map { $0.split(separator: ",")[1] } == ["drive=blk-b0", "drive=blk-b1", "netdev=net-n0"])
}

// MARK: Option checks (same messages as the hvt monitor)

func tempFile(size: Int) -> String {
    var template = Array("/tmp/skiff-qemu-test-XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    precondition(fd >= 0)
    ftruncate(fd, off_t(size))
    close(fd)
    return String(cString: template)
}

func launch(_ args: [String], devices: [(String, DeviceType)] = [], env: [String: String] = [:])
    -> Result<QEMULaunch, VirtImageError>
{
    let image = try! VirtImage(bytes: rawImage(manifest: manifestNote(devices)), name: "t")
    do {
        let o = try RunOptions.parse(args)
        return .success(try prepareQEMULaunch(o, image: image, environment: { env[$0] }))
    } catch let e as VirtImageError {
        return .failure(e)
    } catch {
        return .failure(VirtImageError("options: \(error)"))
    }
}

func failure(_ r: Result<QEMULaunch, VirtImageError>) -> String? {
    if case .failure(let e) = r { return e.message }
    return nil
}

@Test func devicesAreCheckedAgainstTheManifest() {
    let disk = tempFile(size: 8192)
    defer { unlink(disk) }
    #expect(failure(launch(["k"], devices: [("storage", .blockBasic)]))?
        .contains("Device 'storage' of type BLOCK_BASIC declared but not attached.") == true)
    #expect(failure(launch(["--block:other=\(disk)", "k"], devices: [("storage", .blockBasic)]))
        == "Resource not declared in manifest: 'other'")
    #expect(failure(launch(["--block:storage=/nonexistent/d", "k"], devices: [("storage", .blockBasic)]))?
        .hasPrefix("Could not open block device: /nonexistent/d") == true)
    let empty = tempFile(size: 0)
    defer { unlink(empty) }
    #expect(failure(launch(["--block:storage=\(empty)", "k"], devices: [("storage", .blockBasic)]))
        == "storage: Backing storage must be at least 1 block (512 bytes) in size")
    #expect(failure(launch(["--net:service0=no-such-tap0", "k"], devices: [("service0", .netBasic)]))?
        .hasPrefix("Could not attach interface: no-such-tap0") == true)
    let ok = launch(["--mem=128", "--block:storage=\(disk)", "k", "a", "b"], devices: [("storage", .blockBasic)],
                    env: ["SKIFF_QEMU_CPU": "max", "SKIFF_QEMU_GIC": "3", "SKIFF_QEMU_MACHINE": "virtualization=on"])
    guard case .success(let l) = ok else { Issue.record("\(ok)"); return }
    #expect(l.memoryMiB == 128 && l.cpu == "max" && l.gicVersion == "3" && l.machineOptions == "virtualization=on")
    #expect(l.devices == [QEMUDevice(name: "storage", kind: .block(path: disk, blockSize: 512))])
    #expect(l.guestCommandLine == "a b")
}

@Test func dumpcoreIsRefusedForVirtImages() {
    #expect(failure(launch(["--dumpcore=/tmp", "k"]))?.hasPrefix("--dumpcore: core dumps are written by the hvt monitor") == true)
}

@Test func gdbUsesQEMUsOwnStub() throws {
    let l = try #require(try? launch(["--gdb-port=4321", "k"]).get())
    #expect(l.gdbPort == 4321 && Array(l.arguments.suffix(3)) == ["-gdb", "tcp:127.0.0.1:4321", "-S"])
    #expect((try? launch(["--gdb", "k"]).get())?.gdbPort == 1234)
    #expect((try? launch(["k"]).get())?.arguments.contains("-gdb") == false)
    #expect(failure(launch(["--gdb-port=0", "k"])) == "--gdb-port=0: QEMU's gdb stub needs a fixed port")
}

@Test func unalignedBackingFileIsRefused() {
    let disk = tempFile(size: 4096 + 512)
    defer { unlink(disk) }
    #expect(failure(launch(["--block:storage=\(disk)", "--block-sector-size:storage=4096", "k"],
                           devices: [("storage", .blockBasic)])) == "storage: Backing storage size must be block aligned (4096 bytes)")
}

@Test func commandLineAndMemoryLimits() {
    #expect(failure(launch(["k", String(repeating: "z", count: 8192)])) == "Guest command line too long (max=8191 characters)")
    #expect(failure(launch(["k", String(repeating: "z", count: 8191)])) == nil)
    #expect(failure(launch(["--mem=4", "k"]))?.hasPrefix("--mem:") == true)
    #expect(failure(launch(["--mem=99999999999", "k"]))?.hasPrefix("--mem:") == true)
}

@Test func atMostThirtyTwoDevices() {
    var files: [String] = []
    defer { files.forEach { unlink($0) } }
    var args: [String] = []
    var devices: [(String, DeviceType)] = []
    for i in 0..<33 {
        let f = tempFile(size: 512)
        files.append(f)
        args.append("--block:d\(i)=\(f)")
        devices.append(("d\(i)", .blockBasic))
    }
    #expect(failure(launch(args + ["k"], devices: devices))?.contains("32 virtio-mmio slots") == true)
    #expect(failure(launch(Array(args.dropFirst()) + ["k"], devices: Array(devices.dropFirst()))) == nil)
}
