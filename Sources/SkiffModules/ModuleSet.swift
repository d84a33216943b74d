// ModuleSet.swift: the monitor's modules (the list to extend) and the set one run uses: checks, opening, attaching, finishing.

import SkiffCore

public enum MonitorModules {
    /// Every module of the monitor, in option-parsing, usage and attach order. A new module
    /// (a device, `--gdb`, `--dumpcore`) is one file with a `descriptor` and one line here.
    public static let all: [ModuleDescriptor] = [
        CoreModule.descriptor,
        BlockModule.descriptor,
        NetModule.descriptor,
        DumpCoreModule.descriptor,
        GDBModule.descriptor,
    ]
}

extension RunOptions {
    /// Parses a `skiff run` / solo5-hvt command line with every module's options.
    public static func parse(_ args: [String]) throws(OptionError) -> RunOptions {
        try parse(args, modules: MonitorModules.all)
    }

    /// `skiff run --help` (or `skiff-hvt --help` with `command: "skiff-hvt"`).
    public static func usage(command: String = "skiff run") -> String { usage(command: command, modules: MonitorModules.all) }
}

/// The modules taking part in one run, with the manifest copy they attached their devices to.
public final class ModuleSet {
    public let setup: ModuleSetup
    public private(set) var modules: [any MonitorModule] = []
    /// The modules this set was made from (what `checkNames` and option parsing use).
    public let descriptors: [ModuleDescriptor]
    private var finished = false

    /// Checks names only (before any file or tap is opened): every given name is
    /// declared with the right type, given once.
    public static func checkNames(_ o: RunOptions, against manifest: Manifest) throws(DeviceError) {
        try ModuleDescriptor.checkDeviceNames(o, against: manifest, modules: MonitorModules.all)
    }

    /// Opens every module's devices; throws if any declared device is left unattached.
    public init(setup: ModuleSetup, descriptors: [ModuleDescriptor] = MonitorModules.all) throws(DeviceError) {
        self.descriptors = descriptors
        self.setup = setup
        try ModuleDescriptor.checkDeviceNames(setup.options, against: setup.manifest, modules: descriptors)
        for d in descriptors {
            if let m = try d.make(setup) { modules.append(m) }
        }
        try ModuleDescriptor.checkAllAttached(setup.manifest)
    }

    public var manifest: Manifest { setup.manifest }

    /// The opened tap of net device `name` (for machines that put it behind virtio-mmio).
    public func netBackend(named name: String) -> NetBackend? {
        guard let h = manifest.handle(named: name) else { return nil }
        for m in modules { if let n = m as? NetModule, h < n.devices.count { return n.devices[h] } }
        return nil
    }

    /// The opened backing file of block device `name` (for machines that put it behind virtio-mmio).
    public func blockBackend(named name: String) -> BlockBackend? {
        guard let h = manifest.handle(named: name) else { return nil }
        for m in modules { if let b = m as? BlockModule, h < b.devices.count { return b.devices[h] } }
        return nil
    }

    /// Every module's system calls.
    public var syscalls: [Int] { modules.flatMap { $0.syscalls } }

    /// Attaches every module to the run: hypercalls, I/O threads; their contributions merged.
    public func attach(table: inout HypercallTable, host: any ModuleHost) -> ModuleAttachment {
        var all = ModuleAttachment()
        for m in modules {
            let a = m.attach(table: &table, host: host, setup: setup)
            all.hostFeatures |= a.hostFeatures
            all.netRing = all.netRing ?? a.netRing
            all.debugger = all.debugger ?? a.debugger
            if let l = a.hypercallLimit { all.hypercallLimit = max(all.hypercallLimit ?? 0, l) }
        }
        return all
    }

    /// Tells every module the guest faulted (the run loop's fault hook).
    public func guestFaulted(_ fault: GuestFault) {
        for m in modules { m.guestFaulted(fault) }
    }

    /// Tells every module the guest halted (the run loop's halt hook, before `finish`).
    public func guestHalted(_ halt: HaltStatus) {
        for m in modules { m.guestHalted(halt) }
    }

    /// A fatal error an I/O thread found, if any.
    public var pendingFault: HypercallFault? {
        for m in modules { if let f = m.pendingFault { return f } }
        return nil
    }

    /// Stops threads and flushes disks (once); the first error that must change the exit status.
    @discardableResult
    public func finish() -> HypercallFault? {
        guard !finished else { return nil }
        finished = true
        for m in modules.reversed() { if let f = m.finish(), finishError == nil { finishError = f } }
        return finishError
    }

    /// What `finish` reported (kept for callers that finish from a hook).
    public private(set) var finishError: HypercallFault? = nil

    deinit { finish() }
}
