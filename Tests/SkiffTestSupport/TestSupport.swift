// TestSupport.swift: helpers shared by the unit tests: fixture paths, file reading, a scripted vCPU, a pipe for stdout, byte reads.

import Foundation
import SkiffCore
import SkiffModules

/// The repository root, found from this source file's path.
public let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

public func fixture(_ name: String) -> String { repositoryRoot + "/Tests/Fixtures/elf/" + name }

public func readBytes(_ path: String) -> [UInt8] {
    (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))) ?? []
}

/// A vCPU that replays a list of exits, for driving the run loop without a hypervisor.
public final class ScriptedVCPU: VirtualCPU {
    public var exits: [VCPUExit]
    public var pc: UInt64 = 0x100123
    public let programCounterName = "rip"
    /// The values MMIO reads were completed with, in order.
    public var mmioReads: [UInt64] = []
    public init(_ exits: [VCPUExit]) { self.exits = exits }
    public func run() throws(BackendError) -> VCPUExit {
        guard !exits.isEmpty else { throw BackendError("script exhausted") }
        return exits.removeFirst()
    }
    public func programCounter() -> UInt64 { pc }
    public func completeMMIORead(_ value: UInt64) { mmioReads.append(value) }
}

/// A pipe standing in for stdout.
public struct Pipe {
    public let r: Int32, w: Int32
    public init() { var fds: [Int32] = [0, 0]; _ = pipe(&fds); r = fds[0]; w = fds[1]; _ = fcntl(r, F_SETFL, O_NONBLOCK) }
    public func drain() -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = read(r, &buf, buf.count)
        return n > 0 ? Array(buf[0..<n]) : []
    }
}

extension Array where Element == UInt8 {
    public func qword(_ o: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(self[o + $1]) << (8 * UInt64($1)) } }
}

/// A small guest (4 MiB) and the argument block address the hypercall tests use.
public let memSize: UInt64 = 4 << 20
public let argAt = GuestAddress(0x200000)

public func makeGuest() throws -> GuestMemory { try GuestMemory(size: memSize) }

/// A table with the core module's hypercalls (PUTS to `console`).
public func coreTable(_ mem: GuestMemory, console: Int32) -> HypercallTable {
    var t = HypercallTable()
    CoreModule.registerHypercalls(&t, memory: mem, console: console, pollFDs: [])
    return t
}
