// PVHBoot.swift: the PVH boot protocol on x86_64 (an ELF with XEN_ELFNOTE_PHYS32_ENTRY and no Solo5 ABI note) under skiff-hvt.
//
// Xen's PVH ABI (docs/misc/pvh.pandoc) without Xen: the ELF's PT_LOAD segments at their physical
// addresses (the hvt loader's rules: from 1 MiB, page-aligned, W^X), a version-1 `hvm_start_info` with
// the command line and a memory map, and the entry state of SkiffArchX86_64.PVHLayout (32-bit flat
// protected mode, EBX = the start_info). The machine around it has no devices but a 16550 console, a
// CMOS clock and an isa-debug-exit register (docs/boot-x86_64-pvh.md), so Skiff's own `--platform xen`
// images (they detect Xen by CPUID and find none) run under skiff-hvt with their exit status.

import SkiffCore
import SkiffArchX86_64

public final class PVHBoot: BootProtocol {
    public let name = "PVH"
    public let image: ELFImage
    public let manifest = Manifest(devices: [])
    public let memorySize: MemorySize
    public let plan: LoadPlan
    public let commandLine: [UInt8]
    /// XEN_ELFNOTE_PHYS32_ENTRY.
    public let entry: UInt64
    public var convention: EntryConvention { .pvh(entry: entry, startInfo: PVHLayout.startInfo) }

    /// True for an ELF with Xen's PHYS32_ENTRY note and no Solo5 ABI1 note (which makes it hvt).
    public static func isPVH(_ bytes: [UInt8]) -> Bool {
        let notes = ELFNote.all(inELF: bytes)
        return notes.contains { $0.name == "Xen" && $0.type == PVHLayout.phys32EntryNote }
            && !notes.contains { $0.name == "Solo5" && $0.type == ELFImage.abiNoteType }
    }

    /// Checks the image, its entry note, the options and the memory size, and plans the load; nothing is allocated.
    public init(bytes: [UInt8], options: RunOptions,
                validate: (Manifest) throws(BootError) -> Void = { _ throws(BootError) in }) throws(BootError) {
        let image: ELFImage
        do { image = try ELFImage(bytes: bytes, arch: .x86_64) } catch { throw .image(error) }
        self.image = image
        guard let note = ELFNote.all(inELF: bytes).first(where: { $0.name == "Xen" && $0.type == PVHLayout.phys32EntryNote }),
              let entry = note.descriptor.u32(0) else {
            throw .image(.invalidHeader("the XEN_ELFNOTE_PHYS32_ENTRY note has no 32-bit entry"))
        }
        try validate(manifest)
        do { memorySize = try MemorySize(requestedBytes: options.memoryBytes, withRing: false) } catch { throw .memory(error) }
        let plan: LoadPlan
        do { plan = try LoadPlan(image: image, memSize: memorySize.guest) } catch { throw .image(error) }
        self.plan = plan
        let inText = plan.segments.contains { s in
            image.programHeaders[s.index].flags & ProgramHeader.flagX != 0 && UInt64(entry) >= s.vaddr
                && UInt64(entry) - s.vaddr < s.memsz
        }
        guard inText else {
            throw .image(.invalidHeader("the PVH entry \(hex(UInt64(entry))) is outside the executable segments"))
        }
        self.entry = UInt64(entry)
        let line = Array(options.guestArgumentBytes.map { $0 }.joined(separator: [0x20]))
        guard line.count < PVHLayout.commandLineSize else {
            throw .option("Guest command line too long (max=\(PVHLayout.commandLineSize - 1) characters)")
        }
        guard options.initrd == nil else { throw .option("--initrd is for arm64 Linux Images, not PVH images") }
        commandLine = line
    }

    public func loadImage(into memory: GuestMemory) throws(ImageError) {
        try plan.load(image, into: memory)
    }

    /// start_info (56 bytes: magic, version 1, flags, nr_modules, modlist, cmdline, rsdp, memmap, entries),
    /// the memory map (reserved below 1 MiB, RAM from 1 MiB to --mem) and the command line.
    public func writeBootData(into memory: GuestMemory, manifest: Manifest, attachment: ModuleAttachment,
                              cpuCycleFrequency: UInt64) throws(GuestAccessError) {
        var info: [UInt8] = []
        info.appendLE(PVHLayout.startInfoMagic); info.appendLE(UInt32(1)); info.appendLE(UInt32(0)); info.appendLE(UInt32(0))
        info.appendLE(UInt64(0)); info.appendLE(PVHLayout.commandLine); info.appendLE(UInt64(0))
        info.appendLE(PVHLayout.memoryMap); info.appendLE(UInt32(2)); info.appendLE(UInt32(0))
        try memory.write(info, at: GuestAddress(PVHLayout.startInfo))
        var map: [UInt8] = []
        for (addr, size, type) in [(UInt64(0), PVHLayout.ramStart, PVHLayout.memmapReserved),
                                   (PVHLayout.ramStart, memorySize.guest - PVHLayout.ramStart, PVHLayout.memmapRAM)] {
            map.appendLE(addr); map.appendLE(size); map.appendLE(type); map.appendLE(UInt32(0))
        }
        try memory.write(map, at: GuestAddress(PVHLayout.memoryMap))
        try memory.write(commandLine + [0], at: GuestAddress(PVHLayout.commandLine))
    }
}
