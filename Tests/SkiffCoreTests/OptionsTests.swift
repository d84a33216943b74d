// OptionsTests.swift: the solo5-hvt command line: two passes, devices, memory, errors.

import Testing
@testable import SkiffCore
import SkiffModules
import SkiffBoot

@Test func parsesSolo5Syntax() throws {
    let o = try RunOptions.parse(["--mem=64", "--block:storage=/tmp/d.img", "--block-sector-size:storage=4096",
                                  "--net:service0=tap0", "--net-mac:service0=02:00:00:00:00:01", "--", "k.hvt", "--mem=8", "x"])
    #expect(o.kernel == "k.hvt")
    #expect(o.guestArguments == ["--mem=8", "x"])
    #expect(o.memoryBytes == 64 << 20)
    #expect(o.blocks == [.init(name: "storage", value: "/tmp/d.img")])
    #expect(o.blockSectorSizes == [.init(name: "storage", value: "4096")])
    #expect(o.nets == [.init(name: "service0", value: "tap0")])
    #expect(o.netMACs.count == 1)
}

@Test func kernelWithoutDashDash() throws {
    let o = try RunOptions.parse(["--mem=2.5", "k.hvt", "a", "--block:x=y"])
    #expect(o.memoryBytes == 2 << 20)   // trailing garbage ignored, like strtoll
    #expect(o.guestArguments == ["a", "--block:x=y"])
    #expect(o.blocks.isEmpty)
}

@Test func optionErrors() {
    #expect(throws: OptionError.missingKernel) { try RunOptions.parse([]) }
    #expect(throws: OptionError.missingKernel) { try RunOptions.parse(["--mem=4"]) }
    #expect(throws: OptionError.help) { try RunOptions.parse(["--help", "k"]) }
    #expect(throws: OptionError.version) { try RunOptions.parse(["--version"]) }
    #expect(throws: OptionError.malformedMemory) { try RunOptions.parse(["--mem=0", "k"]) }
    #expect(throws: OptionError.malformedMemory) { try RunOptions.parse(["--mem=abc", "k"]) }
    #expect(throws: OptionError.invalidOption("--frob")) { try RunOptions.parse(["--frob", "k"]) }
    #expect(throws: OptionError.invalidOption("--block:bad-name=x")) { try RunOptions.parse(["--block:bad-name=x", "k"]) }
    #expect(throws: OptionError.invalidOption("--block:x=")) { try RunOptions.parse(["--block:x=", "k"]) }
    for bad in ["521", "256", "65536", "0", "x"] {
        #expect(throws: OptionError.badSectorSize("--block-sector-size:s=\(bad)")) {
            try RunOptions.parse(["--block-sector-size:s=\(bad)", "k"])
        }
    }
    #expect(throws: OptionError.badMAC("--net-mac:n=zz:00:00:00:00:00")) { try RunOptions.parse(["--net-mac:n=zz:00:00:00:00:00", "k"]) }
    #expect(OptionError.invalidOption("--frob").message == "Invalid option: `--frob'")
}

@Test func negativeMemoryIsTooLarge() throws {
    let o = try RunOptions.parse(["--mem=-1", "k"])
    #expect(throws: MemorySizeError.self) { try MemorySize(requestedBytes: o.memoryBytes, withRing: false) }
}

@Test func deviceNames() {
    #expect(isValidDeviceName("storage0"))
    #expect(isValidDeviceName(Substring(String(repeating: "a", count: 67))))
    #expect(!isValidDeviceName(Substring(String(repeating: "a", count: 68))))
    #expect(!isValidDeviceName(""))
    #expect(!isValidDeviceName("a_b"))
    #expect(parseMAC("02:00:0a:ff:00:01") == [2, 0, 10, 255, 0, 1])
    #expect(parseMAC("02:00:0a:ff:00") == nil)
}

@Test func benchPort() throws {
    #expect(try RunOptions.parse(["--bench-port=0x510", "k"]).ignoredPorts == [0x510])
    #expect(throws: OptionError.invalidOption("--bench-port=0x502")) { try RunOptions.parse(["--bench-port=0x502", "k"]) }
    #expect(throws: OptionError.invalidOption("--bench-port=0x600")) { try RunOptions.parse(["--bench-port=0x600", "k"]) }
}
