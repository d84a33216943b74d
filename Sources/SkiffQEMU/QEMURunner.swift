// QEMURunner.swift: `skiff run` for aarch64 images: check the devices like the hvt monitor, then run qemu-system-aarch64.
//
// The user writes the same command line as for an hvt image
// (`skiff run [--mem=N] [--block:NAME=PATH] [--net:NAME=TAP] IMAGE ARGS`);
// this file turns it into a QEMU `virt` command line (QEMULaunch), starts
// QEMU (no shell, stdin from /dev/null so a terminal is never put in raw
// mode; killed if `skiff run` dies, even of SIGKILL: spawnDyingWithParent)
// and returns QEMU's exit status, which is the guest's:
// PSCI SYSTEM_OFF → 0, semihosting SYS_EXIT → the status.
//
// Devices reach the guest as virtio-mmio devices in option order (all
// --block, then all --net) and their manifest names as
// `skiff.block=NAME`/`skiff.net=NAME` tokens before `--` on the kernel
// command line (Guest/platform/virt/devices.c has the matching rule).
//
// Environment (for tests and experiments):
//   SKIFF_QEMU            the QEMU binary (default: qemu-system-aarch64 in PATH)
//   SKIFF_QEMU_CPU        -cpu (default cortex-a57; "max" for every feature)
//   SKIFF_QEMU_GIC        gic-version (2, 3, host or max; default: QEMU's, 2)
//   SKIFF_QEMU_MACHINE    more -machine options, e.g. "virtualization=on" (EL2 entry)
//   SKIFF_QEMU_ACCEL      -accel (default tcg; "kvm" on an arm64 host with /dev/kvm)
//   SKIFF_QEMU_VERBOSE    if set, print the QEMU command line on stderr
//   SKIFF_QEMU_EXTRA      more QEMU arguments, split on spaces (debugging: "-s -S",
//                         "-d int", "-monitor unix:/tmp/m.sock,server,nowait")

import SkiffCore
import SkiffModules

/// A device to attach, resolved from the options and checked against the manifest.
public struct QEMUDevice: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        case block(path: String, blockSize: UInt64)
        case net(tap: String, mac: [UInt8], mtu: Int)
    }
    public var name: String
    public var kind: Kind
}

/// The QEMU command line for one run (pure: unit-tested without QEMU).
public struct QEMULaunch: Equatable, Sendable {
    /// virtio-mmio transports on QEMU's virt machine (hw/arm/virt.c NUM_VIRTIO_TRANSPORTS).
    public static let virtioSlots = 32
    public var qemu = "qemu-system-aarch64"
    public var cpu = "cortex-a57"
    public var gicVersion: String?
    public var machineOptions: String?
    public var accel = "tcg"
    public var extraArguments: [String] = []
    /// `--gdb`: QEMU's own gdb stub on 127.0.0.1:PORT, the guest held before its first instruction (`-S`).
    public var gdbPort: UInt16? = nil
    public var memoryMiB: UInt64
    public var kernel: String
    public var guestCommandLine: String
    public var devices: [QEMUDevice]

    public init(memoryMiB: UInt64, kernel: String, guestCommandLine: String, devices: [QEMUDevice]) {
        self.memoryMiB = memoryMiB
        self.kernel = kernel
        self.guestCommandLine = guestCommandLine
        self.devices = devices
    }

    /// `/chosen/bootargs`: the device names, `--`, then the guest's command
    /// line after exactly one space (so leading empty arguments survive).
    public var bootargs: String {
        var words: [String] = []
        for d in devices { if case .block = d.kind { words.append("skiff.block=" + d.name) } }
        for d in devices { if case .net = d.kind { words.append("skiff.net=" + d.name) } }
        words.append("--")
        var s = words.joined(separator: " ")
        if !guestCommandLine.isEmpty { s += " " + guestCommandLine }
        return s
    }

    /// QEMU's option syntax doubles commas inside a value.
    static func escape(_ s: String) -> String {
        s.split(separator: ",", omittingEmptySubsequences: false).joined(separator: ",,")
    }

