// Console.swift: the always-present hypercalls: PUTS (console), WALLTIME (clock) and POLL (wait for net input).

import Glibc
import CSkiffLinux
import CSkiffABI
import SkiffCore

/// Registers PUTS, WALLTIME and POLL. `netFDs` are the tap fds with their handles.
public func registerCoreHypercalls(
    _ table: inout HypercallTable, memory: GuestMemory, console: Int32 = 1, netFDs: [(handle: Int, fd: Int32)]
) {
    try! table.register(.walltime) { (arg) throws(HypercallFault) in
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let ns = UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
        try memory.result(ns, at: arg, offset: 0)
    }
    try! table.register(.puts) { (arg) throws(HypercallFault) in
        let p = try memory.argument(hvt_hc_puts.self, at: arg)
        try memory.withGuestBuffer(GuestAddress(p.data), count: p.len) { (b) throws(HypercallFault) in
            var off = 0
            while off < b.count {
                let n = write(console, b.baseAddress! + off, b.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw .hostIO("Fatal error when writing to the console: \(String(cString: strerror(errno)))")
                }
                off += n
            }
        }
    }
    var pfds = netFDs.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
    let handles = netFDs.map(\.handle)
    try! table.register(.poll) { (arg) throws(HypercallFault) in
        let p = try memory.argument(hvt_hc_poll.self, at: arg)
        let secs = p.timeout_nsecs / 1_000_000_000
        var ts = timespec(tv_sec: Int(min(secs, UInt64(Int32.max))), tv_nsec: Int(p.timeout_nsecs % 1_000_000_000))
        for i in pfds.indices { pfds[i].revents = 0 }
        let n = pfds.withUnsafeMutableBufferPointer { cskiff_ppoll($0.baseAddress, UInt($0.count), &ts) }
        var ready: UInt64 = 0
        var count: Int32 = 0
        if n > 0 {
            for (i, pfd) in pfds.enumerated() where pfd.revents & Int16(POLLIN) != 0 {
                ready |= 1 << UInt64(handles[i])
                count += 1
            }
        }
        try memory.result(ready, at: arg, offset: 8)
        try memory.result(count, at: arg, offset: 16)
    }
}
