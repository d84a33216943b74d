// Hvt.swift: the hvt boot protocol (Solo5 ABI version 2): ELF with ABI1/MFT1 notes, PT_LOAD loading, boot info at 0x10000.

import CSkiffABI
import SkiffCore

/// An hvt unikernel prepared for one run: checked image, memory sizes, load plan, command line.
public final class HvtBoot: BootProtocol {
    public let name = "hvt"
    public let convention = EntryConvention.hvt
    public let image: ELFImage
    public let manifest: Manifest
    public let memorySize: MemorySize
    public let plan: LoadPlan
    public let commandLine: [UInt8]
    public var entry: UInt64 { plan.entry }

    /// Parses and checks `bytes` as an hvt image for `arch` (header, ABI note, manifest).
    public static func checkImage(_ bytes: [UInt8], arch: GuestArchitecture) throws(ImageError) -> (ELFImage, Manifest) {
        let image = try ELFImage(bytes: bytes, arch: arch)
        try image.checkABINote()
        return (image, try image.manifest())
    }

    /// Checks the image, the command line and the memory size, and plans the load; nothing is allocated.
    /// `validate` runs between the image checks and the rest (the monitor checks device names there,
    /// as upstream does).
    public init(bytes: [UInt8], arch: GuestArchitecture, options: RunOptions,
                validate: (Manifest) throws(BootError) -> Void = { _ throws(BootError) in }) throws(BootError) {
        let (image, manifest): (ELFImage, Manifest)
        do { (image, manifest) = try Self.checkImage(bytes, arch: arch) } catch { throw .image(error) }
        try validate(manifest)
        if options.initrd != nil { throw .image(.invalidHeader("--initrd is for arm64 Linux Images, not hvt unikernels")) }
        do { commandLine = try guestCommandLine(options.guestArgumentBytes) } catch { throw .commandLine(error) }
        do { memorySize = try MemorySize(requestedBytes: options.memoryBytes, withRing: !options.nets.isEmpty) } catch {
            throw .memory(error)
        }
        do { plan = try LoadPlan(image: image, memSize: memorySize.allocation) } catch { throw .image(error) }
        self.image = image
        self.manifest = manifest
    }

    public func loadImage(into memory: GuestMemory) throws(ImageError) {
        try plan.load(image, into: memory)
        if memorySize.allocation > memorySize.guest {
            // The ring area is not guest-usable (spec §5.2); its header starts zeroed.
            memory.reserveTop(memorySize.allocation - memorySize.guest)
            try? memory.zero(at: GuestAddress(memorySize.guest), count: UInt64(MemoryLayout<hvt_ring>.size))
        }
    }

    public func writeBootData(into memory: GuestMemory, manifest: Manifest, attachment: ModuleAttachment,
                              cpuCycleFrequency: UInt64) throws(GuestAccessError) {
        var boot = BootInfoWriter(memSize: memorySize.guest, kernelEnd: plan.kernelEnd,
                                  cpuCycleFrequency: cpuCycleFrequency, manifest: manifest, commandLine: commandLine)
        boot.hostFeatures = attachment.hostFeatures
        boot.netRing = attachment.netRing ?? 0
        try boot.write(to: memory)
    }
}