    public var arguments: [String] {
        var machine = "virt"
        if let g = gicVersion, !g.isEmpty { machine += ",gic-version=" + g }
        if let m = machineOptions, !m.isEmpty { machine += "," + m }
        var a = [qemu, "-machine", machine, "-accel", accel, "-cpu", cpu, "-smp", "1",
                 "-m", "\(memoryMiB)M",
                 "-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none",
                 "-serial", "stdio", "-no-reboot",
                 "-semihosting-config", "enable=on,target=native",
                 "-global", "virtio-mmio.force-legacy=false",
                 "-kernel", kernel, "-append", bootargs]
        // Block devices first, then net: within each kind, option order
        // (QEMU plugs them into virtio-mmio slots from the top down).
        for d in devices {
            guard case .block(let path, let bs) = d.kind else { continue }
            a += ["-drive", "if=none,format=raw,id=blk-\(d.name),file=" + QEMULaunch.escape(path),
                  "-device", "virtio-blk-device,drive=blk-\(d.name),logical_block_size=\(bs),physical_block_size=\(bs)"]
        }
        for d in devices {
            guard case .net(let tap, let mac, let mtu) = d.kind else { continue }
            let macText = mac.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
            a += ["-netdev", "tap,id=net-\(d.name),ifname=" + QEMULaunch.escape(tap) + ",script=no,downscript=no",
                  "-device", "virtio-net-device,netdev=net-\(d.name),mac=\(macText),host_mtu=\(mtu)"]
        }
        if let p = gdbPort { a += ["-gdb", "tcp:127.0.0.1:\(p)", "-S"] }
        return a + extraArguments
    }
}

/// Checks the options against the image like the hvt monitor does (same
/// messages), opens nothing but reads block sizes and tap MTUs, and returns
/// the launch description.
public func prepareQEMULaunch(_ o: RunOptions, image: VirtImage,
                              environment env: (String) -> String? = Host.environment)
    throws(VirtImageError) -> QEMULaunch
{
    let cmdline = o.guestArguments.joined(separator: " ")
    guard cmdline.utf8.count <= 8191 else { throw VirtImageError("Guest command line too long (max=8191 characters)") }
    let mib = o.memoryBytes >> 20
    guard o.memoryBytes != .max, mib >= 8, mib <= 255 * 1024 else {
        throw VirtImageError("--mem: an aarch64 guest needs 8 MiB to 255 GiB of memory (got \(o.memoryBytes == .max ? "too much" : "\(mib) MiB"))")
    }
    do { try ModuleSet.checkNames(o, against: image.manifest) } catch { throw VirtImageError(error.message) }
    // The monitor's debugging modules need its own vCPU: refused rather than silently ignored.
    if o.moduleSettings.contains(where: { $0.name == "dumpcore" }) {
        throw VirtImageError("--dumpcore: core dumps are written by the hvt monitor; a QEMU virt image has none (QEMU: dump-guest-memory)")
    }
    var devices: [QEMUDevice] = []
    for nv in o.blocks {
        let bs = o.blockSectorSizes.last { $0.name == nv.name }.flatMap { UInt64($0.value) } ?? 512
        var st = stat()
        guard access(nv.value, R_OK | W_OK) == 0, stat(nv.value, &st) == 0 else {
            throw VirtImageError(DeviceError.cannotOpenBlock(path: nv.value, error: errnoString()).message)
        }
        let capacity = UInt64(st.st_size)
        if capacity % bs != 0 { throw VirtImageError(DeviceError.notBlockAligned(name: nv.name, blockSize: bs).message) }
        if capacity < bs { throw VirtImageError(DeviceError.tooSmall(name: nv.name, blockSize: bs).message) }
        devices.append(QEMUDevice(name: nv.name, kind: .block(path: nv.value, blockSize: bs)))
    }
    for nv in o.nets {
        guard let mtu = tapMTU(nv.value) else {
            throw VirtImageError(DeviceError.cannotAttachNet(iface: nv.value, error: errnoString(ENOENT)).message)
        }
        let mac = o.netMACs.last { $0.name == nv.name }.flatMap { parseMAC($0.value) } ?? NetBackend.randomMAC()
        devices.append(QEMUDevice(name: nv.name, kind: .net(tap: nv.value, mac: mac, mtu: mtu)))
    }
    guard devices.count <= QEMULaunch.virtioSlots else {
        throw VirtImageError("QEMU virt has \(QEMULaunch.virtioSlots) virtio-mmio slots: at most \(QEMULaunch.virtioSlots) devices can be attached (\(devices.count) given)")
    }
    let declared = image.manifest.devices.filter { e in !devices.contains { $0.name == e.name } }
    if !declared.isEmpty {
        throw VirtImageError(DeviceError.notAttached(declared.map { ($0.name, $0.type?.name ?? "<undefined type>") }).message)
    }
    var l = QEMULaunch(memoryMiB: mib, kernel: o.kernel, guestCommandLine: cmdline, devices: devices)
    // --gdb: QEMU's stub serves the same protocol (and port) as the hvt monitor's.
    if let port = o.moduleSettings.last(where: { $0.name == "gdb" }).flatMap({ UInt16($0.value) }) {
        guard port != 0 else { throw VirtImageError("--gdb-port=0: QEMU's gdb stub needs a fixed port") }
        l.gdbPort = port
    }
    if let q = env("SKIFF_QEMU"), !q.isEmpty { l.qemu = q }
    if let c = env("SKIFF_QEMU_CPU"), !c.isEmpty { l.cpu = c }
    if let g = env("SKIFF_QEMU_GIC"), !g.isEmpty { l.gicVersion = g }
    if let m = env("SKIFF_QEMU_MACHINE"), !m.isEmpty { l.machineOptions = m }
    if let a = env("SKIFF_QEMU_ACCEL"), !a.isEmpty { l.accel = a }
    if let x = env("SKIFF_QEMU_EXTRA") { l.extraArguments = x.split(separator: " ").map(String.init) }
    return l
}

