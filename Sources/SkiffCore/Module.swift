// Module.swift: monitor modules (Solo5's DECLARE_MODULE): each registers its options, devices, hypercalls, hooks and system calls here.
//
// A module is described by a `ModuleDescriptor` (static facts: options it
// accepts, the manifest device options it names) and, when a run uses it,
// instantiated as a `MonitorModule` that attaches to the run being set up.
// The list of modules is `MonitorModules.all` (SkiffModules); adding one
// (say `--gdb`) is one new file plus one entry there.

/// A manifest device named by command-line options (`--block:NAME=…`).
public struct DeviceOptionRule: Sendable {
    /// The NAME=VALUE pairs of one option kind.
    public let values: @Sendable (RunOptions) -> [RunOptions.NamedValue]
    /// The manifest type each NAME must be declared with.
    public let type: DeviceType
    /// True for the option that attaches the device (each NAME at most once);
    /// false for options that only configure it (`--block-sector-size:`).
    public let attaches: Bool

    public init(type: DeviceType, attaches: Bool, values: @escaping @Sendable (RunOptions) -> [RunOptions.NamedValue]) {
        self.type = type
        self.attaches = attaches
        self.values = values
    }
}

/// What a module is, before any run: its options and the devices they name.
public struct ModuleDescriptor: Sendable {
    public let name: String
    /// Its lines of `skiff run --help`.
    public let usage: String
    /// Consumes one option word (before KERNEL); returns false when it is not this module's.
    public let parseOption: @Sendable (_ word: String, _ options: inout RunOptions) throws(OptionError) -> Bool
    /// The device options it reads, checked against the manifest before anything is opened.
    public let deviceRules: [DeviceOptionRule]
    /// Opens what the options ask for (files, taps) and attaches it to the manifest copy; nil when unused.
    public let make: @Sendable (_ setup: ModuleSetup) throws(DeviceError) -> (any MonitorModule)?

    public init(name: String, usage: String,
                deviceRules: [DeviceOptionRule] = [],
                parseOption: @escaping @Sendable (String, inout RunOptions) throws(OptionError) -> Bool,
                make: @escaping @Sendable (ModuleSetup) throws(DeviceError) -> (any MonitorModule)?) {
        self.name = name
        self.usage = usage
        self.deviceRules = deviceRules
        self.parseOption = parseOption
        self.make = make
    }
}

/// The run being prepared, as modules see it before the VM exists.
public final class ModuleSetup {
    public let options: RunOptions
    /// The manifest copy handed to the guest; modules mark their devices attached.
    public var manifest: Manifest
    /// Host file descriptors POLL waits on, with their manifest handles (net devices add theirs).
    public var pollFDs: [(handle: Int, fd: Int32)] = []
    /// Memory the boot protocol set aside above guest-usable RAM for a shared ring (hvt: the net ring), if any.
    public var ringArea: GuestAddress?
    /// Prints a warning (one line, no prefix).
    public let warn: (String) -> Void
    /// Prints a message that is not a warning, e.g. where a core file went (one line, no prefix).
    public let inform: (String) -> Void

    public init(options: RunOptions, manifest: Manifest, warn: @escaping (String) -> Void = { _ in },
                inform: @escaping (String) -> Void = { _ in }) {
        self.options = options
        self.manifest = manifest
        self.warn = warn
        self.inform = inform
    }
}

/// The VM-side facilities a module may use when it attaches (implemented by the backend glue).
public protocol ModuleHost: AnyObject {
    var memory: GuestMemory { get }
    /// Registers `eventFD` to be signalled when the guest kicks the ring: a 4-byte write to the
    /// architecture's kick address (x86: port 0x600; aarch64: MMIO 0x100000100; spec §8).
    func registerRingKick(eventFD: Int32) -> Bool
    /// Makes the running vCPU return to the run loop (from any thread).
    func kickVCPU()
    /// True once the run must end (a SIGINT/SIGTERM is pending): a hypercall doing many units of
    /// work (the block ring) stops between them, so the signal ends the run within one unit.
    var stopRequested: Bool { get }
    /// vCPU 0 as core dumps and debuggers see it (nil when the backend cannot read its registers).
    var debugCPU: (any DebuggableCPU)? { get }
    /// The guest-physical address of `memory`'s first byte (hvt: 0), for debuggers, which speak guest addresses.
    var memoryBase: UInt64 { get }
    /// The registers at the fault an aborting guest's trap frame (its HALT `cookie`) describes,
    /// given vCPU 0's registers at the HALT; nil when the architecture defines no frame or it
    /// cannot be read (Monitor+ARCH.swift).
    func faultRegisters(cookie: GuestAddress, halt: CPURegisters) -> CPURegisters?
}

