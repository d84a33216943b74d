// Platforms.swift: the targets `skiff build` knows, one row per architecture × platform pair.

/// One target of `skiff build`: everything that differs between targets.
/// The pipeline (Builder in SkiffBuild.swift) is the same for every row:
/// runtime (cached), application, link with `linkerScript`, `postLink`.
struct Platform: Equatable, Sendable {
    /// Guest platform (`--platform`): the boot protocol and the devices.
    var name: String
    /// CPU architecture (`--arch`).
    var arch: String
    var triple: String
    /// Default output suffix (`NAME.hvt`, `NAME.img`).
    var outputSuffix: String
    /// Runtime source directories under Guest/, compiled in this order: every
    /// `.c` and `.S` file in each. They are also the C include path.
    var runtimeDirectories: [String]
    /// The linker script, relative to Guest/.
    var linkerScript: String
    /// C compiler flags for this row only (the common ones are Builder's).
    var cFlags: [String]
    /// What to do with the linked ELF.
    var postLink: PostLink
    /// ld.lld flags for this row only (the common ones are Builder's).
    var linkFlags: [String] = []

    /// The C define that names the platform (`SKIFF_PLATFORM_HVT`): the build
    /// chooses the platform, C code never infers it from the architecture.
    var define: String { "SKIFF_PLATFORM_" + name.uppercased() }

    /// The Swift SDK of this row (`skiff-x86_64-hvt`): `swift build --swift-sdk NAME` (SwiftSDK.swift).
    var sdkName: String { "skiff-\(arch)-\(name)" }

    enum PostLink: Equatable, Sendable {
        /// hvt: page tables written into the image, then the hvt loader's
        /// checks (ImagePatcher.swift); OUT is the ELF.
        case hvtPageTables
        /// hvt without build-time page tables (aarch64: the runtime builds
        /// its own at start, Guest/platform/hvt/aarch64/early.c): only the
        /// hvt loader's checks (ImagePatcher.swift); OUT is the ELF.
        case hvtChecked
        /// Linux arm64 Image: OUT is the raw Image with its SKIFFIMG block
        /// (AArch64Image.swift), OUT.elf the linked ELF.
        case arm64Image
        /// x86_64 PVH ELF (Xen and QEMU -kernel): the PHYS32_ENTRY note's
        /// checks (PVHImage.swift); OUT is the ELF.
        case pvh
        /// Relocatable arm64 Image for Xen: OUT is the raw Image
        /// (XenArm64Image.swift), OUT.elf the linked static PIE.
        case xenArm64Image
    }
}

extension Platform {
    /// Every supported pair; the first row of an architecture is its default platform.
    static let all: [Platform] = [
        Platform(name: "hvt", arch: "x86_64", triple: "x86_64-unknown-none-elf", outputSuffix: ".hvt",
                 runtimeDirectories: ["arch/x86_64/cpl3", "arch/x86_64", "common", "platform/hvt", "platform/hvt/x86_64"],
                 linkerScript: "platform/hvt/x86_64/skiff.ld", cFlags: [], postLink: .hvtPageTables),
        // -mstrict-align: parts of the runtime run with the MMU off, where
        // memory is Device-nGnRnE and unaligned accesses fault.
        Platform(name: "virt", arch: "aarch64", triple: "aarch64-none-none-elf", outputSuffix: ".img",
                 runtimeDirectories: ["platform/virt/aarch64", "arch/aarch64/mmu-off", "arch/aarch64", "common",
                                      "platform/virt", "drivers/fdt", "drivers/gic", "drivers/pl011", "drivers/virtio"],
                 linkerScript: "platform/virt/aarch64/skiff.ld", cFlags: ["-mstrict-align"], postLink: .arm64Image),
        // After virt: aarch64's default platform stays virt, hvt's default
        // architecture x86_64. Entered at EL1 with the tender's MMU on, so
        // none of arch/aarch64/mmu-off and no -mstrict-align.
        Platform(name: "hvt", arch: "aarch64", triple: "aarch64-none-none-elf", outputSuffix: ".hvt",
                 runtimeDirectories: ["platform/hvt/aarch64", "arch/aarch64", "common", "platform/hvt"],
                 linkerScript: "platform/hvt/aarch64/skiff.ld", cFlags: [], postLink: .hvtChecked),
        // Xen PVH (dom0 or domU), also booted by QEMU's PVH loader without Xen
        // (docs/platform-xen.md). Its own entry (not arch/x86_64/cpl3) runs
        // the runtime at CPL0 under Xen, at CPL3 without; -mno-red-zone:
        // hypercalls are `call`s into the hypercall page, from any function.
        Platform(name: "xen", arch: "x86_64", triple: "x86_64-unknown-none-elf", outputSuffix: ".xen",
                 runtimeDirectories: ["platform/xen/x86_64", "arch/x86_64", "common", "platform/xen"],
                 linkerScript: "platform/xen/x86_64/skiff.ld", cFlags: ["-mno-red-zone"], postLink: .pvh),
        // Xen on arm64 (dom0, dom0less domU; docs/platform-xen.md): an arm64
        // Image entered with the MMU off like virt's (arch/aarch64/mmu-off,
        // -mstrict-align), but Xen loads dom0 wherever its RAM is, so the
        // image is a static PIE that relocates itself (xen/aarch64/head.S).
        Platform(name: "xen", arch: "aarch64", triple: "aarch64-none-none-elf", outputSuffix: ".img",
                 runtimeDirectories: ["platform/xen/aarch64", "arch/aarch64/mmu-off", "arch/aarch64", "common",
                                      "platform/xen", "drivers/fdt", "drivers/gic", "drivers/pl011"],
                 linkerScript: "platform/xen/aarch64/skiff.ld", cFlags: ["-mstrict-align"], postLink: .xenArm64Image,
                 linkFlags: ["-pie", "-z", "notext", "--apply-dynamic-relocs"]),
    ]

    static var architectures: [String] { all.map { $0.arch }.uniqued() }
    static var names: [String] { all.map { $0.name }.uniqued() }

    /// The row for `--arch` and `--platform` (either may be nil): a given
    /// architecture picks its default platform, a given platform its first
    /// architecture; neither gives x86_64 hvt. One line per error.
    static func select(arch: String?, platform: String?) throws(BuildError) -> Platform {
        if let arch, !architectures.contains(arch) {
            throw BuildError("--arch \(arch) is not supported (supported: \(architectures.joined(separator: ", ")))")
        }
        if let platform, !names.contains(platform) {
            throw BuildError("--platform \(platform) is not supported (supported: \(names.joined(separator: ", ")))")
        }
        let row = all.first { (arch == nil || $0.arch == arch) && (platform == nil || $0.name == platform) }
        guard let row else {
            let pairs = all.map { "--arch \($0.arch) --platform \($0.name)" }.joined(separator: ", ")
            throw BuildError("--arch \(arch ?? "") --platform \(platform ?? "") is not a supported pair (supported: \(pairs))")
        }
        return row
    }
}

extension Array where Element == String {
    func uniqued() -> [String] {
        var seen: [String] = []
        for s in self where !seen.contains(s) { seen.append(s) }
        return seen
    }
}
