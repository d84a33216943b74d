// RuntimeSpecTests.swift: the OCI runtime's config.json rewrite, tap and uplink choice, and tc commands.

import Testing
@testable import SkiffOCI

let kvm = DeviceNumber(major: 10, minor: 232), tun = DeviceNumber(major: 10, minor: 200)

func config(args: [String], netns: String? = nil) -> JSON {
    var ns: [JSON] = [.object([JSON.Member("type", .string("pid"))])]
    var net: [JSON.Member] = [JSON.Member("type", .string("network"))]
    if let netns { net.append(JSON.Member("path", .string(netns))) }
    ns.append(.object(net))
    return .object([
        JSON.Member("ociVersion", .string("1.0.2-dev")),
        JSON.Member("process", .object([JSON.Member("args", .array(args.map { .string($0) })),
                                        JSON.Member("user", .object([JSON.Member("uid", .int(0)), JSON.Member("gid", .int(0))]))])),
        JSON.Member("mounts", .array([.object([JSON.Member("destination", .string("/proc")), JSON.Member("type", .string("proc"))])])),
        JSON.Member("linux", .object([
            JSON.Member("resources", .object([JSON.Member("devices", .array([.object([JSON.Member("allow", .bool(false)), JSON.Member("access", .string("rwm"))])]))])),
            JSON.Member("namespaces", .array(ns)),
        ])),
    ])
}

@Test func ordinaryContainersAreLeftAlone() throws {
    #expect(try RuntimeSpec.plan(config(args: ["/pause"]), tender: "/t", kvm: kvm, tun: tun) == nil)
    #expect(try RuntimeSpec.plan(.object([]), tender: "/t", kvm: kvm, tun: tun) == nil)
}

@Test func skiffContainerGetsTenderAndDevices() throws {
    let plan = try #require(try RuntimeSpec.plan(config(args: ["skiff-hvt", "--mem=32", "--", "/skiff/kernel", "x"]),
                                                  tender: "/opt/skiff/skiff-hvt", kvm: kvm, tun: tun))
    let spec = plan.spec
    #expect(spec["process"]?["args"]?.arrayValue?.compactMap { $0.stringValue } == ["/.skiff/skiff-hvt", "--mem=32", "--", "/skiff/kernel", "x"])
    let mount = try #require(spec["mounts"]?.arrayValue?.last)
    #expect(mount["destination"]?.stringValue == "/.skiff/skiff-hvt" && mount["source"]?.stringValue == "/opt/skiff/skiff-hvt")
    #expect(mount["options"]?.arrayValue?.contains(.string("ro")) == true)
    let devices = spec["linux"]?["devices"]?.arrayValue ?? []
    #expect(devices.compactMap { $0["path"]?.stringValue } == ["/dev/kvm"])    // no tun without net devices
    #expect(devices.first?["minor"]?.intValue == 232)
    let rules = spec["linux"]?["resources"]?["devices"]?.arrayValue ?? []
    #expect(rules.count == 2 && rules[1]["allow"] == .bool(true) && rules[1]["minor"]?.intValue == 232)
    #expect(plan.taps.isEmpty && plan.netnsPath == nil && plan.uid == 0)
    // Planning the rewritten config again adds nothing twice (a retried create).
    let again = try #require(try RuntimeSpec.plan(spec, tender: "/opt/skiff/skiff-hvt", kvm: kvm, tun: tun))
    #expect(again.spec["mounts"]?.arrayValue?.count == 2)
    #expect(again.spec["linux"]?["devices"]?.arrayValue?.count == 1)
}

@Test func networkDevicesGetTapsAndTun() throws {
    let plan = try #require(try RuntimeSpec.plan(
        config(args: ["skiff-hvt", "--net:service0=tap0", "--net-mac:service0=02:00:00:00:00:01", "--net:service1=tap1", "--", "/k", "--net:x=y"],
               netns: "/var/run/netns/test"), tender: "/t", kvm: kvm, tun: tun))
    #expect(plan.taps == ["tap0", "tap1"])
    #expect(plan.netnsPath == "/var/run/netns/test")
    #expect(plan.spec["linux"]?["devices"]?.arrayValue?.compactMap { $0["path"]?.stringValue } == ["/dev/kvm", "/dev/net/tun"])
    #expect(throws: RuntimeSpecError.self) { try RuntimeSpec.plan(config(args: ["skiff-hvt", "--net:a", "--", "/k"]), tender: "/t", kvm: kvm, tun: tun) }
    #expect(throws: RuntimeSpecError.self) { try RuntimeSpec.plan(config(args: ["skiff-hvt"]), tender: "/t", kvm: kvm, tun: tun) }
}

