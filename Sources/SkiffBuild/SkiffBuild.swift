// SkiffBuild.swift: PLACEHOLDER until the guest build driver lands (the runtime engineer replaces this file).
import Glibc

public func skiffBuildMain(_ args: [String]) -> Int32 {
    let m = "skiff build: not implemented yet\n"
    _ = m.withCString { write(2, $0, strlen($0)) }
    return 1
}
