// Monitor.swift: the embeddable monitor: options → checked image → devices → VM → run, with typed errors and no exit().

import Glibc
import CSkiffABI
import CSkiffLinux
import SkiffCore
import SkiffX86_64
import SkiffDevices
import SkiffKVM

/// Everything that can stop a run before or instead of a guest HALT. The
/// message is one line (two for unattached devices); the process status is 1.
public enum MonitorError: Error, Sendable {
    case options(OptionError)
    case image(file: String, ImageError)
    case memory(MemorySizeError)
    case commandLine(CommandLineTooLong)
    case devices(DeviceError)
    case backend(BackendError)
    case run(RunError)
    case setup(String)

    public var message: String {
        switch self {
        case .options(let e): return e.message
        case .image(let f, let e): return "\(f): \(e.message)"
        case .memory(let e): return e.message
        case .commandLine(let e): return e.message
        case .devices(let e): return e.message
        case .backend(let e): return e.message
        case .run(let e): return e.message
        case .setup(let s): return s
        }
    }

    /// The process exit status for this error (spec §4.4: 1 for every monitor error).
    public var exitStatus: Int32 { 1 }
}

/// The outcome of a finished run.
public struct RunResult: Sendable {
    public var halt: HaltStatus
    /// On abort with a cookie: the x86_64 trap frame the guest pointed at
    /// (cr2, ec, rip, cs, rflags, rsp, ss), if it could be read.
    public var trapFrame: [UInt64]?
}

/// Reads a whole regular file (at most `limit` bytes).
func readImage(_ path: String, limit: Int = 1 << 30) throws(ImageError) -> [UInt8] {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; the type check follows.
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { throw .cannotOpen(String(cString: strerror(errno))) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw .cannotOpen(String(cString: strerror(errno))) }
    guard (st.st_mode & S_IFMT) == S_IFREG else {
        throw .cannotOpen((st.st_mode & S_IFMT) == S_IFDIR ? "Is a directory" : "not a regular file")
    }
    guard st.st_size <= limit else { throw .invalidHeader("file larger than \(limit) bytes") }
    var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { throw .cannotOpen("short read") }
        done += n
    }
    return bytes
}

/// Runs hvt unikernels on Linux KVM (x86_64).
public struct Monitor {
    public var options: RunOptions
    /// Receives warnings (one line each, no prefix).
    public var warn: (String) -> Void

    public init(options: RunOptions, warn: @escaping (String) -> Void = { _ in }) {
        self.options = options
        self.warn = warn
    }

