// NetRing.swift: the hvt network ring (HVT_FEATURE_RING_IO, spec §11): an I/O thread serving a ring shared with the guest.
//
// The guest queues NET_WRITE/NET_READ entries in `struct hvt_ring` at the top
// of its memory and kicks it (an ioeventfd on the architecture's kick address: no exit to user space)
// when the thread sleeps. Every field the guest can change is copied once
// (`load(_:at:scope: .allocation)`) and checked on the copy; buffers are bounds-checked against
// the guest-usable memory, which excludes the ring itself.

import CSkiffLinux
import CSkiffABI
import SkiffCore
import Synchronization

public final class NetRing: @unchecked Sendable {
    // Field offsets in struct hvt_ring (checked against the C header by a test).
    static let entTail: UInt64 = 0, comHead: UInt64 = 4, entHead: UInt64 = 64, comTail: UInt64 = 68, needsKick: UInt64 = 72
    static let entries: UInt64 = 128, commits: UInt64 = 32896, slots: UInt32 = 1024, spins = 4096

    public let address: GuestAddress
    public let eventFD: Int32
    let memory: GuestMemory
    let devices: [NetBackend?]
    private var thread: HostThread?
    private let stopFlag = Atomic<UInt32>(0)
    private let fatalSet = Atomic<UInt32>(0)
    /// Set (once) by the I/O thread when the guest broke the ABI or host I/O failed.
    public private(set) var fatal: HypercallFault? = nil
    /// Called on the I/O thread after `fatal` is set, to stop the vCPU.
    public var onFatal: () -> Void = {}

    public init?(memory: GuestMemory, at address: GuestAddress, devices: [NetBackend?]) {
        guard (try? memory.checkShared(address, UInt64(MemoryLayout<hvt_ring>.size))) != nil else { return nil }
        let fd = eventfd(0, Int32(EFD_CLOEXEC))
        guard fd >= 0 else { return nil }
        self.address = address
        self.memory = memory
        self.devices = devices
        self.eventFD = fd
    }

    deinit {
        stop()
        close(eventFD)
    }

    /// True once the thread reported a fatal error (safe to call from any thread).
    public var hasFailed: Bool { fatalSet.load(ordering: .acquiring) != 0 }

    /// Starts the I/O thread (before the seccomp filter is installed).
    public func start() -> Bool {
        thread = Host.startThread { [self] in serve() }
        return thread != nil
    }

    /// Stops and joins the I/O thread (the HALT hook); the thread's fatal error, if it had one
    /// (before the stop or in the final pass).
    @discardableResult
    public func stop() -> HypercallFault? {
        guard let t = thread else { return hasFailed ? fatal : nil }
        thread = nil
        stopFlag.store(1, ordering: .releasing)
        var one: UInt64 = 1
        _ = write(eventFD, &one, 8)
        t.join()
        return hasFailed ? fatal : nil
    }

    // MARK: The I/O thread

    private func u32(_ off: UInt64) -> UInt32 { memory.loadAcquire32(GuestAddress(address.rawValue + off)) }
    private func setU32(_ off: UInt64, _ v: UInt32) { memory.storeRelease32(GuestAddress(address.rawValue + off), v) }
    private var stopping: Bool { stopFlag.load(ordering: .acquiring) != 0 }

    private func fail(_ f: HypercallFault) {
        fatal = f
        fatalSet.store(1, ordering: .releasing)
        onFatal()
    }

    /// Serves entries until stopped; after a stop request, whatever the guest queued
    /// before HALT is still served once (no frame written before HALT is lost).
    ///
    /// `ent_head` is the thread's own counter (the guest may overwrite the shared
    /// copy; it is only published). Each pass serves at most the ring's 1024 slots
    /// and checks the stop request between entries, so a stop is honoured within
    /// one bounded final pass whatever the guest queued. More pending entries than
    /// slots (including a tail that went backwards) is a guest error.
    private func serve() {
        var head: UInt32 = 0
        while !hasFailed {
            let finalPass = stopping
            if !finalPass && !waitForEntries(head) { continue }
            let tail = u32(Self.entTail)
            let pending = tail &- head
            guard pending <= Self.slots else {
                fail(.invalidState("Invalid guest net ring: \(pending) entries pending (ent_tail \(tail), ent_head \(head); at most \(Self.slots))"))
                return
            }
            var pendingWrites: UInt32 = 0
            while head != tail {
                if !finalPass && stopping { break }   // the final pass serves the rest
                let slot = GuestAddress(address.rawValue + Self.entries + 32 * UInt64(head & (Self.slots - 1)))
                guard let e = try? memory.load(hvt_ring_entry.self, at: slot, scope: .allocation) else { return }
                switch e.operation {
                case HVT_RING_NET_WRITE:
                    if let dev = device(e.handle) {
                        do { try dev.transmit(memory: memory, GuestAddress(e.data), count: UInt64(e.len)) } catch { fail(error); return }
                    }
                    pendingWrites += 1
                    head &+= 1
                    continue
                case HVT_RING_NET_READ:
                    if pendingWrites > 0 { setU32(Self.entHead, head); pendingWrites = 0 }
                    let commit: hvt_ring_commit
                    do { commit = try receive(e) } catch { fail(error); return }
                    let ct = u32(Self.comTail)
                    let at = GuestAddress(address.rawValue + Self.commits + 16 * UInt64(ct & (Self.slots - 1)))
                    guard (try? memory.store(commit, at: at, scope: .allocation)) != nil else { return }
                    setU32(Self.comTail, ct &+ 1)
                default:
                    break  // unknown operation: retired without a commit
                }
                head &+= 1
                setU32(Self.entHead, head)
            }
            if pendingWrites > 0 { setU32(Self.entHead, head) }
            if finalPass { return }
        }
    }

    /// Spins, then sleeps on the eventfd until the guest has queued entries. False if woken with none.
    private func waitForEntries(_ head: UInt32) -> Bool {
        for _ in 0..<Self.spins {
            if u32(Self.entTail) != head { return true }
            cskiff_cpu_relax()
        }
        setU32(Self.needsKick, 1)
        cskiff_full_fence()
        if u32(Self.entTail) == head {
            var v: UInt64 = 0
            while read(eventFD, &v, 8) < 0 && errno == EINTR {}
        }
        setU32(Self.needsKick, 0)
        return u32(Self.entTail) != head
    }

    private func device(_ handle: UInt32) -> NetBackend? {
        Int(handle) < devices.count ? devices[Int(handle)] : nil
    }

    private func receive(_ e: hvt_ring_entry) throws(HypercallFault) -> hvt_ring_commit {
        var c = hvt_ring_commit(id: e.id, ret: HypercallResult.invalid.rawValue, len: 0, reserved: 0)
        guard let dev = device(e.handle) else { return c }
        let n = try dev.receive(memory: memory, GuestAddress(e.data), count: UInt64(e.len))
        if n < 0 { throw .hostIO("Fatal error when reading: \(errnoString())") }   // as NET_READ (was an EINVAL commit)
        if n > 0 {
            c.ret = HypercallResult.ok.rawValue
            c.len = UInt32(n)
        } else if n == 0 {
            c.ret = HypercallResult.again.rawValue
        }
        return c
    }
}