extension ModuleHost {
    public var stopRequested: Bool { false }
    public var debugCPU: (any DebuggableCPU)? { nil }
    public var memoryBase: UInt64 { 0 }
    public func faultRegisters(cookie: GuestAddress, halt: CPURegisters) -> CPURegisters? { nil }
}

/// What a module contributes to a run once the VM and its memory exist.
public struct ModuleAttachment {
    /// Bits for `hvt_boot_info.host_features`.
    public var hostFeatures: UInt32 = 0
    /// `hvt_boot_info.net_ring` when ring I/O is offered.
    public var netRing: UInt64? = nil
    /// The highest hypercall number the transport must decode (extensions beyond hvt's).
    public var hypercallLimit: UInt32? = nil
    /// The run loop's debugger (`--gdb`), if this module is one.
    public var debugger: (any RunDebugger)? = nil
    public init() {}
}

/// A module taking part in one run.
public protocol MonitorModule: AnyObject {
    /// System calls it needs while the guest runs (seccomp allow-list additions).
    var syscalls: [Int] { get }
    /// Registers its hypercalls and starts any I/O thread; called once, before the guest runs.
    func attach(table: inout HypercallTable, host: any ModuleHost, setup: ModuleSetup) -> ModuleAttachment
    /// A fatal error found outside a hypercall (an I/O thread), polled when the run is interrupted.
    var pendingFault: HypercallFault? { get }
    /// Called when the guest faults, before the run ends with the fault (a core dump, a debugger's stop).
    func guestFaulted(_ fault: GuestFault)
    /// Called when the guest halts (HALT hypercall), before `finish`: status 255 is an abort (its cookie,
    /// if any, points at a trap frame).
    func guestHalted(_ halt: HaltStatus)
    /// Called on every way out of the run (halt, fault, signal, error): stop threads, flush disks.
    /// Returns an error that must change the exit status (a failed final flush), if any.
    func finish() -> HypercallFault?
}

extension MonitorModule {
    public var syscalls: [Int] { [] }
    public var pendingFault: HypercallFault? { nil }
    public func guestFaulted(_ fault: GuestFault) {}
    public func guestHalted(_ halt: HaltStatus) {}
    public func finish() -> HypercallFault? { nil }
}

extension ModuleDescriptor {
    /// Checks the device names of `options` against `manifest` for `modules` (before any file or tap
    /// is opened): every name is declared with the right type, and attached at most once.
    /// Attaching options of every module are checked first, then the configuring ones.
    public static func checkDeviceNames(_ options: RunOptions, against manifest: Manifest,
                                        modules: [ModuleDescriptor]) throws(DeviceError) {
        var seen: Set<String> = []
        for pass in [true, false] {
            for rule in modules.flatMap({ $0.deviceRules }) where rule.attaches == pass {
                for nv in rule.values(options) {
                    guard let h = manifest.handle(named: nv.name), manifest.entries[h].type == rule.type else {
                        throw .notDeclared(nv.name)
                    }
                    if pass { guard seen.insert(nv.name).inserted else { throw .duplicate(nv.name) } }
                }
            }
        }
    }

    /// The `notAttached` error for the declared devices (not reserved types) left unattached, if any.
    public static func checkAllAttached(_ manifest: Manifest) throws(DeviceError) {
        // Entries of type >= MFT_RESERVED_FIRST are not devices and need no attachment (spec §4.5).
        let missing = manifest.devices.filter { !$0.attached && $0.typeCode < DeviceType.reservedFirst.rawValue }.map { e in
            (e.name, e.type.map { $0.name } ?? "<undefined type>")
        }
        guard missing.isEmpty else { throw .notAttached(missing) }
    }
}
