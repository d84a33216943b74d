// RuntimeSpec.swift: the Skiff OCI runtime's pure part: how a bundle's config.json changes so runc runs the tender.

//
// A container whose process.args[0] is "skiff-hvt" (what `skiff oci build` images say) gets the host's
// static tender bind-mounted read-only at /.skiff/skiff-hvt, /dev/kvm (and /dev/net/tun when it has
// network devices) as device nodes allowed by its device cgroup. Everything else stays as containerd
// wrote it, so the tender runs in the container's namespaces and cgroups like any process.
// When args[0] is something else but the image has /skiff/skiff.json (`ctr run IMAGE ID ARGS...` replaced
// the Entrypoint), that file's entrypoint goes before the arguments, which become the guest's.
// Other containers (a Kubernetes pod's pause container, ordinary images) are left untouched.

import SkiffBuild

public struct DeviceNumber: Equatable, Sendable {
    public var major: Int
    public var minor: Int
    public init(major: Int, minor: Int) { self.major = major; self.minor = minor }

    /// "10:232" (as /sys/class/misc/NAME/dev says).
    public static func parse(_ s: String) -> DeviceNumber? {
        let parts = s.split(separator: ":")
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]), a >= 0, b >= 0 else { return nil }
        return DeviceNumber(major: a, minor: b)
    }
}

public struct SkiffContainerPlan: Equatable, Sendable {
    public var spec: JSON
    /// The taps the tender opens (--net:NAME=TAP), in order.
    public var taps: [String]
    /// The container's network namespace when config.json names one (a path), else nil (runc makes a new one).
    public var netnsPath: String?
    /// Whether the container has a network namespace of its own (no: it shares the runtime's, e.g. `ctr run --net-host`).
    public var hasNetworkNamespace: Bool
    /// The uid the tender runs as (taps are created owned by it, so it opens them without CAP_NET_ADMIN).
    public var uid: Int
}

public struct RuntimeSpecError: Error, Equatable, Sendable {
    public let message: String
}

public enum RuntimeSpec {
    public static let tenderPath = "/.skiff/skiff-hvt"

    /// Is this a Skiff container: process.args[0] is skiff-hvt (by that name, or already rewritten)?
    public static func isSkiff(_ spec: JSON) -> Bool {
        guard let a0 = spec["process"]?["args"]?.arrayValue?.first?.stringValue else { return false }
        return a0 == "skiff-hvt" || a0 == tenderPath
    }

    /// The taps named by --net:NAME=TAP options before "--" (or before the kernel).
    public static func taps(_ args: [String]) throws(RuntimeSpecError) -> [String] {
        var taps: [String] = []
        for a in args.dropFirst() {
            if a == "--" || !a.hasPrefix("--") { break }
            guard a.hasPrefix("--net:") else { continue }
            guard let eq = a.firstIndex(of: "="), a.index(after: eq) < a.endIndex else {
                throw RuntimeSpecError(message: "\(a): expected --net:NAME=TAP")
            }
            let tap = String(a[a.index(after: eq)...])
            guard tap.utf8.count <= 15, !tap.utf8.contains(UInt8(ascii: "/")) else { throw RuntimeSpecError(message: "\(a): bad tap name") }
            taps.append(tap)
        }
        return taps
    }

    static func device(_ path: String, _ n: DeviceNumber) -> JSON {
        .object([JSON.Member("path", .string(path)), JSON.Member("type", .string("c")), JSON.Member("major", .int(n.major)),
                 JSON.Member("minor", .int(n.minor)), JSON.Member("fileMode", .int(0o666)), JSON.Member("uid", .int(0)),
                 JSON.Member("gid", .int(0))])
    }

    static func allow(_ n: DeviceNumber) -> JSON {
        .object([JSON.Member("allow", .bool(true)), JSON.Member("type", .string("c")), JSON.Member("major", .int(n.major)),
                 JSON.Member("minor", .int(n.minor)), JSON.Member("access", .string("rwm"))])
    }

