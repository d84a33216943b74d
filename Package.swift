// swift-tools-version:6.0
// Package.swift: the Skiff monitor (skiff run/build/inspect/bench) and its libraries; docs/architecture.md explains the targets.
import PackageDescription

let package = Package(
    name: "Skiff",
    products: [
        .executable(name: "skiff", targets: ["skiff"]),
        .executable(name: "skiff-hvt", targets: ["skiff-hvt"]),
        .library(name: "SkiffCore", targets: ["SkiffCore"]),
        .library(name: "SkiffMonitor", targets: ["SkiffMonitor"]),
        // Fuzz targets link these (scripts/fuzz builds them with -sanitize=fuzzer).
        .library(name: "SkiffImage", targets: ["SkiffImage"]),
        .library(name: "SkiffModules", targets: ["SkiffModules"]),
        .library(name: "SkiffBoot", targets: ["SkiffBoot"]),
        .library(name: "SkiffDebug", targets: ["SkiffDebug"]),
        // The guest TCP/IP stack's platform-independent core, for host tests and the fuzzer.
        .library(name: "SkiffNetCore", targets: ["SkiffNetCore"]),
    ],
    targets: [
        // C interfaces. The hvt ABI structs, shared with guests (C99, header only).
        .target(name: "CSkiffABI"),
        // libc, tun and seccomp wrappers Swift cannot import directly (any architecture).
        .target(name: "CSkiffLinux"),
        // KVM ioctl numbers and kvm_run accessors (per-architecture blocks).
        .target(name: "CSkiffKVM"),

        // The tender's path: no Foundation; typed throws; class-bound existentials only.
        // POSIX calls with raw buffers: files, argv, processes, threads, seccomp.
        .target(name: "SkiffHost", dependencies: ["CSkiffLinux"]),
        // The one image reader: ELF, notes, Solo5 manifest, arm64 Image header.
        .target(name: "SkiffImage", dependencies: ["SkiffHost"]),
        // Arch- and backend-independent core: guest memory, hypercall table, run loop, backend and module protocols, options.
        .target(name: "SkiffCore", dependencies: ["SkiffImage", "SkiffHost", "CSkiffABI", "CSkiffLinux"]),
        // Per-architecture layout, page tables, boot CPU state and hypercall transport (pure data).
        .target(name: "SkiffArchX86_64", dependencies: ["SkiffCore"]),
        .target(name: "SkiffArchAArch64", dependencies: ["SkiffCore"]),
        // Boot protocols: hvt today.
        .target(name: "SkiffBoot", dependencies: ["SkiffCore", "SkiffArchX86_64", "SkiffArchAArch64", "SkiffHost", "CSkiffABI"]),
        // Backends: Linux KVM (generic part + KVMVCPU+ARCH.swift).
        .target(name: "SkiffKVM", dependencies: ["SkiffCore", "SkiffArchX86_64", "SkiffArchAArch64", "CSkiffLinux", "CSkiffKVM"]),
        // Debugging, pure: ELF core files, the GDB remote serial protocol (framing, commands, register files, session).
        .target(name: "SkiffDebug", dependencies: ["SkiffCore"]),
        // Device and debug modules: core (console/clock/poll), block, net, dumpcore.
        .target(name: "SkiffModules", dependencies: ["SkiffCore", "SkiffDebug", "CSkiffLinux", "CSkiffABI"]),
        // The embeddable monitor: image → boot protocol → modules → backend → run loop.
        .target(name: "SkiffMonitor", dependencies: ["SkiffCore", "SkiffBoot", "SkiffModules", "SkiffKVM",
                                                     "SkiffArchX86_64", "CSkiffLinux"]),

        // Tools (may use more of the ecosystem; still no Foundation today).
        // aarch64 images on QEMU's virt machine: `skiff run` launches qemu-system-aarch64.
        .target(name: "SkiffQEMU", dependencies: ["SkiffCore", "SkiffModules"]),
        // Guest image builder (`skiff build`): drives swiftc, clang and ld.lld.
        .target(name: "SkiffBuild", dependencies: ["SkiffCore", "SkiffArchX86_64"]),
        // OCI images and the containerd runtime's config rewrite (`skiff oci`): JSON, SHA-256, tar; pure.
        .target(name: "SkiffOCI", dependencies: ["SkiffBuild"]),
        // The per-VM tender (solo5-hvt's command line); also built as Embedded Swift by scripts/build.
        .executableTarget(name: "skiff-hvt", dependencies: ["SkiffCore", "SkiffMonitor"]),
        .executableTarget(
            name: "skiff",
            dependencies: ["SkiffCore", "SkiffMonitor", "SkiffModules", "SkiffBuild", "SkiffQEMU", "SkiffOCI"]),

        // The guest TCP/IP stack's core (Guest/Net/Core), compiled for the host: the guest builds the
        // same files into its SkiffNet module (skiff build); here they are unit-tested and fuzzed.
        .target(name: "SkiffNetCore", path: "Guest/Net/Core"),

        // Unit tests mirror the library targets; helpers they share.
        .target(name: "SkiffTestSupport", dependencies: ["SkiffCore", "SkiffModules"], path: "Tests/SkiffTestSupport"),
        .testTarget(name: "SkiffImageTests", dependencies: ["SkiffTestSupport", "SkiffImage"]),
        .testTarget(name: "SkiffCoreTests", dependencies: ["SkiffTestSupport", "SkiffCore", "SkiffModules", "SkiffBoot"]),
        .testTarget(name: "SkiffArchTests", dependencies: ["SkiffTestSupport", "SkiffArchX86_64", "SkiffArchAArch64", "SkiffCore"]),
        .testTarget(name: "SkiffBootTests", dependencies: ["SkiffTestSupport", "SkiffBoot", "SkiffCore"]),
        .testTarget(name: "SkiffKVMTests", dependencies: ["SkiffKVM", "SkiffCore", "CSkiffKVM"]),
        .testTarget(name: "SkiffModulesTests", dependencies: ["SkiffTestSupport", "SkiffModules", "SkiffCore"]),
        .testTarget(name: "SkiffDebugTests", dependencies: ["SkiffTestSupport", "SkiffDebug", "SkiffModules", "SkiffCore",
                                                            "SkiffArchX86_64", "SkiffArchAArch64"]),
        .testTarget(name: "SkiffMonitorTests", dependencies: ["SkiffMonitor", "SkiffCore", "SkiffModules"]),
        .testTarget(name: "SkiffBuildTests", dependencies: ["SkiffBuild", "SkiffCore", "SkiffBoot"]),
        .testTarget(name: "SkiffQEMUTests", dependencies: ["SkiffQEMU", "SkiffCore"]),
        .testTarget(name: "SkiffOCITests", dependencies: ["SkiffOCI", "SkiffBuild"]),
        .testTarget(name: "SkiffNetTests", dependencies: ["SkiffNetCore"]),
    ]
)

// Documentation (scripts/docs: `swift package generate-documentation --target SkiffMonitor`): swift-docc-plugin
// only when SKIFF_DOCC is set, so ordinary builds (and CI's unit tests) resolve no package at all.
if Context.environment["SKIFF_DOCC"] != nil {
    package.dependencies.append(.package(url: "https://github.com/swiftlang/swift-docc-plugin", exact: "1.5.0"))
}
