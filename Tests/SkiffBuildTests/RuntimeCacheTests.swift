// RuntimeCacheTests.swift: the runtime cache key follows its inputs; FNV-1a is framed per item.

import Testing
@testable import SkiffBuild

@Test func fnvFramesItems() {
    var a = FNV1a(), b = FNV1a(), c = FNV1a()
    a.add("ab"); a.add("c")
    b.add("a"); b.add("bc")
    c.add("ab"); c.add("c")
    #expect(a.value != b.value)
    #expect(a.value == c.value)
}

@Test func cacheKeyDependsOnFlagsAndRuntime() throws {
    let runtime = RuntimeSources(root: repositoryRoot, platform: Platform.all[0])
    let tools = Toolchain(swiftc: "/bin/sh", clang: "/bin/sh", lld: "/bin/sh", unicodeTables: nil)
    let k1 = try RuntimeCache.key(runtime: runtime, tools: tools, flags: ["-O"])
    let k2 = try RuntimeCache.key(runtime: runtime, tools: tools, flags: ["-O"])
    let k3 = try RuntimeCache.key(runtime: runtime, tools: tools, flags: ["-Osize"])
    #expect(k1 == k2)
    #expect(k1 != k3)
    let inputs = try runtime.inputFiles()
    #expect(inputs.contains(repositoryRoot + "/Guest/arch/x86_64/cpl3/start.S"))
    #expect(inputs.contains(repositoryRoot + "/Guest/common/heap.c"))
    #expect(inputs.contains(repositoryRoot + "/Sources/CSkiffABI/include/hvt_abi.h"))
    #expect(try runtime.objectNames().first == "arch-x86_64-cpl3-start.o")
    #expect(try runtime.objectNames().suffix(2) == ["Skiff.o", "SkiffNet.o"])
    #expect(inputs.contains(repositoryRoot + "/Guest/Net/Core/TCP.swift"))
    #expect(inputs.contains(repositoryRoot + "/Guest/Net/Network.swift"))
    // The platform row is part of the key: same sources, other row, other key.
    let virt = RuntimeSources(root: repositoryRoot, platform: Platform.all[1])
    #expect(try RuntimeCache.key(runtime: virt, tools: tools, flags: ["-O"]) != k1)
    let names = try virt.objectNames()
    #expect(Set(names).count == names.count)      // common/string.c and arch/*/string.c both link
}
