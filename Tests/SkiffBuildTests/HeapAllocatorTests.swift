// HeapAllocatorTests.swift: runs the guest heap's host unit test (Guest/tests/heap_test.c) with the host C compiler.

import Glibc
import Testing

let repositoryRoot: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

/// Runs `/bin/sh -c script`, returning the exit status.
func shell(_ script: String) -> Int32 {
    var pid: pid_t = 0
    let args: [String] = ["/bin/sh", "-c", script]
    let argv = args.map { strdup($0) }
    defer { argv.forEach { free($0) } }
    var cargv: [UnsafeMutablePointer<CChar>?] = argv
    cargv.append(nil)
    guard posix_spawn(&pid, "/bin/sh", nil, nil, &cargv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status >> 8) & 0xff
}

@Test func guestHeapAllocator() throws {
    let cc = ["cc", "gcc", "clang"].first { shell("command -v \($0) >/dev/null 2>&1") == 0 }
    try #require(cc != nil, "no host C compiler")
    let dir = "/tmp/skiff-heap-test-\(getpid())"
    defer { _ = shell("rm -rf \(dir)") }
    let src = repositoryRoot + "/Guest/tests/heap_test.c"
    #expect(shell("mkdir -p \(dir) && \(cc!) -O2 -g -Wall -Werror -o \(dir)/heap_test '\(src)'") == 0)
    #expect(shell("\(dir)/heap_test > \(dir)/out.txt 2>&1; s=$?; cat \(dir)/out.txt; exit $s") == 0)
}
