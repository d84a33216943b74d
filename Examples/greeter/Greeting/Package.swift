// swift-tools-version: 6.0
// Examples/greeter/Greeting: a plain Swift library (no Skiff, no Foundation), so it builds for the host
// and, inside a unikernel package, as Embedded Swift with a Skiff Swift SDK.

import PackageDescription

let package = Package(
    name: "Greeting",
    products: [.library(name: "Greeting", targets: ["Greeting"])],
    targets: [.target(name: "Greeting")]
)