    /// Loads, checks and runs the guest until it halts. Never exits the process.
    public func run() throws(MonitorError) -> RunResult {
        let o = options
        // 1. The image: header, notes, manifest (before anything else exists).
        let image: ELFImage, manifest: Manifest
        do {
            let bytes = try readImage(o.kernel)
            image = try ELFImage(bytes: bytes, arch: .x86_64)
            try image.checkABINote()
            manifest = try image.manifest()
        } catch { throw .image(file: o.kernel, error) }
        // 2. Options against the manifest, command line, memory size, load plan.
        do { try DeviceSet.checkNames(o, against: manifest) } catch { throw .devices(error) }
        let cmdline: [UInt8]
        do { cmdline = try guestCommandLine(o.guestArgumentBytes) } catch { throw .commandLine(error) }
        let size: MemorySize
        do { size = try MemorySize(requestedBytes: o.memoryBytes, withRing: !o.nets.isEmpty) } catch { throw .memory(error) }
        if size.adjusted { warn("adjusting memory to \(size.guest) bytes") }
        let plan: LoadPlan
        do { plan = try LoadPlan(image: image, memSize: size.allocation) } catch { throw .image(file: o.kernel, error) }
        // 3. Devices (files and taps).
        let devices: DeviceSet
        do { devices = try DeviceSet(options: o, manifest: manifest) } catch { throw .devices(error) }
        defer { devices.flush() }
        // 4. Guest memory.
        let memory: GuestMemory
        do { memory = try GuestMemory(size: size.allocation) } catch {
            throw .setup("Could not allocate \(size.allocation) bytes of guest memory")
        }
        do { try plan.load(image, into: memory) } catch { throw .image(file: o.kernel, error) }
        if size.allocation > size.guest {
            memory.reserveTop(size.allocation - size.guest)
            try? memory.zero(at: GuestAddress(size.guest), count: UInt64(MemoryLayout<hvt_ring>.size))
        }
        var ring: NetRing? = nil
        // 5. The VM and its vCPU.
        let vm: KVMVirtualMachine
        let vcpu: KVMX86VCPU
        var boot = BootInfoWriter(memSize: size.guest, kernelEnd: plan.kernelEnd, cpuCycleFrequency: 0,
                                  manifest: devices.manifest, commandLine: cmdline)
        do {
            vm = try KVMVirtualMachine(memory: memory)
            boot.cpuCycleFrequency = try vm.tscFrequency()
            let tables = LowTables(allocationSize: size.allocation)
            try? memory.write(tables.bytes, at: GuestAddress(LowTables.base))
            if devices.hasNet && size.allocation > size.guest {
                ring = startNetRing(vm: vm, memory: memory, at: GuestAddress(size.guest), devices: devices)
                if ring != nil { boot.hostFeatures |= HVT_FEATURE_RING_IO; boot.netRing = size.guest } else {
                    warn("net ring I/O set-up failed, falling back to hypercalls")
                }
            }
            if devices.hasBlock { boot.hostFeatures |= SKIFF_FEATURE_BLOCK_RING }
            try? boot.write(to: memory)
            vcpu = try vm.makeX86VCPU(state: BootCPUState(entry: plan.entry, guestMemSize: size.guest))
            vcpu.ignoredPorts = o.ignoredPorts
        } catch { throw .backend(error) }
        defer { ring?.stop() }
        // 6. Hypercalls.
        var table = HypercallTable()
        registerCoreHypercalls(&table, memory: memory, netFDs: devices.netFDs)
        if devices.hasBlock {
            registerBlockHypercalls(&table, memory: memory, devices: devices.blocks)
            registerBlockRingHypercall(&table, memory: memory, devices: devices.blocks)
            vcpu.hypercallLimit = Hypercall.skiffBlockRing.rawValue + 1
        }
        if devices.hasNet { registerNetHypercalls(&table, memory: memory, devices: devices.nets) }
        var loop = RunLoop(memory: memory, vcpu: vcpu, table: table)
        loop.stopReason = {
            if let f = ring?.fatal, ring?.hasFailed == true { return .fault(f) }
            return pendingTerminationSignal().map { .signal($0) }
        }
        loop.haltHooks.append { _ in ring?.stop() }
        loop.haltHooks.append { _ in devices.flush() }
        vcpu.becomeSignalTarget()
        ring?.onFatal = { [unowned vcpu] in vcpu.kick() }
        // 7. Confine the monitor, then run.
        if o.sandbox {
            let forceViolation = getenv("SKIFF_TEST_FORBIDDEN_SYSCALL") != nil
            guard SandboxPolicy(block: devices.hasBlock, net: devices.hasNet).install() else {
                throw .setup("Could not install the seccomp sandbox: \(String(cString: strerror(errno)))")
            }
            if forceViolation { _ = getppid() }  // test hook: a call outside the allow-list
        }
        let halt: HaltStatus
        do { halt = try loop.run() } catch { throw .run(error) }
        var frame: [UInt64]? = nil
        if let c = halt.cookie, halt.processStatus == 255 {
            frame = (0..<7).compactMap { i in try? memory.load(UInt64.self, at: GuestAddress(c.rawValue + 8 * UInt64(i))) }
        }
        return RunResult(halt: halt, trapFrame: frame)
    }
}

/// Offers ring I/O (spec §11.1): needs KVM_CAP_IOEVENTFD, an eventfd on port 0x600 and the I/O thread.
func startNetRing(vm: KVMVirtualMachine, memory: GuestMemory, at gpa: GuestAddress, devices: DeviceSet) -> NetRing? {
    guard vm.hasCapability(KVM_CAP_IOEVENTFD), let ring = NetRing(memory: memory, at: gpa, devices: devices.nets) else {
        return nil
    }
    guard (try? vm.registerPortEvent(port: UInt64(HypercallPorts.ringKick), eventFD: ring.eventFD)) != nil, ring.start() else {
        return nil
    }
    return ring
}

extension Monitor {
    /// Makes SIGINT/SIGTERM end a running guest cleanly ("Exiting on signal N", status 1)
    /// and turns a closed stdout into a console write error (no SIGPIPE death).
    public static func installTerminationHandlers() {
        signal(SIGPIPE, SIG_IGN)
        SkiffKVM.installTerminationHandlers()
    }
}
