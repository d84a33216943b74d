// BootProtocol.swift: what a boot protocol provides: the image's checks and devices, guest memory sizes, and what the guest finds at entry.
//
// hvt (Solo5 ABI 2) is the one protocol today (Hvt.swift); PVH and the arm64
// Linux Image protocol are the next rows. A protocol is chosen from the image
// itself; all its refusals happen in its initializer, before any VM exists.

import SkiffCore

/// Why a boot protocol refused an image or a run's options.
public enum BootError: Error, Equatable, Sendable {
    case image(ImageError)
    case memory(MemorySizeError)
    case commandLine(CommandLineTooLong)
    /// The options name devices the image does not declare (checked between image and memory, as upstream).
    case devices(DeviceError)
    /// A file an option names besides the image (`--initrd`) cannot be used; one line.
    case option(String)

    /// The one-line message (without the image's name, which `.image` errors are shown after).
    public var message: String {
        switch self {
        case .image(let e): return e.message
        case .memory(let e): return e.message
        case .commandLine(let e): return e.message
        case .devices(let e): return e.message
        case .option(let s): return s
        }
    }
}

/// One way of starting a guest.
public protocol BootProtocol: AnyObject {
    /// Short name for messages ("hvt").
    var name: String { get }
    /// The devices the image declares.
    var manifest: Manifest { get }
    /// Guest memory sizes for this run.
    var memorySize: MemorySize { get }
    /// The guest-physical entry point.
    var entry: UInt64 { get }
    /// Copies the image into guest memory (and applies its protections).
    func loadImage(into memory: GuestMemory) throws(ImageError)
    /// Writes what the guest reads at entry, given the attached devices' manifest, the
    /// modules' contributions and the backend's CPU cycle frequency.
    func writeBootData(into memory: GuestMemory, manifest: Manifest, attachment: ModuleAttachment,
                       cpuCycleFrequency: UInt64) throws(GuestAccessError)
    /// How the vCPU starts and what machine surrounds it.
    var convention: EntryConvention { get }
    /// Where the protocol's machine puts each attached device (virtio-mmio on arm64 Images; none for hvt).
    var deviceSlots: [DeviceSlot] { get }
}

extension BootProtocol {
    public var deviceSlots: [DeviceSlot] { [] }
}

/// An attached device's place in the machine: its manifest name, kind, MMIO range and interrupt.
public struct DeviceSlot: Equatable, Sendable {
    public enum Kind: Equatable, Sendable { case block, net }
    public var name: String
    public var kind: Kind
    public var base: UInt64
    public var size: UInt64
    /// Its shared peripheral interrupt (GIC INTID 32 + spi).
    public var spi: UInt32

    public init(name: String, kind: Kind, base: UInt64, size: UInt64, spi: UInt32) {
        self.name = name
        self.kind = kind
        self.base = base
        self.size = size
        self.spi = spi
    }
}

/// What a protocol asks of the machine and the vCPU at entry (the architecture glue applies it).
public enum EntryConvention: Equatable, Sendable {
    /// Solo5 hvt: RAM at GPA 0, the monitor's page tables, hypercalls; the architecture's hvt entry state.
    case hvt
    /// The arm64 Linux boot protocol on the virt-like machine of SkiffArchAArch64.VirtLayout: RAM at
    /// `ramBase`, MMU off, x0 = the device tree's GPA, a GIC, PSCI, the timer and MMIO devices.
    case linuxImage(entry: UInt64, deviceTree: UInt64, ramBase: UInt64)
    /// Xen's PVH boot ABI without Xen (SkiffArchX86_64.PVHLayout): RAM at GPA 0, 32-bit protected mode at
    /// `entry`, EBX = `startInfo`, an in-kernel irqchip, a 16550, a CMOS clock and an exit port.
    case pvh(entry: UInt64, startInfo: UInt64)

    /// Where guest RAM starts in guest-physical space.
    public var ramBase: UInt64 {
        switch self {
        case .hvt, .pvh: return 0
        case .linuxImage(_, _, let base): return base
        }
    }
}

/// The boot protocols the monitor speaks, chosen from the image itself: an arm64 `Image` (its
/// magic) on aarch64 boots by the Linux protocol, a PVH ELF on x86_64 by PVH, everything else as hvt.
///
/// Each architecture's choice is written once (`x86_64(_:options:validate:)`, `aarch64(_:options:validate:)`);
/// `select` switches over them at run time (tests, the fuzzer), `forHost` names the host's one at compile
/// time, so a tender links only its own architecture's protocols and the two choices cannot differ.
public enum BootProtocols {
    /// The protocol for `bytes` on `arch`, checked against `options` (all refusals happen here).
    public static func select(_ bytes: [UInt8], arch: GuestArchitecture, options: RunOptions,
                              validate: (Manifest) throws(BootError) -> Void) throws(BootError) -> any BootProtocol {
        switch arch {
        case .x86_64: return try x86_64(bytes, options: options, validate: validate)
        case .aarch64: return try aarch64(bytes, options: options, validate: validate)
        }
    }

    /// `select(bytes, arch: .host, …)` as a tender links it: only the host architecture's protocols are
    /// referenced, so an x86_64 tender carries no device-tree writer and an arm64 one no PVH loader.
    public static func forHost(_ bytes: [UInt8], options: RunOptions,
                               validate: (Manifest) throws(BootError) -> Void) throws(BootError) -> any BootProtocol {
        #if arch(arm64)
        return try aarch64(bytes, options: options, validate: validate)
        #elseif arch(x86_64)
        return try x86_64(bytes, options: options, validate: validate)
        #else
        return try HvtBoot(bytes: bytes, arch: .host, options: options, validate: validate)
        #endif
    }

    /// x86_64: an ELF with XEN_ELFNOTE_PHYS32_ENTRY and no ABI1 note boots by PVH, anything else as hvt.
    static func x86_64(_ bytes: [UInt8], options: RunOptions,
                       validate: (Manifest) throws(BootError) -> Void) throws(BootError) -> any BootProtocol {
        if PVHBoot.isPVH(bytes) { return try PVHBoot(bytes: bytes, options: options, validate: validate) }
        return try HvtBoot(bytes: bytes, arch: .x86_64, options: options, validate: validate)
    }

    /// aarch64: an arm64 Linux `Image` (its magic) boots by the Linux protocol, anything else as hvt.
    static func aarch64(_ bytes: [UInt8], options: RunOptions,
                        validate: (Manifest) throws(BootError) -> Void) throws(BootError) -> any BootProtocol {
        if ARM64ImageHeader.hasMagic(bytes) { return try LinuxArm64Boot(bytes: bytes, options: options, validate: validate) }
        return try HvtBoot(bytes: bytes, arch: .aarch64, options: options, validate: validate)
    }
}
