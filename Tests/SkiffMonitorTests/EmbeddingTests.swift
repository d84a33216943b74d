// EmbeddingTests.swift: the monitor as a library: refusals come back as typed errors (the process never exits).

import Testing
import Glibc
import SkiffCore
import SkiffMonitor

let root: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

@Test func missingKernelIsATypedError() {
    do {
        _ = try Monitor(options: RunOptions(kernel: "/nonexistent/k.hvt")).run()
        Issue.record("ran a missing kernel")
    } catch {
        guard case .image(let file, .cannotOpen) = error else { Issue.record("\(error)"); return }
        #expect(file == "/nonexistent/k.hvt")
        #expect(error.message == "/nonexistent/k.hvt: Could not open: No such file or directory")
        #expect(error.exitStatus == 1)
    }
}

@Test func badImageIsRefusedBeforeAnyVM() {
    let path = root + "/Tests/Fixtures/elf/abi_version_3.elf"
    do {
        _ = try Monitor(options: RunOptions(kernel: path)).run()
        Issue.record("ran a bad image")
    } catch {
        #expect(error.message.hasSuffix("Executable requests unsupported ABI version 3"))
    }
}

@Test func undeclaredDeviceIsRefused() {
    var o = RunOptions(kernel: root + "/Tests/Fixtures/elf/ok_baseline.elf")
    o.blocks = [.init(name: "nope", value: "/dev/null")]
    var warnings: [String] = []
    do {
        _ = try Monitor(options: o, warn: { warnings.append($0) }).run()
        Issue.record("accepted an undeclared device")
    } catch {
        #expect(error.message == "Resource not declared in manifest: 'nope'")
    }
}

@Test func imageInfoReadsNotes() throws {
    let info = try ImageInfo(path: root + "/Tests/Fixtures/elf/ok_two_devices.elf")
    #expect(info.architecture == .x86_64)
    #expect(info.manifest.devices.map(\.name) == ["storage", "service0"])
}