    /// The plan for a Skiff container's config.json, or nil when it is not one (leave it to runc as it is).
    /// `imageEntrypoint` is /skiff/skiff.json's entrypoint when the container's root file system has one.
    public static func plan(_ spec: JSON, tender hostTender: String, kvm: DeviceNumber, tun: DeviceNumber,
                            imageEntrypoint: [String]? = nil) throws(RuntimeSpecError) -> SkiffContainerPlan? {
        guard var process = spec["process"], var args = process["args"]?.arrayValue?.compactMap({ $0.stringValue })
        else { return nil }
        if !isSkiff(spec) {
            guard let entry = imageEntrypoint else { return nil }
            guard entry.first == "skiff-hvt" else { throw RuntimeSpecError(message: "/skiff/skiff.json: entrypoint must start with skiff-hvt") }
            args = entry + args
        }
        guard args.count >= 2 else { throw RuntimeSpecError(message: "process.args: skiff-hvt without a kernel") }
        let taps = try taps(args)
        var out = spec
        args[0] = tenderPath
        process["args"] = .array(args.map { .string($0) })
        out["process"] = process

        // The tender: a bind mount of the host's static binary (needs no library from the image).
        var mounts = out["mounts"]?.arrayValue ?? []
        if !mounts.contains(where: { $0["destination"]?.stringValue == tenderPath }) {
            mounts.append(.object([
                JSON.Member("destination", .string(tenderPath)), JSON.Member("type", .string("bind")),
                JSON.Member("source", .string(hostTender)),
                JSON.Member("options", .array(["rbind", "ro", "nosuid", "nodev"].map { .string($0) })),
            ]))
        }
        out["mounts"] = .array(mounts)

        // The devices and the device cgroup's permission for them.
        var linux = out["linux"] ?? .object([])
        var devices = linux["devices"]?.arrayValue ?? []
        var wanted = [("/dev/kvm", kvm)]
        if !taps.isEmpty { wanted.append(("/dev/net/tun", tun)) }
        for (path, n) in wanted where !devices.contains(where: { $0["path"]?.stringValue == path }) {
            devices.append(device(path, n))
        }
        linux["devices"] = .array(devices)
        var resources = linux["resources"] ?? .object([])
        var rules = resources["devices"]?.arrayValue ?? []
        for (_, n) in wanted { rules.append(allow(n)) }
        resources["devices"] = .array(rules)
        linux["resources"] = resources

        var netns: String? = nil
        var hasNetworkNamespace = false
        for ns in linux["namespaces"]?.arrayValue ?? [] where ns["type"]?.stringValue == "network" {
            hasNetworkNamespace = true
            if let p = ns["path"]?.stringValue, !p.isEmpty { netns = p }
        }
        // Taps in the host's namespace, and its uplink redirected to a VM, would take the host off its network.
        if !taps.isEmpty && !hasNetworkNamespace {
            throw RuntimeSpecError(message: "network devices need the container's own network namespace (not the host's)")
        }
        out["linux"] = linux
        let uid = out["process"]?["user"]?["uid"]?.intValue ?? 0
        return SkiffContainerPlan(spec: out, taps: taps, netnsPath: netns, hasNetworkNamespace: hasNetworkNamespace, uid: uid)
    }

    /// The entrypoint in a /skiff/skiff.json file's text.
    public static func imageEntrypoint(_ text: [UInt8]) throws(RuntimeSpecError) -> [String] {
        let v: JSON
        do { v = try JSON.parse(text) } catch { throw RuntimeSpecError(message: "/skiff/skiff.json: invalid JSON at line \(error.line): \(error.message)") }
        guard let a = v["entrypoint"]?.arrayValue, !a.isEmpty else {
            throw RuntimeSpecError(message: "/skiff/skiff.json: no entrypoint array")
        }
        var out: [String] = []
        for e in a {
            guard let s = e.stringValue else { throw RuntimeSpecError(message: "/skiff/skiff.json: entrypoint holds a non-string") }
            out.append(s)
        }
        return out
    }

    /// The uplink a tap is joined to: eth0 if present, else the first interface that is neither lo nor a tap of ours.
    public static func uplink(interfaces: [String], taps: [String]) -> String? {
        let candidates = interfaces.filter { $0 != "lo" && !taps.contains($0) }
        return candidates.contains("eth0") ? "eth0" : candidates.first
    }

    /// Interface names from /proc/PID/net/dev ("  eth0: 123 ..." lines after two header lines).
    public static func interfaces(procNetDev text: String) -> [String] {
        var names: [String] = []
        for line in text.split(separator: "\n").dropFirst(2) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].filter { $0 != " " }
            if !name.isEmpty { names.append(String(name)) }
        }
        return names
    }

    /// The commands (run inside the container's network namespace) that make `tap` and, with an uplink,
    /// join the two by tc: every frame arriving on one leaves by the other (urunc's approach), so the
    /// unikernel owns the link the CNI plugin (or the test) gave the namespace.
    public static func networkCommands(tap: String, uid: Int, uplink: String?) -> [[String]] {
        var cmds: [[String]] = [
            ["ip", "tuntap", "add", "dev", tap, "mode", "tap", "user", String(uid)],
            ["ip", "link", "set", "dev", tap, "up"],
        ]
        if let up = uplink {
            for (from, to) in [(up, tap), (tap, up)] {
                cmds.append(["tc", "qdisc", "add", "dev", from, "ingress"])
                cmds.append(["tc", "filter", "add", "dev", from, "parent", "ffff:", "protocol", "all", "u32", "match", "u32",
                             "0", "0", "action", "mirred", "egress", "redirect", "dev", to])
            }
        }
        return cmds
    }

    /// The commands that undo `networkCommands` (deleting the tap also drops its qdisc).
    public static func cleanupCommands(tap: String, uplink: String?) -> [[String]] {
        var cmds: [[String]] = [["ip", "link", "del", "dev", tap]]
        if let up = uplink { cmds.append(["tc", "qdisc", "del", "dev", up, "ingress"]) }
        return cmds
    }
}
