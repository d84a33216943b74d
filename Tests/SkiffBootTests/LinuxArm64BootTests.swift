// LinuxArm64BootTests.swift: the arm64 Image protocol without KVM: placement, bootargs, refusals, and the device tree read back.

import Testing
import SkiffCore
@testable import SkiffBoot
import SkiffArchAArch64

// MARK: A device tree reader (enough to check what the writer produced)

/// path → property name → value bytes, from a DTB; fails the test on a malformed blob.
func readDeviceTree(_ b: [UInt8]) -> [String: [String: [UInt8]]] {
    func be32(_ o: Int) -> UInt32 { b[o..<o + 4].reduce(0) { $0 << 8 | UInt32($1) } }
    #expect(be32(0) == 0xd00d_feed && Int(be32(4)) == b.count && be32(20) == 17 && be32(24) == 16)
    let structOff = Int(be32(8)), stringsOff = Int(be32(12)), structSize = Int(be32(36))
    var out: [String: [String: [UInt8]]] = [:]
    var path: [String] = []
    var o = structOff
    func cstring(_ at: Int) -> (String, Int) {
        var e = at
        while b[e] != 0 { e += 1 }
        return (String(decoding: b[at..<e], as: UTF8.self), e + 1)
    }
    func key() -> String { path.count <= 1 ? "/" : path.dropFirst().map { "/" + $0 }.joined() }
    while o < structOff + structSize {
        let token = be32(o); o += 4
        switch token {
        case 1:
            let (name, end) = cstring(o)
            path.append(name)
            out[key(), default: [:]] = out[key()] ?? [:]
            o = (end + 3) & ~3
        case 2: path.removeLast()
        case 3:
            let len = Int(be32(o)), nameOff = Int(be32(o + 4))
            let (name, _) = cstring(stringsOff + nameOff)
            out[key(), default: [:]][name] = Array(b[(o + 8)..<(o + 8 + len)])
            o = (o + 8 + len + 3) & ~3
        case 9: return out
        default:
            Issue.record("bad token \(token) at \(o - 4)")
            return out
        }
    }
    Issue.record("no FDT_END")
    return out
}

func cells(_ v: [UInt8]?) -> [UInt32] {
    guard let v else { return [] }
    return stride(from: 0, to: v.count, by: 4).map { i in v[i..<i + 4].reduce(0) { $0 << 8 | UInt32($1) } }
}

func text(_ v: [UInt8]?) -> [String] {
    (v ?? []).split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
}

// MARK: Images

/// An arm64 Image of `size` bytes with the given header fields (and, when `skiff`, an empty SKIFFIMG block).
func armImage(size: Int = 0x2000, textOffset: UInt64 = 0x20_0000, imageSize: UInt64? = nil, skiff: Bool = false) -> [UInt8] {
    var b = [UInt8](repeating: 0, count: size)
    func put(_ v: UInt64, _ at: Int) { for i in 0..<8 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) } }
    put(textOffset, 0x08)
    put(imageSize ?? UInt64(size), 0x10)
    b[0x38..<0x3C] = [0x41, 0x52, 0x4d, 0x64]
    if skiff {
        b[0x40..<0x48] = ArraySlice(Array("SKIFFIMG".utf8))
        b[0x48] = 1
    }
    return b
}

func options(_ words: [String], mem: UInt64 = 64) -> RunOptions {
    var o = RunOptions(kernel: "Image")
    o.memoryBytes = mem << 20
    o.guestArguments = words
    return o
}

@Test func placesImageAndDeviceTreeAsQEMUDoes() throws {
    let boot = try LinuxArm64Boot(bytes: armImage(), options: options(["console=ttyAMA0", "quiet"]))
    #expect(boot.entry == 0x4020_0000 && boot.deviceTreeAddress == 0x4000_0000)
    #expect(boot.convention == .linuxImage(entry: 0x4020_0000, deviceTree: 0x4000_0000, ramBase: 0x4000_0000))
    #expect(boot.convention.ramBase == VirtLayout.ramBase && boot.memorySize.guest == 64 << 20)
    #expect(boot.bootargs == "console=ttyAMA0 quiet")
    #expect(boot.manifest.devices.isEmpty && boot.virtioSlots.isEmpty)
}

