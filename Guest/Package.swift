// swift-tools-version: 6.0
// Guest/Package.swift: the Skiff guest module as a Swift package, for unikernel packages (skiff init) to depend on.
//
// With a Skiff Swift SDK (`swift build --swift-sdk skiff-x86_64-hvt`, docs/swift-packages.md) the
// `Skiff` target is compiled as Embedded Swift for the platform; the SDK's link step adds the
// platform's C runtime (Guest/common, arch/, platform/, drivers/). Without an SDK (`swift build` on
// the host, which SourceKit-LSP does) `SkiffRuntime` is host/skiff_host.c, a hosted implementation of
// skiff_rt.h, so the same `Skiff` sources type-check, link and run on the host.

import PackageDescription

let package = Package(
    name: "Skiff",
    products: [
        .library(name: "Skiff", targets: ["Skiff"]),
    ],
    targets: [
        // skiff_rt.h as the clang module SkiffRuntime (include/module.modulemap); host/skiff_host.c
        // compiles to nothing for a Skiff platform.
        .target(name: "SkiffRuntime", path: ".", sources: ["host/skiff_host.c"], publicHeadersPath: "include"),
        .target(name: "Skiff", dependencies: ["SkiffRuntime"], path: "Skiff"),
    ]
)

// Documentation (scripts/docs: `swift package generate-documentation --target Skiff`): swift-docc-plugin
// only when SKIFF_DOCC is set, so the unikernel packages that depend on this one resolve nothing more.
if Context.environment["SKIFF_DOCC"] != nil {
    package.dependencies.append(.package(url: "https://github.com/swiftlang/swift-docc-plugin", exact: "1.5.0"))
}
