// NetRing.swift: the hvt network ring (HVT_FEATURE_RING_IO, spec §11): an I/O thread serving a shared ring.
//
// The guest queues NET_WRITE/NET_READ entries in `struct hvt_ring` at the top
// of its memory and kicks port 0x600 (an ioeventfd: no exit to user space)
// when the thread sleeps. Every field the guest can change is copied once
// (`loadEntry`) and checked on the copy; buffers are bounds-checked against
// the guest-usable memory, which excludes the ring itself.

import Glibc
import CSkiffLinux
import CSkiffABI
import SkiffCore

public final class NetRing: @unchecked Sendable {
    // Field offsets in struct hvt_ring (checked against the C header by a test).
    static let entTail = 0, comHead = 4, entHead = 64, comTail = 68, needsKick = 72
    static let entries = 128, commits = 32896, slots: UInt32 = 1024, spins = 4096

    public let address: GuestAddress
    public let eventFD: Int32
    let memory: GuestMemory
    let devices: [NetBackend?]
    // SAFETY: points at the 49280-byte ring inside `memory`'s allocation
    // (checked in init); `memory` outlives the thread (joined in `stop`).
    let base: UnsafeMutableRawPointer
    private var thread = pthread_t()
    private var running = false
    private let stopFlag = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    /// Set (once) by the I/O thread when the guest broke the ABI or host I/O failed.
    public private(set) var fatal: HypercallFault? = nil
    private let fatalSet = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    /// Called on the I/O thread after `fatal` is set, to stop the vCPU.
    public var onFatal: () -> Void = {}

    public init?(memory: GuestMemory, at address: GuestAddress, devices: [NetBackend?]) {
        guard (try? memory.checkAllocation(address, UInt64(MemoryLayout<hvt_ring>.size))) != nil else { return nil }
        let fd = eventfd(0, Int32(EFD_CLOEXEC))
        guard fd >= 0 else { return nil }
        self.address = address
        self.memory = memory
        self.devices = devices
        self.eventFD = fd
        base = memory.unsafeHostPointer(address)
        stopFlag.initialize(to: 0)
        fatalSet.initialize(to: 0)
    }

    deinit {
        stop()
        close(eventFD)
        stopFlag.deallocate()
        fatalSet.deallocate()
        startedFlag.deallocate()
    }

    /// True once the thread reported a fatal error (safe to call from any thread).
    public var hasFailed: Bool { cskiff_load_acquire_u32(fatalSet) != 0 }

    private let startedFlag = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)

    /// Starts the I/O thread and waits until it runs our code: by then the C
    /// library has made the thread's start-up system calls (rseq, sigaltstack),
    /// so the seccomp filter installed next never sees them.
    public func start() -> Bool {
        startedFlag.initialize(to: 0)
        let ctx = Unmanaged.passRetained(self).toOpaque()
        let r = pthread_create(&thread, nil, { ctx in
            let ring = Unmanaged<NetRing>.fromOpaque(ctx!).takeRetainedValue()
            cskiff_store_release_u32(ring.startedFlag, 1)
            ring.serve()
            return nil
        }, ctx)
        if r != 0 { Unmanaged<NetRing>.fromOpaque(ctx).release(); return false }
        running = true
        while cskiff_load_acquire_u32(startedFlag) == 0 { sched_yield() }
        return true
    }

    /// Stops and joins the I/O thread (the HALT hook).
    public func stop() {
        guard running else { return }
        running = false
        cskiff_store_release_u32(stopFlag, 1)
        var one: UInt64 = 1
        _ = write(eventFD, &one, 8)
        pthread_join(thread, nil)
    }

    // MARK: The I/O thread

    private func u32(_ off: Int) -> UInt32 { cskiff_load_acquire_u32(base + off) }
    private func setU32(_ off: Int, _ v: UInt32) { cskiff_store_release_u32(base + off, v) }
    private var stopping: Bool { cskiff_load_acquire_u32(stopFlag) != 0 }

    private func fail(_ f: HypercallFault) {
        fatal = f
        cskiff_store_release_u32(fatalSet, 1)
        onFatal()
    }

    /// Serves entries until stopped; after a stop request, whatever the guest
    /// queued before HALT is still served once (no frame written before HALT is lost).
    private func serve() {
        while !hasFailed {
            let finalPass = stopping
            var head = u32(Self.entHead)
            if !finalPass && !waitForEntries(head) { continue }
            let tail = u32(Self.entTail)
            if head == tail && finalPass { return }
            var pendingWrites: UInt32 = 0
            while head != tail {
                let e = (base + Self.entries + 32 * Int(head & (Self.slots - 1))).loadUnaligned(as: hvt_ring_entry.self)
                switch e.operation {
                case HVT_RING_NET_WRITE:
                    if let dev = device(e.handle) {
                        do { try transmit(dev, e) } catch { fail(error); return }
                    }
                    pendingWrites += 1
                    head &+= 1
                    continue
                case HVT_RING_NET_READ:
                    if pendingWrites > 0 { setU32(Self.entHead, head); pendingWrites = 0 }
                    let commit: hvt_ring_commit
                    do { commit = try receive(e) } catch { fail(error); return }
                    let ct = u32(Self.comTail)
                    (base + Self.commits + 16 * Int(ct & (Self.slots - 1))).storeBytes(of: commit, as: hvt_ring_commit.self)
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

    private func transmit(_ dev: NetBackend, _ e: hvt_ring_entry) throws(HypercallFault) {
        try memory.withGuestBuffer(GuestAddress(e.data), count: UInt64(e.len)) { (b) throws(HypercallFault) in
            var n: Int
            repeat { n = write(dev.fd, b.baseAddress, b.count) } while n < 0 && errno == EINTR
            if n < 0 { throw .hostIO("Fatal error when writing: \(String(cString: strerror(errno)))") }
            if n != b.count { throw .hostIO("Fatal error: wrote only \(n) out of \(b.count) bytes") }
        }
    }

    private func receive(_ e: hvt_ring_entry) throws(HypercallFault) -> hvt_ring_commit {
        var c = hvt_ring_commit(id: e.id, ret: HypercallResult.invalid.rawValue, len: 0, reserved: 0)
        guard let dev = device(e.handle) else { return c }
        let n: Int = try memory.withGuestBuffer(GuestAddress(e.data), count: UInt64(e.len)) { b in
            var n: Int
            repeat { n = read(dev.fd, b.baseAddress, b.count) } while n < 0 && errno == EINTR
            return n
        }
        if n > 0 {
            c.ret = HypercallResult.ok.rawValue
            c.len = UInt32(n)
        } else if n == 0 || errno == EAGAIN || errno == EWOULDBLOCK {
            c.ret = HypercallResult.again.rawValue
        }
        return c
    }
}
