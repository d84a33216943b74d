// Support.swift: helpers for the core tests: fixture paths, file reading, a scripted vCPU.

import Foundation
@testable import SkiffCore

/// The repository root, found from this source file's path.
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

func fixture(_ name: String) -> String { repositoryRoot + "/Tests/Fixtures/elf/" + name }

func readBytes(_ path: String) -> [UInt8] {
    (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))) ?? []
}

/// A vCPU that replays a list of exits, for driving the run loop without a hypervisor.
final class ScriptedVCPU: VirtualCPU {
    var exits: [VCPUExit]
    var pc: UInt64 = 0x100123
    let programCounterName = "rip"
    init(_ exits: [VCPUExit]) { self.exits = exits }
    func run() throws(BackendError) -> VCPUExit {
        guard !exits.isEmpty else { throw BackendError("script exhausted") }
        return exits.removeFirst()
    }
    func programCounter() -> UInt64 { pc }
}

extension Array where Element == UInt8 {
    func qword(_ o: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(self[o + $1]) << (8 * UInt64($1)) } }
}
