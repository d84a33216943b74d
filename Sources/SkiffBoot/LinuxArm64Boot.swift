// LinuxArm64Boot.swift: the arm64 Linux `Image` boot protocol: placement, entry registers and the device tree the monitor writes.
//
// Documentation/arch/arm64/booting.rst: the Image at a 2 MiB-aligned base + text_offset, MMU off,
// x0 = the device tree's physical address (8-byte aligned, ≤ 2 MiB), x1-x3 = 0, EL1h with D, A, I, F
// masked. The machine is SkiffArchAArch64.VirtLayout (QEMU virt's addresses): the device tree lists
// exactly what the monitor provides — memory, /chosen (bootargs, stdout-path, rng-seed), one CPU
// with PSCI (KVM's, by hvc), the GICv3, the architected timer, the PL011, the PL031, Skiff's exit register
// and one virtio-mmio (version 2) slot per `--block` and `--net` device.
// For an Image built by `skiff build` (a SKIFFIMG block) the bootargs follow QEMURunner's
// convention (`-- ARGS`), so the same image runs here and under QEMU.

import SkiffCore
import SkiffHost
import SkiffArchAArch64

public final class LinuxArm64Boot: BootProtocol {
    public let name = "arm64 Image"
    public let header: ARM64ImageHeader
    public let image: [UInt8]
    public let manifest: Manifest
    public let memorySize: MemorySize
    public let bootargs: String
    /// Guest-physical addresses (RAM starts at VirtLayout.ramBase).
    public let imageAddress: UInt64
    public let deviceTreeAddress: UInt64
    /// The initial RAM disk's address and bytes (`--initrd`).
    public let initrd: (address: UInt64, bytes: [UInt8])?
    public var entry: UInt64 { imageAddress }
    public var convention: EntryConvention {
        .linuxImage(entry: imageAddress, deviceTree: deviceTreeAddress, ramBase: VirtLayout.ramBase)
    }

    /// The virtio-mmio devices, `--block`s then `--net`s in option order, the first at the highest slot
    /// (QEMU virt's order for its -devices, which the Skiff virt runtime relies on: Guest/platform/virt/devices.c).
    public let virtioSlots: [DeviceSlot]
    public var deviceSlots: [DeviceSlot] { virtioSlots }

    /// At most this many virtio-mmio devices (the Skiff virt runtime's SKIFF_MAX_VIRTIO).
    public static let maximumVirtioDevices = 64