/// The interface's MTU from sysfs, nil if there is no such interface.
func tapMTU(_ iface: String) -> Int? {
    guard !iface.isEmpty, !iface.contains("/"), iface != ".", iface != ".." else { return nil }
    guard let b = Host.readSmallFile("/sys/class/net/\(iface)/mtu", max: 32) else { return nil }
    return Int(String(decoding: b, as: UTF8.self).trimmingSuffix)
}

extension String {
    fileprivate var trimmingSuffix: String {
        var s = Substring(self)
        while let c = s.last, c == "\n" || c == " " || c == "\r" { s = s.dropLast() }
        return String(s)
    }
}

/// Runs an aarch64 image described by `options` under qemu-system-aarch64 and
/// returns the process exit status (the guest's).
public func runAArch64Image(_ options: RunOptions, warn: (String) -> Void) -> Int32 {
    let launch: QEMULaunch
    do {
        let image = try VirtImage(path: options.kernel)
        launch = try prepareQEMULaunch(options, image: image)
    } catch {
        warn(error.message)
        return 1
    }
    guard let qemu = findExecutable(launch.qemu) else {
        warn("\(launch.qemu) not found in PATH: install QEMU (Debian: qemu-system-arm) or set SKIFF_QEMU")
        return 1
    }
    var argv = launch.arguments
    argv[0] = qemu
    if let p = launch.gdbPort {
        warn("gdb: QEMU waits for a debugger on 127.0.0.1:\(p) (gdb-multiarch \(options.kernel).elf -ex 'target remote :\(p)')")
    }
    if Host.environment("SKIFF_QEMU_VERBOSE") != nil {
        warn("+ " + argv.map { $0.contains(" ") || $0.isEmpty ? "'\($0)'" : $0 }.joined(separator: " "))
    }
    return spawnAndWait(argv, warn: warn)
}

func findExecutable(_ name: String) -> String? {
    if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
    let path = Host.environment("PATH") ?? "/usr/bin:/bin"
    for dir in path.split(separator: ":") where !dir.isEmpty {
        let p = dir + "/" + name
        if access(p, X_OK) == 0 { return p }
    }
    return nil
}

/// Starts `argv` (argv[0] a path) with stdin from /dev/null as a child that gets SIGKILL when this process
/// dies, even of SIGKILL (an interrupted test run's kill): no QEMU outlives its `skiff run`. The arguments
/// go to C as one byte array of NUL-terminated strings (`cskiff_spawn_dying_with_parent`, which forks,
/// sets PR_SET_PDEATHSIG in the child and execs). Here, not in SkiffHost, so the tender links no fork.
func spawnDyingWithParent(_ argv: [String]) -> Result<pid_t, SpawnError> {
    var args: [CChar] = []
    for a in argv { args += a.utf8.map { CChar(bitPattern: $0) } + [0] }
    let r = cskiff_spawn_dying_with_parent(args, args.count, 1)
    return r > 0 ? .success(r) : .failure(SpawnError(errno: -r))
}

/// Runs QEMU with stdin = /dev/null, forwarding SIGINT/SIGTERM; returns its exit status (1, after
/// "Exiting on signal N", if we were signalled; 128 + N if QEMU died of signal N on its own).
func spawnAndWait(_ argv: [String], warn: (String) -> Void) -> Int32 {
    switch Host.runForwardingTermination(argv, start: spawnDyingWithParent) {
    case .exited(let status): return status
    case .killed(let sig): return 128 + sig
    case .interrupted(let sig):
        warn("Exiting on signal \(sig)")
        return 1
    case .failed(let what, let e):
        warn("\(what == .spawn ? "cannot run \(argv[0])" : "waitpid"): \(errnoString(e))")
        return 1
    }
}
