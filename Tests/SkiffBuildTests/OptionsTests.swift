// OptionsTests.swift: `skiff build` command-line parsing.

import Glibc
import Testing
@testable import SkiffBuild

@Test func buildOptions() throws {
    #expect(try BuildOptions.parse(["Examples/hello", "-o", "out/hello.hvt"])
            == BuildOptions(source: "Examples/hello", output: "out/hello.hvt"))
    #expect(try BuildOptions.parse(["--verbose", "-oX.hvt", "--arch", "x86_64", "a.swift"])
            == BuildOptions(source: "a.swift", output: "X.hvt", arch: "x86_64", verbose: true))
    #expect(try BuildOptions.parse(["dir/app.swift"]).output == "app.hvt")
    #expect(try BuildOptions.parse(["Examples/hello/"]).output == "hello.hvt")
    #expect(try BuildOptions.parse(["--arch=x86_64", "p", "--output=o"]).output == "o")
}

@Test func buildOptionErrors() {
    func message(_ args: [String]) -> String? {
        do { _ = try BuildOptions.parse(args); return nil } catch { return error.message }
    }
    // No PATH: the current directory if it is a package (swift test runs in the repository, a
    // package of many targets, which skiff build refuses), else an error.
    if access("Package.swift", F_OK) == 0 {
        let m = message([]) ?? ""
        #expect(m.hasPrefix("./Sources: ") && m.contains(" targets ("), "\(m)")
    } else {
        #expect(message([]) == "missing PATH (a package, a .swift file or a directory)")
    }
    #expect(message(["a", "b"]) == "more than one PATH (a, b)")
    #expect(message(["a", "-o"]) == "-o needs a value")
    #expect(message(["a", "--arch", "riscv64"]) == "--arch riscv64 is not supported (supported: x86_64, aarch64)")
    #expect(message(["a", "--frobnicate"]) == "unknown option --frobnicate")
    #expect(message(["a", "--platform", "spt"]) == "--platform spt is not supported (supported: hvt, virt, xen)")
    #expect(message(["a", "--arch", "x86_64", "--platform", "virt"])
            == "--arch x86_64 --platform virt is not a supported pair (supported: --arch x86_64 --platform hvt, --arch aarch64 --platform virt, --arch aarch64 --platform hvt, --arch x86_64 --platform xen, --arch aarch64 --platform xen)")
}

@Test func platformSelection() throws {
    #expect(try BuildOptions.parse(["a"]).platform == "hvt")
    let a64 = try BuildOptions.parse(["--arch", "aarch64", "dir/app"])
    #expect(a64.platform == "virt" && a64.arch == "aarch64" && a64.output == "app.img")
    let virt = try BuildOptions.parse(["--platform=virt", "app.swift"])
    #expect(virt.arch == "aarch64" && virt.output == "app.img")
    #expect(try BuildOptions.parse(["--platform", "hvt", "--arch=x86_64", "a"]).output == "a.hvt")
    // Xen: x86_64 is its first architecture; the defaults of each architecture are unchanged.
    let xen = try BuildOptions.parse(["--platform", "xen", "app.swift"])
    #expect(xen.arch == "x86_64" && xen.output == "app.xen")
    let xenA64 = try BuildOptions.parse(["--platform", "xen", "--arch", "aarch64", "app.swift"])
    #expect(xenA64.arch == "aarch64" && xenA64.platform == "xen" && xenA64.output == "app.img")
}

@Test func buildMainReportsErrorsWithStatusOne() {
    #expect(skiffBuildMain([]) == 1)
    #expect(skiffBuildMain(["/nonexistent/app", "-o", "/tmp/x.hvt"]) == 1)
}

@Test func stackSize() throws {
    #expect(try BuildOptions.parse(["a"]).stackSize == 1 << 20)
    #expect(try BuildOptions.parse(["a", "--stack-size", "64K"]).stackSize == 64 << 10)
    #expect(try BuildOptions.parse(["a", "--stack-size=8M"]).stackSize == 8 << 20)
    #expect(try BuildOptions.parse(["a", "--stack-size=65536"]).stackSize == 65536)
    for bad in ["12K", "1000", "2048M", "x", "", "-4K"] {
        #expect(throws: BuildError.self, "\(bad)") { try BuildOptions.parse(["a", "--stack-size", bad]) }
    }
}

@Test func debugInfoOption() throws {
    #expect(try BuildOptions.parse(["a"]).debugInfo == false)
    #expect(try BuildOptions.parse(["a", "-g"]).debugInfo)
    #expect(try BuildOptions.parse(["-g", "a", "-o", "b.hvt"]).debugInfo)
    #expect(try BuildOptions.parse(["a", "--debug-info"]).debugInfo)
    #expect(BuildOptions.usage.contains("-g"))
}
