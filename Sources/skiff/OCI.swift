// OCI.swift: `skiff oci build` (an OCI image archive for `ctr image import`) and `skiff oci runtime`, the OCI runtime CLI containerd drives (docs/containers.md).
//
// The runtime is runc with a Skiff step at each end: `create` rewrites the bundle's config.json so the
// container's process is the host's skiff-hvt (RuntimeSpec.plan), lets runc create the container, then
// makes the taps the unikernel uses inside the container's network namespace and joins the first one to
// the namespace's uplink with tc (urunc's approach); `delete` removes what `create` added to a network
// namespace that outlives the container. Every other command (start, state, kill, ps, ...) is runc's:
// the OCI state file, exit status and signals are exactly runc's, with skiff-hvt as the container's process.

import SkiffBuild
import SkiffCore
import SkiffOCI

let ociUsage = """
    usage: skiff oci build KERNEL -o OUT.tar [--name NAME] [--mem=MIB] [--block:NAME=FILE]... [--net:NAME[=TAP]]... [-- ARGS...]
           skiff oci runtime [RUNC-GLOBAL-OPTIONS] COMMAND [ARGS...]   (also as a link named skiff-oci-runtime)
    """

func ociCommand(_ args: [String]) -> Int32 {
    guard let sub = args.first else { emit(2, ociUsage); return 1 }
    switch sub {
    case "build": return ociBuild(Array(args.dropFirst()))
    case "runtime": return ociRuntimeMain(Array(args.dropFirst()))
    case "--help", "-h", "help": emit(1, ociUsage); return 0
    default: err("oci: unknown command '\(sub)'"); emit(2, ociUsage); return 1
    }
}

// MARK: skiff oci build

func baseName(_ path: String) -> String {
    String(path.split(separator: "/").last ?? Substring(path))
}

func writeFile(_ path: String, _ bytes: [UInt8], mode: UInt32 = 0o644) -> Int32? {
    let fd = cskiff_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { return errno }
    defer { close(fd) }
    return Host.writeAll(fd, bytes) ? nil : errno
}

func ociBuild(_ args: [String]) -> Int32 {
    var kernelPath: String? = nil, out: String? = nil, name: String? = nil, mem: Int? = nil
    var blocks: [(String, String)] = [], nets: [(String, String)] = [], guestArgs: [String] = []
    var i = 0
    func value(_ opt: String) -> String? {
        guard i + 1 < args.count else { err("oci build: \(opt) needs a value"); return nil }
        i += 1
        return args[i]
    }
    while i < args.count {
        let a = args[i]
        if a == "--" { guestArgs = Array(args[(i + 1)...]); break }
        if a == "-o" { guard let v = value(a) else { return 1 }; out = v }
        else if a == "--name" { guard let v = value(a) else { return 1 }; name = v }
        else if a.hasPrefix("--mem=") {
            guard let m = Int(a.dropFirst(6)) else { err("oci build: \(a): expected --mem=MIB"); return 1 }
            mem = m
        } else if a.hasPrefix("--block:") {
            let spec = a.dropFirst(8).split(separator: "=", maxSplits: 1)
            guard spec.count == 2 else { err("oci build: \(a): expected --block:NAME=FILE"); return 1 }
            blocks.append((String(spec[0]), String(spec[1])))
        } else if a.hasPrefix("--net:") {
            let spec = a.dropFirst(6).split(separator: "=", maxSplits: 1)
            guard !spec.isEmpty else { err("oci build: \(a): expected --net:NAME or --net:NAME=TAP"); return 1 }
            nets.append((String(spec[0]), spec.count == 2 ? String(spec[1]) : "tap\(nets.count)"))
        } else if a == "--help" || a == "-h" { emit(1, ociUsage); return 0 }
        else if a.hasPrefix("-") { err("oci build: unknown option '\(a)'"); emit(2, ociUsage); return 1 }
        else if kernelPath == nil { kernelPath = a }
        else { guestArgs = Array(args[i...]); break }
        i += 1
    }
    guard let kernelPath, let out else { err("oci build: a KERNEL and -o OUT are required"); emit(2, ociUsage); return 1 }
    let kernel: [UInt8]
    do { kernel = try Host.readFile(kernelPath, limit: 1 << 30) } catch {
        err("oci build: \(kernelPath): \(error.errnoReason)"); return 1
    }
    var base = baseName(kernelPath)
    if let dot = base.utf8.lastIndex(of: UInt8(ascii: ".")), dot != base.utf8.startIndex { base = String(base[..<dot]) }
    var spec = OCIImageSpec(name: name ?? "skiff.local/\(base):latest", kernel: kernel)
    spec.memoryMiB = mem
    spec.arguments = guestArgs
    spec.nets = nets.map { (name: $0.0, tap: $0.1) }
    for (n, file) in blocks {
        do { spec.blocks.append((name: n, data: try Host.readFile(file, limit: 1 << 32))) } catch {
            err("oci build: --block:\(n)=\(file): \(error.errnoReason)"); return 1
        }
    }
    let image: OCIImageArchive
    do { image = try OCIImage.build(spec) } catch { err("oci build: \(kernelPath): \(error.message)"); return 1 }
    if let e = writeFile(out, image.archive) { err("oci build: \(out): \(errnoString(e))"); return 1 }
    emit(1, "\(out): \(spec.name) \(image.manifestDigest) (\(image.archive.count) bytes)")
    return 0
}

