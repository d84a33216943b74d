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
}

/// The boot protocols the monitor speaks, chosen from the image itself.
public enum BootProtocols {
    /// The protocol for `bytes` on `arch`, checked against `options` (all refusals happen here).
    /// Today every image is read as hvt (its checks give the messages for anything else);
    /// PVH (an ELF with XEN_ELFNOTE_PHYS32_ENTRY and no ABI1 note) and the arm64 `Image`
    /// (`ARM64ImageHeader.hasMagic`) are the next rows.
    public static func select(_ bytes: [UInt8], arch: GuestArchitecture, options: RunOptions,
                              validate: (Manifest) throws(BootError) -> Void) throws(BootError) -> any BootProtocol {
        try HvtBoot(bytes: bytes, arch: arch, options: options, validate: validate)
    }
}