@Test func oldImagesWithoutTextOffsetGoAt0x80000AndTheTreeAfterThemWhenItDoesNotFitBelow() throws {
    let old = try LinuxArm64Boot(bytes: armImage(textOffset: 0, imageSize: 0), options: options([]))
    #expect(old.entry == 0x4008_0000 && old.deviceTreeAddress == 0x4000_0000)
    let low = try LinuxArm64Boot(bytes: armImage(size: 0x1_0000, textOffset: 0x1000), options: options([]))
    #expect(low.entry == 0x4000_1000 && low.deviceTreeAddress == 0x4002_0000)   // after the Image, 64 KiB aligned
}

@Test func skiffImagesGetQEMURunnersBootargs() throws {
    var o = options(["a", "", "b"])
    #expect(try LinuxArm64Boot(bytes: armImage(skiff: true), options: o).bootargs == "-- a  b")
    o.guestArguments = []
    #expect(try LinuxArm64Boot(bytes: armImage(skiff: true), options: o).bootargs == "--")
}

@Test func blockDevicesTakeSlotsFromTheTopWithTheirInterrupts() throws {
    var o = options(["x"])
    o.blocks = [.init(name: "root", value: "/a"), .init(name: "data", value: "/b"), .init(name: "log", value: "/c")]
    let boot = try LinuxArm64Boot(bytes: armImage(), options: o)
    #expect(boot.virtioSlots.map(\.name) == ["root", "data", "log"])
    #expect(boot.virtioSlots.map(\.base) == [0x0A00_0400, 0x0A00_0200, 0x0A00_0000])
    #expect(boot.virtioSlots.map(\.spi) == [18, 17, 16])
    #expect(boot.manifest.devices.map(\.name) == ["root", "data", "log"])   // a plain kernel: the options declare them
    let dt = readDeviceTree(boot.deviceTree(seed: []).serialized())
    for (base, spi) in [(0x0A00_0000, 16), (0x0A00_0200, 17), (0x0A00_0400, 18)] {
        let node = dt["/virtio_mmio@\(String(base, radix: 16))"]
        #expect(text(node?["compatible"]) == ["virtio,mmio"])
        #expect(cells(node?["reg"]) == [0, UInt32(base), 0, 0x200])
        #expect(cells(node?["interrupts"]) == [0, UInt32(spi), 4])
    }
}

@Test func netDevicesFollowTheBlocksAsQEMURunnerOrdersThem() throws {
    var o = options(["x"])
    o.blocks = [.init(name: "storage", value: "/a")]
    o.nets = [.init(name: "service0", value: "tap0"), .init(name: "service1", value: "tap1")]
    let plain = try LinuxArm64Boot(bytes: armImage(), options: o)
    #expect(plain.virtioSlots.map(\.name) == ["storage", "service0", "service1"])
    #expect(plain.virtioSlots.map(\.kind) == [.block, .net, .net])
    #expect(plain.virtioSlots.map(\.base) == [0x0A00_0400, 0x0A00_0200, 0x0A00_0000])
    #expect(plain.manifest.devices.map(\.type) == [.blockBasic, .netBasic, .netBasic])
    #expect(plain.bootargs == "x")
    o.blocks = []
    o.nets = [.init(name: "service0", value: "tap0")]
    let skiff = try LinuxArm64Boot(bytes: armImage(skiff: true), options: o)
    #expect(skiff.bootargs == "skiff.net=service0 -- x")
}