    /// Checks the header, the manifest (`validate`: the device names), the options and the memory size,
    /// and places image and device tree; nothing is allocated.
    public init(bytes: [UInt8], options: RunOptions,
                validate: (Manifest) throws(BootError) -> Void = { _ throws(BootError) in }) throws(BootError) {
        do { header = try ARM64ImageHeader(bytes: bytes) } catch { throw .image(error) }
        let skiff = SkiffImageBlock.isPresent(in: bytes)
        if skiff {
            guard let notes = SkiffImageBlock(bytes: bytes).notes(in: bytes) else {
                throw .image(.arm64Image("a note of the SKIFFIMG block lies outside the image"))
            }
            do { manifest = try SkiffImageBlock.manifest(in: notes) } catch {
                throw .image(.arm64Image("Solo5 manifest is invalid: \(error.reason)"))
            }
        } else {
            // A plain kernel declares nothing: every device given is its own declaration.
            manifest = Manifest(devices: options.blocks.map { ($0.name, DeviceType.blockBasic) }
                                    + options.nets.map { ($0.name, DeviceType.netBasic) })
        }
        try validate(manifest)
        // Core files (SkiffDebug.CoreFile) place guest memory at address 0, where hvt's RAM is.
        guard !options.moduleSettings.contains(where: { $0.name == "dumpcore" }) else {
            throw .option("--dumpcore is for hvt unikernels (an arm64 Image's RAM starts at \(hex(VirtLayout.ramBase)))")
        }
        // QEMURunner's -device order: blocks, then nets; the first at the highest slot.
        let devices = options.blocks.map { ($0.name, DeviceSlot.Kind.block) } + options.nets.map { ($0.name, DeviceSlot.Kind.net) }
        guard devices.count <= Self.maximumVirtioDevices else {
            throw .image(.arm64Image("at most \(Self.maximumVirtioDevices) virtio-mmio devices (\(devices.count) given)"))
        }
        let n = devices.count
        virtioSlots = devices.enumerated().map { (k, d) in
            let slot = UInt64(n - 1 - k)
            return DeviceSlot(name: d.0, kind: d.1, base: VirtLayout.virtioBase + slot * VirtLayout.virtioStride,
                              size: VirtLayout.virtioStride, spi: VirtLayout.virtioFirstSPI + UInt32(slot))
        }
        do { memorySize = try MemorySize(requestedBytes: options.memoryBytes, withRing: false) } catch {
            throw .memory(error)
        }
        let textOffset = header.textOffset == 0 && header.imageSize == 0 ? VirtLayout.defaultTextOffset : header.textOffset
        let footprint = max(header.imageSize, UInt64(bytes.count))
        guard textOffset % 4096 == 0, textOffset < memorySize.guest,
              footprint <= memorySize.guest - textOffset else {
            throw .image(.arm64Image("the Image (\(footprint) bytes at text_offset \(hex(textOffset))) does not fit in \(memorySize.guest) bytes of memory"))
        }
        imageAddress = VirtLayout.ramBase + textOffset
        let args = options.guestArgumentBytes.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
        if skiff {
            // QEMURunner's convention: the device names, `--`, the arguments after exactly one space.
            let words = options.blocks.map { "skiff.block=" + $0.name } + options.nets.map { "skiff.net=" + $0.name } + ["--"]
            bootargs = words.joined(separator: " ") + (args.isEmpty ? "" : " " + args)
        } else {
            bootargs = args
        }
        guard bootargs.utf8.count < Self.maximumBootargs else {
            throw .commandLine(CommandLineTooLong())
        }
        self.image = bytes
        // The initial RAM disk after the Image, 2 MiB aligned (booting.rst: anywhere the kernel can reach).
        if let path = options.initrd {
            let data: [UInt8]
            do { data = try ImageFile.read(path) } catch { throw .option("\(path): \(error.message)") }
            let start = (textOffset + footprint + VirtLayout.imageAlignment - 1) & ~(VirtLayout.imageAlignment - 1)
            guard start <= memorySize.guest, UInt64(data.count) <= memorySize.guest - start else {
                throw .option("\(path): the initrd (\(data.count) bytes) does not fit in memory after the Image")
            }
            initrd = (VirtLayout.ramBase + start, data)
        } else {
            initrd = nil
        }
        // The device tree at RAM's start when it fits below the Image (as QEMU does), else after the Image.
        let dtbSize = UInt64(Self.deviceTreeBudget)
        if dtbSize <= textOffset {
            deviceTreeAddress = VirtLayout.ramBase
        } else {
            var after = (textOffset + footprint + 0xFFFF) & ~0xFFFF
            if let i = initrd { after = (i.address - VirtLayout.ramBase + UInt64(i.bytes.count) + 0xFFFF) & ~0xFFFF }
            guard after + dtbSize <= memorySize.guest else {
                throw .image(.arm64Image("no room for the device tree after the Image"))
            }
            deviceTreeAddress = VirtLayout.ramBase + after
        }
    }

    /// Bootargs limit: the Skiff virt runtime's buffer (Guest/drivers/fdt/fdt.h, SKIFF_BOOTARGS_SIZE).
    public static let maximumBootargs = 16384
    /// Room set aside for the device tree (it is far smaller: one page of nodes plus the bootargs).
    static let deviceTreeBudget = 0x1_0000 + maximumBootargs

    public func loadImage(into memory: GuestMemory) throws(ImageError) {
        do { try memory.write(image, at: GuestAddress(imageAddress - VirtLayout.ramBase)) } catch {
            throw .arm64Image("cannot load the Image: \(error.message)")
        }
        if let i = initrd {
            do { try memory.write(i.bytes, at: GuestAddress(i.address - VirtLayout.ramBase)) } catch {
                throw .arm64Image("cannot load the initrd: \(error.message)")
            }
        }
    }

    public func writeBootData(into memory: GuestMemory, manifest: Manifest, attachment: ModuleAttachment,
                              cpuCycleFrequency: UInt64) throws(GuestAccessError) {
        let dtb = deviceTree(seed: Host.randomBytes(32)).serialized()
        try memory.write(dtb, at: GuestAddress(deviceTreeAddress - VirtLayout.ramBase))
    }