@Test func uplinkAndCommands() {
    let dev = """
    Inter-|   Receive                                                |  Transmit
     face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
        lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
      veth1:     180       2    0    0    0     0          0         0      180       2    0    0    0     0       0          0
    """
    let names = RuntimeSpec.interfaces(procNetDev: dev)
    #expect(names == ["lo", "veth1"])
    #expect(RuntimeSpec.uplink(interfaces: names, taps: ["tap0"]) == "veth1")
    #expect(RuntimeSpec.uplink(interfaces: ["lo", "tap0", "a", "eth0"], taps: ["tap0"]) == "eth0")
    #expect(RuntimeSpec.uplink(interfaces: ["lo"], taps: ["tap0"]) == nil)
    let cmds = RuntimeSpec.networkCommands(tap: "tap0", uid: 0, uplink: "eth0")
    #expect(cmds.first == ["ip", "tuntap", "add", "dev", "tap0", "mode", "tap", "user", "0"])
    #expect(cmds.contains(["tc", "filter", "add", "dev", "eth0", "parent", "ffff:", "protocol", "all", "u32", "match", "u32",
                           "0", "0", "action", "mirred", "egress", "redirect", "dev", "tap0"]))
    #expect(cmds.contains(["tc", "filter", "add", "dev", "tap0", "parent", "ffff:", "protocol", "all", "u32", "match", "u32",
                           "0", "0", "action", "mirred", "egress", "redirect", "dev", "eth0"]))
    #expect(RuntimeSpec.networkCommands(tap: "tap1", uid: 5, uplink: nil).count == 2)
    #expect(RuntimeSpec.cleanupCommands(tap: "tap0", uplink: "eth0") == [["ip", "link", "del", "dev", "tap0"], ["tc", "qdisc", "del", "dev", "eth0", "ingress"]])
}

@Test func deviceNumbers() {
    #expect(DeviceNumber.parse("10:232") == kvm)
    #expect(DeviceNumber.parse("10") == nil && DeviceNumber.parse("a:b") == nil && DeviceNumber.parse("-1:2") == nil)
}

@Test func imageEntrypointHeadsReplacedArguments() throws {
    // `ctr run IMAGE ID a b` replaced Entrypoint and Cmd: /skiff/skiff.json's command line goes first.
    let entry = try RuntimeSpec.imageEntrypoint(Array(#"{"entrypoint":["skiff-hvt","--mem=16","--","/skiff/kernel"]}"#.utf8))
    let plan = try #require(try RuntimeSpec.plan(config(args: ["a", "b"]), tender: "/t", kvm: kvm, tun: tun, imageEntrypoint: entry))
    #expect(plan.spec["process"]?["args"]?.arrayValue?.compactMap { $0.stringValue }
            == ["/.skiff/skiff-hvt", "--mem=16", "--", "/skiff/kernel", "a", "b"])
    // A full skiff-hvt command line is used as it is.
    let full = try #require(try RuntimeSpec.plan(config(args: ["skiff-hvt", "--", "/skiff/kernel"]), tender: "/t", kvm: kvm, tun: tun, imageEntrypoint: entry))
    #expect(full.spec["process"]?["args"]?.arrayValue?.count == 3)
    for bad in [#"{"entrypoint":[]}"#, #"{"entrypoint":["sh"]}"#, #"{"entrypoint":[1]}"#, "{"] {
        #expect(throws: RuntimeSpecError.self, "\(bad)") {
            try RuntimeSpec.plan(config(args: ["a"]), tender: "/t", kvm: kvm, tun: tun,
                                 imageEntrypoint: try RuntimeSpec.imageEntrypoint(Array(bad.utf8)))
        }
    }
}

@Test func networkDevicesRefuseTheHostNamespace() {
    // No network namespace in config.json: the container would share the runtime's (ctr run --net-host).
    var spec = config(args: ["skiff-hvt", "--net:service0=tap0", "--", "/k"])
    spec["linux"]?["namespaces"] = .array([.object([JSON.Member("type", .string("pid"))])])
    #expect(throws: RuntimeSpecError.self) { try RuntimeSpec.plan(spec, tender: "/t", kvm: kvm, tun: tun) }
    // Without network devices the host's namespace is fine.
    spec["process"]?["args"] = .array(["skiff-hvt", "--", "/k"].map { .string($0) })
    #expect((try? RuntimeSpec.plan(spec, tender: "/t", kvm: kvm, tun: tun))??.hasNetworkNamespace == false)
}