@Test func theDeviceTreeDescribesTheMachine() throws {
    var o = options(["console=ttyAMA0"], mem: 128)
    o.initrd = nil
    let boot = try LinuxArm64Boot(bytes: armImage(), options: o)
    let seed: [UInt8] = Array(0..<32)
    let blob = boot.deviceTree(seed: seed).serialized()
    #expect(blob.count < 4096)
    let dt = readDeviceTree(blob)
    #expect(text(dt["/"]?["compatible"]) == ["skiff,virt", "linux,dummy-virt"])
    #expect(cells(dt["/"]?["#address-cells"]) == [2] && cells(dt["/"]?["#size-cells"]) == [2])
    #expect(cells(dt["/memory@40000000"]?["reg"]) == [0, 0x4000_0000, 0, 128 << 20])
    #expect(text(dt["/chosen"]?["bootargs"]) == ["console=ttyAMA0"])
    #expect(text(dt["/chosen"]?["stdout-path"]) == ["/pl011@9000000"])
    #expect(dt["/chosen"]?["rng-seed"] == seed)
    #expect(dt["/chosen"]?["linux,initrd-start"] == nil)
    #expect(text(dt["/psci"]?["method"]) == ["hvc"])
    #expect(text(dt["/cpus/cpu@0"]?["enable-method"]) == ["psci"])
    let gic = dt["/intc@8000000"]
    #expect(text(gic?["compatible"]) == ["arm,gic-v3"] && gic?["interrupt-controller"] == [])
    #expect(cells(gic?["reg"]) == [0, 0x0800_0000, 0, 0x1_0000, 0, 0x080A_0000, 0, 0x2_0000])
    #expect(cells(dt["/"]?["interrupt-parent"]) == cells(gic?["phandle"]))
    #expect(cells(dt["/timer"]?["interrupts"]) == [1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4])
    #expect(cells(dt["/pl011@9000000"]?["reg"]) == [0, 0x0900_0000, 0, 0x1000])
    #expect(cells(dt["/pl031@9010000"]?["reg"]) == [0, 0x0901_0000, 0, 0x1000])
    #expect(text(dt["/skiff-exit@90f0000"]?["compatible"]) == ["skiff,exit-status"])
    #expect(cells(dt["/pl011@9000000"]?["clocks"]).allSatisfy { $0 == cells(dt["/apb-pclk"]?["phandle"]).first })
}

@Test func theDeviceTreeNamesTheInitrd() throws {
    let path = "/tmp/skiff-unit-initrd-\(getpid())"
    let fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0o600)
    _ = [UInt8](repeating: 7, count: 5000).withUnsafeBytes { write(fd, $0.baseAddress, 5000) }
    close(fd)
    defer { unlink(path) }
    var o = options([])
    o.initrd = path
    let boot = try LinuxArm64Boot(bytes: armImage(size: 0x3000), options: o)
    #expect(boot.initrd?.address == 0x4040_0000 && boot.initrd?.bytes.count == 5000)   // after the Image, 2 MiB aligned
    let dt = readDeviceTree(boot.deviceTree(seed: []).serialized())
    #expect(cells(dt["/chosen"]?["linux,initrd-start"]) == [0, 0x4040_0000])
    #expect(cells(dt["/chosen"]?["linux,initrd-end"]) == [0, 0x4040_0000 + 5000])
    o.initrd = path + ".missing"
    #expect(throws: BootError.self) { try LinuxArm64Boot(bytes: armImage(), options: o) }
}

@Test func refusals() {
    func refused(_ bytes: [UInt8], _ o: RunOptions) -> Bool {
        (try? LinuxArm64Boot(bytes: bytes, options: o)) == nil
    }
    var many = options([])
    many.blocks = (0..<65).map { .init(name: "b\($0)", value: "/x") }
    #expect(refused(armImage(), many))
    #expect(refused(armImage(textOffset: 0x20_0100), options([])))              // not page aligned
    #expect(refused(armImage(imageSize: 0x1000), options([])))                  // image_size < file
    #expect(refused(armImage(imageSize: 80 << 20), options([], mem: 64)))     // larger than memory
    #expect(refused(armImage(), options([String(repeating: "x", count: 16384)])))
    var bigEndian = armImage()
    bigEndian[0x18] = 1
    #expect(refused(bigEndian, options([])))
    #expect(!refused(armImage(), options([String(repeating: "x", count: 16383)])))
}

@Test func imagesAreChosenByTheirMagicOnAArch64Only() throws {
    let o = options([])
    let boot = try BootProtocols.select(armImage(), arch: .aarch64, options: o) { _ throws(BootError) in }
    #expect(boot.name == "arm64 Image")
    #expect(throws: BootError.self) { try BootProtocols.select(armImage(), arch: .x86_64, options: o) { _ throws(BootError) in } }
}

@Test func deviceTreeStringsAreSharedAndBlocksAligned() {
    let tree = DeviceTree(root: DeviceTreeNode("")
        .with("compatible", .strings(["a"]))
        .with(DeviceTreeNode("n@1").with("compatible", .strings(["b"])).with("x", .u64(0x1_0000_0002))))
    let blob = tree.serialized()
    func be32(_ o: Int) -> Int { Int(blob[o..<o + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }) }
    #expect(be32(8) % 4 == 0 && be32(16) % 8 == 0)   // structure block 4-aligned, reservation map 8-aligned
    #expect(be32(32) == "compatible\0x\0".utf8.count)                              // each name once
    let dt = readDeviceTree(blob)
    #expect(cells(dt["/n@1"]?["x"]) == [1, 2])
}
