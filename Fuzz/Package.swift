// swift-tools-version:6.0
// Fuzz/Package.swift: the libFuzzer targets, built from the root package's library products (scripts/fuzz builds them).
//
// Only meaningful with libFuzzer's main, so build it the way scripts/fuzz does:
//   swift build --package-path Fuzz -c release --scratch-path .build-fuzz/spm \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
// (-parse-as-library, as in swift-protobuf's FuzzTesting: no top-level code; each
// target defines `LLVMFuzzerTestOneInput`, and the `<Target>_main` that SwiftPM
// links as `main` runs libFuzzer's driver; see Support/FuzzSupport.swift.)
import PackageDescription

let package = Package(
    name: "SkiffFuzz",
    dependencies: [
        .package(name: "Skiff", path: ".."),
    ],
    targets: [
        // libFuzzer's LLVMFuzzerRunDriver (the library itself comes with -sanitize=fuzzer).
        .target(name: "CLibFuzzer", path: "CLibFuzzer"),
        // Invariant checks, little-endian field reads, guard pages around guest RAM, the entry point.
        .target(
            name: "FuzzSupport",
            dependencies: ["CLibFuzzer", .product(name: "SkiffCore", package: "Skiff")],
            path: "Support"),
    ] + [
        // The image reader and the hvt loader: ELF header, notes, manifest, load plan, load.
        ("ELFFuzz", "SkiffBoot"),
        // The hypercall handlers (core, block, net modules) and the run loop.
        ("HypercallFuzz", "SkiffModules"),
        // The gdb stub: packet reader, command decoder, session over a guarded guest.
        ("GDBFuzz", "SkiffDebug"),
        // The guest TCP/IP stack's parsers and state machine: hostile frames against a live connection.
        ("NetFuzz", "SkiffNetCore"),
    ].map { name, library in
        .executableTarget(
            name: name,
            dependencies: ["FuzzSupport", .product(name: "SkiffCore", package: "Skiff"), .product(name: library, package: "Skiff")],
            path: name)
    }
)
