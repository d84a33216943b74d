// swift-tools-version:6.0
// Package.swift: the Skiff monitor (skiff run/build/inspect/bench) and its libraries.
import PackageDescription

let package = Package(
    name: "Skiff",
    products: [
        .executable(name: "skiff", targets: ["skiff"]),
        .library(name: "SkiffCore", targets: ["SkiffCore"]),
        .library(name: "SkiffMonitor", targets: ["SkiffMonitor"]),
    ],
    targets: [
        // The hvt ABI structs, shared with guests (C99, header only).
        .target(name: "CSkiffABI"),
        // Linux/KVM system interface: ioctl wrappers and constants Swift cannot import.
        .target(name: "CSkiffLinux"),
        // Arch- and backend-independent core: guest memory, ELF/notes/manifest, hypercalls, run loop.
        .target(name: "SkiffCore", dependencies: ["CSkiffABI"]),
        // x86_64 layout, page tables, GDT and boot CPU state (pure data; no KVM).
        .target(name: "SkiffX86_64", dependencies: ["SkiffCore"]),
        // Host device modules: block (file), net (tap), console, clock.
        .target(name: "SkiffDevices", dependencies: ["SkiffCore", "CSkiffLinux"]),
        // The Linux KVM backend.
        .target(name: "SkiffKVM", dependencies: ["SkiffCore", "SkiffX86_64", "CSkiffLinux"]),
        // The embeddable monitor: options + image + devices + backend → a run with an exit status.
        .target(name: "SkiffMonitor", dependencies: ["SkiffCore", "SkiffX86_64", "SkiffDevices", "SkiffKVM", "CSkiffLinux"]),
        // aarch64 images on QEMU's virt machine: `skiff run` launches qemu-system-aarch64.
        .target(name: "SkiffQEMU", dependencies: ["SkiffCore", "SkiffDevices"]),
        // Guest image builder (`skiff build`): drives swiftc, clang and ld.lld.
        .target(name: "SkiffBuild", dependencies: ["SkiffCore"]),
        .executableTarget(
            name: "skiff",
            dependencies: ["SkiffCore", "SkiffMonitor", "SkiffBuild", "SkiffQEMU"]),
        .testTarget(name: "SkiffCoreTests", dependencies: ["SkiffCore", "SkiffX86_64", "SkiffDevices"]),
        .testTarget(name: "SkiffMonitorTests", dependencies: ["SkiffMonitor", "SkiffCore"]),
        .testTarget(name: "SkiffBuildTests", dependencies: ["SkiffBuild", "SkiffCore"]),
        .testTarget(name: "SkiffQEMUTests", dependencies: ["SkiffQEMU", "SkiffCore"]),
    ]
)