    /// The device tree of this run (`seed`: /chosen/rng-seed).
    public func deviceTree(seed: [UInt8]) -> DeviceTree {
        let gic: UInt32 = 1, clock: UInt32 = 2          // phandles
        func reg(_ base: UInt64, _ size: UInt64) -> DeviceTreeValue {
            .cells([UInt32(base >> 32), UInt32(truncatingIfNeeded: base), UInt32(size >> 32), UInt32(truncatingIfNeeded: size)])
        }
        let level: UInt32 = 4                            // IRQ_TYPE_LEVEL_HIGH
        let uartPath = "/pl011@\(hexDigits(VirtLayout.uart))"
        var root = DeviceTreeNode("")
            .with("compatible", .strings(["skiff,virt", "linux,dummy-virt"]))
            .with("model", .string("skiff-hvt arm64 virt"))
            .with("#address-cells", .u32(2)).with("#size-cells", .u32(2))
            .with("interrupt-parent", .u32(gic))
        var chosen = DeviceTreeNode("chosen")
            .with("bootargs", .string(bootargs))
            .with("stdout-path", .string(uartPath))
            .with("rng-seed", .bytes(seed))
        if let i = initrd {
            chosen = chosen.with("linux,initrd-start", .u64(i.address))
                .with("linux,initrd-end", .u64(i.address + UInt64(i.bytes.count)))
        }
        root = root.with(chosen)
        root = root.with(DeviceTreeNode("memory@\(hexDigits(VirtLayout.ramBase))")
            .with("device_type", .string("memory"))
            .with("reg", reg(VirtLayout.ramBase, memorySize.guest)))
        root = root.with(DeviceTreeNode("cpus")
            .with("#address-cells", .u32(1)).with("#size-cells", .u32(0))
            .with(DeviceTreeNode("cpu@0")
                .with("device_type", .string("cpu"))
                .with("compatible", .strings(["arm,arm-v8"]))
                .with("reg", .u32(0))
                .with("enable-method", .string("psci"))))
        root = root.with(DeviceTreeNode("psci")
            .with("compatible", .strings(["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]))
            .with("method", .string("hvc")))
        root = root.with(DeviceTreeNode("intc@\(hexDigits(VirtLayout.gicDistributor))")
            .with("compatible", .strings(["arm,gic-v3"]))
            .with("#interrupt-cells", .u32(3))
            .with("#address-cells", .u32(2)).with("#size-cells", .u32(2)).with("ranges", .empty)
            .with("interrupt-controller", .empty)
            .with("#redistributor-regions", .u32(1))
            .with("reg", .cells(reg(VirtLayout.gicDistributor, VirtLayout.gicDistributorSize).cellList
                                + reg(VirtLayout.gicRedistributor, VirtLayout.gicRedistributorSize).cellList))
            .with("phandle", .u32(gic)))
        root = root.with(DeviceTreeNode("timer")
            .with("compatible", .strings(["arm,armv8-timer"]))
            .with("interrupts", .cells(VirtLayout.timerPPIs.flatMap { [1, $0, level] }))
            .with("always-on", .empty))
        root = root.with(DeviceTreeNode("apb-pclk")
            .with("compatible", .strings(["fixed-clock"]))
            .with("#clock-cells", .u32(0))
            .with("clock-frequency", .u32(24_000_000))
            .with("clock-output-names", .strings(["clk24mhz"]))
            .with("phandle", .u32(clock)))
        root = root.with(DeviceTreeNode(String(uartPath.dropFirst()))
            .with("compatible", .strings(["arm,pl011", "arm,primecell"]))
            .with("reg", reg(VirtLayout.uart, VirtLayout.uartSize))
            .with("interrupts", .cells([0, VirtLayout.uartSPI, level]))
            .with("clocks", .cells([clock, clock]))
            .with("clock-names", .strings(["uartclk", "apb_pclk"])))
        root = root.with(DeviceTreeNode("pl031@\(hexDigits(VirtLayout.rtc))")
            .with("compatible", .strings(["arm,pl031", "arm,primecell"]))
            .with("reg", reg(VirtLayout.rtc, VirtLayout.rtcSize))
            .with("interrupts", .cells([0, VirtLayout.rtcSPI, level]))
            .with("clocks", .cells([clock]))
            .with("clock-names", .strings(["apb_pclk"])))
        for v in virtioSlots.reversed() {   // ascending addresses, as QEMU lists them
            root = root.with(DeviceTreeNode("virtio_mmio@\(hexDigits(v.base))")
                .with("compatible", .strings(["virtio,mmio"]))
                .with("reg", reg(v.base, VirtLayout.virtioStride))
                .with("interrupts", .cells([0, v.spi, level]))
                .with("dma-coherent", .empty))
        }
        root = root.with(DeviceTreeNode("skiff-exit@\(hexDigits(VirtLayout.exitRegister))")
            .with("compatible", .strings(["skiff,exit-status"]))
            .with("reg", reg(VirtLayout.exitRegister, VirtLayout.exitRegisterSize)))
        return DeviceTree(root: root)
    }
}

extension DeviceTreeValue {
    var cellList: [UInt32] {
        if case .cells(let c) = self { return c }
        return []
    }
}

/// Lower-case hex digits without a prefix (device tree unit addresses).
func hexDigits(_ v: UInt64) -> String {
    let s = hex(v)
    return String(s.dropFirst(2))
}
