// swift-tools-version: 6.0
// Examples/greeter: a unikernel package whose executable depends on the Skiff module and on another
// local package (Greeting), built by SwiftPM with a Skiff Swift SDK (docs/swift-packages.md):
//
//   swift build --swift-sdk skiff-x86_64-hvt && skiff run .build/x86_64-unknown-none-elf/debug/greeter a b
//   swift build            (the host: type-checks against the Skiff API; runs without devices)
//
// The Skiff package is named by path: ../../Guest in this tree; `skiff init` writes the installed
// PREFIX/share/skiff/Guest instead.
// skiff-platform: x86_64-hvt

import PackageDescription

let package = Package(
    name: "greeter",
    dependencies: [
        .package(path: "../../Guest"),
        .package(path: "Greeting"),
    ],
    targets: [
        .executableTarget(name: "greeter", dependencies: [
            .product(name: "Skiff", package: "Guest"),
            .product(name: "Greeting", package: "Greeting"),
        ]),
    ]
)
