// CoreModule.swift: the always-present hypercalls: PUTS (console), WALLTIME (clock) and POLL (wait for input on the net devices).

import CSkiffLinux
import CSkiffABI
import SkiffCore

/// hvt_core: console, clock and poll. POLL waits on the descriptors other modules registered.
public final class CoreModule: MonitorModule {
    public static let descriptor = ModuleDescriptor(
        name: "core", usage: "", parseOption: { _, _ in false }, make: { _ in CoreModule() })

    /// Where PUTS writes (stdout).
    let console: Int32

    public init(console: Int32 = 1) { self.console = console }

    public var syscalls: [Int] { [Int(SYS_write), Int(SYS_ppoll), Int(SYS_clock_gettime), Int(SYS_clock_nanosleep)] }

    public func attach(table: inout HypercallTable, host: any ModuleHost, setup: ModuleSetup) -> ModuleAttachment {
        Self.registerHypercalls(&table, memory: host.memory, console: console, pollFDs: setup.pollFDs)
        return ModuleAttachment()
    }

    /// Registers PUTS, WALLTIME and POLL.
    public static func registerHypercalls(_ table: inout HypercallTable, memory: GuestMemory, console: Int32 = 1,
                                          pollFDs: [(handle: Int, fd: Int32)]) {
        try! table.register(.walltime) { (arg) throws(HypercallFault) in
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            let ns = UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
            try memory.result(ns, at: arg, offset: 0)
        }
        try! table.register(.puts) { (arg) throws(HypercallFault) in
            let p = try memory.argument(hvt_hc_puts.self, at: arg)
            try memory.checkBuffer(GuestAddress(p.data), count: p.len)
            var off: UInt64 = 0
            while off < p.len {
                let n: Int
                do throws(GuestAccessError) { n = try memory.write(to: console, from: GuestAddress(p.data + off), count: p.len - off) } catch { throw error.fault() }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw .hostIO("Fatal error when writing to the console: \(errnoString())")
                }
                off += UInt64(n)
            }
        }
        var pfds = pollFDs.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        let handles = pollFDs.map { $0.handle }
        try! table.register(.poll) { (arg) throws(HypercallFault) in
            let p = try memory.argument(hvt_hc_poll.self, at: arg)
            let secs = p.timeout_nsecs / 1_000_000_000
            var ts = timespec(tv_sec: Int(min(secs, UInt64(Int32.max))), tv_nsec: Int(p.timeout_nsecs % 1_000_000_000))
            for i in pfds.indices { pfds[i].revents = 0 }
            let n = cskiff_ppoll(&pfds, UInt(pfds.count), &ts)
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
}
