// Monitor.swift: the embeddable monitor: a short composition of image, boot protocol, modules, backend and run loop; typed errors, no exit().

import SkiffCore
import SkiffBoot
import SkiffModules
import SkiffKVM

/// Everything that can stop a run before or instead of a guest HALT. The
/// message is one line (two for unattached devices); the process status is 1.
public enum MonitorError: Error, Sendable {
    /// The command line or the options are invalid.
    case options(OptionError)
    /// The image `file` was refused (not an hvt ELF, bad notes, bad segments...).
    case image(file: String, ImageError)
    /// The memory size does not fit the image or the architecture.
    case memory(MemorySizeError)
    /// The guest command line is longer than the boot info allows.
    case commandLine(CommandLineTooLong)
    /// A device option names no manifest entry, or a declared device is not attached.
    case devices(DeviceError)
    /// The hypervisor (KVM) refused a request.
    case backend(BackendError)
    /// The run ended in a fault: an invalid hypercall, a guest address out of range.
    case run(RunError)
    /// Any other setup failure (a file or tap that cannot be opened), as its line.
    case setup(String)

    /// The error as one line (two for unattached devices), without a program prefix.
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
    /// How the guest halted: its status (255 for an abort).
    public var halt: HaltStatus
    /// On abort with a cookie: the x86_64 trap frame the guest pointed at
    /// (cr2, ec, rip, cs, rflags, rsp, ss), if it could be read.
    public var trapFrame: [UInt64]?
}

/// Runs hvt unikernels: image → boot protocol → modules → VM → run loop.
public struct Monitor {
    /// What to run and how: the image, its arguments, memory, devices, sandbox.
    public var options: RunOptions
    /// Receives warnings (one line each, no prefix).
    public var warn: (String) -> Void
    /// Receives the modules' other messages (where a core file went; one line each, no prefix).
    public var inform: (String) -> Void

    /// A monitor for one run of `options`; `warn` and `inform` receive its messages (default: dropped).
    public init(options: RunOptions, warn: @escaping (String) -> Void = { _ in }, inform: @escaping (String) -> Void = { _ in }) {
        self.options = options
        self.warn = warn
        self.inform = inform
    }

    /// Loads, checks and runs the guest until it halts. Never exits the process.
    public func run() throws(MonitorError) -> RunResult {
        let o = options
        // 1. The image and the boot protocol: every refusal before anything exists.
        let bytes: [UInt8]
        do { bytes = try ImageFile.read(o.kernel) } catch { throw .image(file: o.kernel, error) }
        let boot: any BootProtocol
        do throws(BootError) {
            boot = try BootProtocols.forHost(bytes, options: o) { (m) throws(BootError) in
                do throws(DeviceError) { try ModuleSet.checkNames(o, against: m) } catch { throw .devices(error) }
            }
        } catch { throw MonitorError(error, file: o.kernel) }
        if boot.memorySize.adjusted { warn("adjusting memory to \(boot.memorySize.guest) bytes") }
        // 2. Modules: open files and taps, attach them to the manifest copy.
        let setup = ModuleSetup(options: o, manifest: boot.manifest, warn: warn, inform: inform)
        let size = boot.memorySize
        if size.allocation > size.guest { setup.ringArea = GuestAddress(size.guest) }
        let modules: ModuleSet
        do { modules = try ModuleSet(setup: setup) } catch { throw .devices(error) }
        defer { modules.finish() }
        // 3. Guest memory and the image in it.
        let memory: GuestMemory
        do { memory = try GuestMemory(size: size.allocation) } catch {
            throw .setup("Could not allocate \(size.allocation) bytes of guest memory")
        }
        do { try boot.loadImage(into: memory) } catch { throw .image(file: o.kernel, error) }
        // 4. The VM, the modules' hypercalls and threads, the boot data, the vCPU (Monitor+ARCH.swift).
        let machine = try Machine(memory: memory, boot: boot, ignoredPorts: o.ignoredPorts)
        var table = HypercallTable()
        let attachment = modules.attach(table: &table, host: machine)
        do {
            try boot.writeBootData(into: memory, manifest: modules.manifest, attachment: attachment,
                                   cpuCycleFrequency: machine.cpuCycleFrequency)
        } catch { throw .setup("Could not write the boot data: \(error.message)") }
        let vcpu = try machine.makeVCPU(hypercallLimit: attachment.hypercallLimit)
        // 5. The run loop.
        var loop = RunLoop(memory: memory, vcpu: vcpu, table: table)
        let devices = try machine.platformDevices(modules: modules)
        loop.mmio = devices.bus
        loop.ports = devices.ports
        loop.stopReason = {
            if let f = modules.pendingFault { return .fault(f) }
            if let f = devices.fault { return .device(f) }
            return pendingTerminationSignal().map { .signal($0) }
        }
        loop.haltHooks.append { modules.guestHalted($0); modules.finish() }
        loop.faultHooks.append { modules.guestFaulted($0) }
        loop.debugger = attachment.debugger
        // What the host offers a debugger (the kind of KVM, hardware breakpoint slots) is asked on first use,
        // so a run without one makes none of those calls; with one, ask now, before the sandbox forbids them.
        if attachment.debugger != nil { _ = vcpu.debugCapabilities }
        // 6. Confine the monitor, then run.
        if o.sandbox {
            let forceViolation = getenv("SKIFF_TEST_FORBIDDEN_SYSCALL") != nil
            guard SandboxPolicy(moduleSyscalls: modules.syscalls).install() else {
                throw .setup("Could not install the seccomp sandbox: \(errnoString())")
            }
            if forceViolation { _ = getppid() }  // test hook: a call outside the allow-list
        }
        let halt: HaltStatus
        do { halt = try loop.run() } catch {
            _ = devices.finish()
            throw .run(error)
        }
        if let f = devices.finish() { throw .run(.device(f)) }
        withExtendedLifetime(machine) {}   // the VM (and what modules reach through it) outlives the run loop
        // The halt hook stopped the I/O threads and flushed the disks: a failure there (a frame
        // the final ring drain could not write, a flush the disk refused) is the run's error.
        if let f = modules.finish() ?? modules.finishError { throw .run(.fault(f)) }
        return RunResult(halt: halt, trapFrame: halt.processStatus == 255 ? Machine.trapFrame(halt.cookie, in: memory) : nil)
    }
}

extension MonitorError {
    /// A boot protocol's refusal of `file`.
    public init(_ e: BootError, file: String) {
        switch e {
        case .image(let i): self = .image(file: file, i)
        case .memory(let m): self = .memory(m)
        case .commandLine(let c): self = .commandLine(c)
        case .devices(let d): self = .devices(d)
        case .option(let m): self = .setup(m)
        }
    }
}

extension Monitor {
    /// Makes SIGINT/SIGTERM end a running guest cleanly ("Exiting on signal N", status 1)
    /// and turns a closed stdout into a console write error (no SIGPIPE death).
    public static func installTerminationHandlers() {
        cskiff_ignore_signal(SIGPIPE)
        cskiff_ignore_signal(SIGXFSZ)   // a write past RLIMIT_FSIZE fails with EFBIG instead of killing us
        SkiffKVM.installTerminationHandlers()
    }
}