// MARK: skiff oci runtime

/// The first of `candidates` that is executable.
func findExecutable(_ candidates: [String]) -> String? {
    candidates.first { access($0, X_OK) == 0 }
}

func systemTool(_ name: String) -> String? {
    findExecutable(["/usr/sbin/" + name, "/sbin/" + name, "/usr/bin/" + name, "/bin/" + name])
}

/// Runs `argv` (argv[0] a path) quietly: nothing reaches the container's stdio. True if it exited 0.
func runQuietly(_ argv: [String]) -> Bool {
    guard case .success(let pid) = Host.spawn(argv, quiet: true), let st = Host.wait(pid) else { return false }
    return st == 0
}

final class RuntimeLog {
    let path: String?
    init(_ path: String?) { self.path = path }
    /// One line on stderr and, when runc's --log was given, a runc-style JSON line there (containerd reads it).
    func error(_ msg: String) {
        err(msg)
        guard let path else { return }
        let fd = cskiff_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        _ = Host.writeAll(fd, JSON.object([JSON.Member("level", .string("error")), JSON.Member("msg", .string("skiff: " + msg))]).bytes + [0x0a])
        close(fd)
    }
}

func execRunc(_ runc: String, _ args: [String], log: RuntimeLog) -> Int32 {
    let e = Host.exec(runc, ([runc] + args).map { Array($0.utf8) })
    log.error("cannot run \(runc): \(errnoString(e))")
    return 1
}

/// Do two paths name the same file (a namespace: same device and inode)?
func sameFile(_ a: String, _ b: String) -> Bool {
    var sa = stat(), sb = stat()
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
}

func readText(_ path: String, limit: Int = 1 << 22) -> String? {
    (try? Host.readFile(path, limit: limit)).map { String(decoding: $0, as: UTF8.self) }
}

func ociRuntimeMain(_ args: [String]) -> Int32 {
    let inv = RuntimeInvocation(args)
    let log = RuntimeLog(inv.log)
    guard let runc = Host.environment("SKIFF_RUNC") ?? findExecutable(["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"]) else {
        log.error("oci runtime: runc not found (install runc, or set SKIFF_RUNC)")
        return 1
    }
    switch inv.command {
    case "create": return ociCreate(inv, runc: runc, allArgs: args, log: log)
    case "delete":
        if let id = inv.operands(valued: []).id { cleanupNetwork(root: inv.root, id: id) }
        return execRunc(runc, args, log: log)
    default:
        return execRunc(runc, args, log: log)
    }
}

/// What `create` left in a network namespace that outlives the container, for `delete` to remove.
func networkRecordPath(root: String, id: String) -> String { root + "/" + id + "/skiff-net.json" }

func cleanupNetwork(root: String, id: String) {
    guard !id.utf8.contains(UInt8(ascii: "/")), let text = readText(networkRecordPath(root: root, id: id)),
          let record = try? JSON.parse(text), let netns = record["netns"]?.stringValue,
          let nsenter = systemTool("nsenter"), let ip = systemTool("ip"), let tc = systemTool("tc") else { return }
    let uplink = record["uplink"]?.stringValue
    for (n, tap) in (record["taps"]?.arrayValue ?? []).compactMap({ $0.stringValue }).enumerated() {
        for cmd in RuntimeSpec.cleanupCommands(tap: tap, uplink: n == 0 ? uplink : nil) {
            _ = runQuietly([nsenter, "--net=" + netns, cmd[0] == "ip" ? ip : tc] + cmd.dropFirst())
        }
    }
    unlink(networkRecordPath(root: root, id: id))
}

func ociCreate(_ inv: RuntimeInvocation, runc: String, allArgs: [String], log: RuntimeLog) -> Int32 {
    let (opts, maybeID) = inv.operands(valued: RuntimeInvocation.createValued)
    guard let id = maybeID else { return execRunc(runc, allArgs, log: log) }   // runc says what is missing
    let bundle = opts["--bundle"] ?? opts["-b"] ?? "."
    let configPath = bundle + "/config.json"
    guard let text = readText(configPath, limit: 1 << 24) else { return execRunc(runc, allArgs, log: log) }
    let spec: JSON
    do { spec = try JSON.parse(text) } catch { log.error("oci runtime: \(configPath): invalid JSON at line \(error.line): \(error.message)"); return 1 }
    // /skiff/skiff.json in the container's root (a regular file in a real directory: an image's symlink is not followed).
    var imageEntrypoint: [String]? = nil
    if !RuntimeSpec.isSkiff(spec) {
        guard let root = spec["root"]?["path"]?.stringValue else { return execRunc(runc, allArgs, log: log) }
        let rootfs = root.hasPrefix("/") ? root : bundle + "/" + root
        guard Host.fileType(rootfs + "/skiff", followLinks: false) == .directory,
              Host.fileType(rootfs + "/" + OCIImage.runFile, followLinks: false) == .regular,
              let text = Host.readSmallFile(rootfs + "/" + OCIImage.runFile, max: 65536)
        else { return execRunc(runc, allArgs, log: log) }
        do { imageEntrypoint = try RuntimeSpec.imageEntrypoint(text) } catch { log.error("oci runtime: \(id): \(error.message)"); return 1 }
    }
    guard let exe = Host.executablePath(), let slash = exe.utf8.lastIndex(of: UInt8(ascii: "/")) else {
        log.error("oci runtime: cannot find this executable's directory"); return 1
    }
    let tender = String(exe[..<slash]) + "/skiff-hvt"
    guard access(tender, X_OK) == 0 else {
        log.error("oci runtime: \(id): the tender \(tender) is missing (it must sit beside skiff)"); return 1
    }
    func misc(_ name: String) -> DeviceNumber? {
        Host.readSmallFile("/sys/class/misc/\(name)/dev").flatMap {
            DeviceNumber.parse(String(decoding: $0.prefix { $0 != 0x0a }, as: UTF8.self))
        }
    }
    guard let kvm = misc("kvm") else { log.error("oci runtime: \(id): /dev/kvm is not available on this host"); return 1 }
    let plan: SkiffContainerPlan?
    do {
        plan = try RuntimeSpec.plan(spec, tender: tender, kvm: kvm, tun: misc("tun") ?? DeviceNumber(major: 10, minor: 200),
                                    imageEntrypoint: imageEntrypoint)
    }
    catch { log.error("oci runtime: \(id): \(error.message)"); return 1 }
    guard let plan else { return execRunc(runc, allArgs, log: log) }
    if !plan.taps.isEmpty, let path = plan.netnsPath, sameFile(path, "/proc/self/ns/net") {
        log.error("oci runtime: \(id): network devices need the container's own network namespace, and \(path) is the host's")
        return 1
    }
    let tmp = configPath + ".skiff-tmp"
    if let e = writeFile(tmp, plan.spec.bytes) { log.error("oci runtime: \(tmp): \(errnoString(e))"); return 1 }
    guard rename(tmp, configPath) == 0 else { log.error("oci runtime: \(configPath): \(errnoString(errno))"); return 1 }

    // runc creates the container (its init waits for `start` before it execs the tender).
    guard case .success(let pid) = Host.spawn([runc] + allArgs), let st = Host.wait(pid) else {
        log.error("oci runtime: cannot run \(runc): \(errnoString(errno))"); return 1
    }
    if st != 0 { return (st & 0x7f) != 0 ? 128 + (st & 0x7f) : (st >> 8) & 0xff }
    if plan.taps.isEmpty { return 0 }

    // The container's network: taps in its namespace, the first joined to the uplink.
    func fail(_ msg: String) -> Int32 {
        log.error("oci runtime: \(id): \(msg)")
        _ = runQuietly([runc] + inv.globals + ["delete", "--force", id])
        return 1
    }
    guard let pidFile = opts["--pid-file"], let pidText = Host.readSmallFile(pidFile).map({ String(decoding: $0, as: UTF8.self) }),
          let initPid = Int(pidText.split(separator: "\n").first.map(String.init) ?? "") else {
        return fail("no --pid-file from containerd: cannot find the container's network namespace")
    }
    guard let nsenter = systemTool("nsenter"), let ip = systemTool("ip"), let tc = systemTool("tc") else {
        return fail("network devices need nsenter (util-linux), ip and tc (iproute2) on the host")
    }
    let netns = plan.netnsPath ?? "/proc/\(initPid)/ns/net"
    let interfaces = RuntimeSpec.interfaces(procNetDev: Host.readSmallFile("/proc/\(initPid)/net/dev", max: 65536).map { String(decoding: $0, as: UTF8.self) } ?? "")
    // Never touch an interface the namespace already has (the image names its taps): only what we make is undone.
    for tap in plan.taps where interfaces.contains(tap) {
        return fail("its network namespace already has an interface \(tap)")
    }
    let uplink = RuntimeSpec.uplink(interfaces: interfaces, taps: plan.taps)
    func inNamespace(_ cmd: [String]) -> Bool {
        runQuietly([nsenter, "--net=" + netns, cmd[0] == "ip" ? ip : tc] + cmd.dropFirst())
    }
    var made: [String] = [], redirected: String? = nil
    func undo() {
        for (n, tap) in made.enumerated() {
            for cmd in RuntimeSpec.cleanupCommands(tap: tap, uplink: n == 0 ? redirected : nil) { _ = inNamespace(cmd) }
        }
    }
    for (n, tap) in plan.taps.enumerated() {
        for cmd in RuntimeSpec.networkCommands(tap: tap, uid: plan.uid, uplink: n == 0 ? uplink : nil) {
            guard inNamespace(cmd) else {
                undo()
                return fail("in its network namespace, '\(cmd.joined(separator: " "))' failed")
            }
            if cmd[1] == "tuntap" { made.append(tap) }
            if cmd[0] == "tc" && cmd[1] == "qdisc" && cmd[4] != tap { redirected = cmd[4] }
        }
    }
    if let persistent = plan.netnsPath {
        let record = JSON.object([JSON.Member("netns", .string(persistent)),
                                  JSON.Member("taps", .array(made.map { .string($0) })),
                                  JSON.Member("uplink", redirected.map { .string($0) } ?? .null)])
        if let e = writeFile(networkRecordPath(root: inv.root, id: id), record.bytes) {
            undo()
            return fail("cannot record its network setup: \(errnoString(e))")
        }
    }
    return 0
}
