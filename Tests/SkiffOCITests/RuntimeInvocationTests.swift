// RuntimeInvocationTests.swift: runc command lines as containerd's runc shim writes them, parsed by `skiff oci runtime`.

import Testing
@testable import SkiffOCI

@Test func shimCreateCommandLine() {
    let inv = RuntimeInvocation(["--root", "/run/containerd/runc/k8s.io", "--log", "/run/b/log.json", "--log-format", "json",
                                 "create", "--bundle", "/run/b", "--pid-file", "/run/b/init.pid", "--no-pivot", "c1"])
    #expect(inv.root == "/run/containerd/runc/k8s.io" && inv.log == "/run/b/log.json" && inv.command == "create")
    #expect(inv.globals == ["--root", "/run/containerd/runc/k8s.io", "--log", "/run/b/log.json", "--log-format", "json"])
    let (opts, id) = inv.operands(valued: RuntimeInvocation.createValued)
    #expect(id == "c1" && opts["--bundle"] == "/run/b" && opts["--pid-file"] == "/run/b/init.pid")
}

@Test func equalsFormsAndDefaults() {
    let inv = RuntimeInvocation(["--root=/r", "--systemd-cgroup", "delete", "--force", "c2"])
    #expect(inv.root == "/r" && inv.log == nil && inv.command == "delete" && inv.globals == ["--root=/r", "--systemd-cgroup"])
    #expect(inv.operands(valued: []).id == "c2")
    let create = RuntimeInvocation(["create", "-b=/x", "c3"]).operands(valued: RuntimeInvocation.createValued)
    #expect(create.values["-b"] == "/x" && create.id == "c3")
    let none = RuntimeInvocation(["--version"])
    #expect(none.command == nil && none.root == "/run/runc")
    #expect(RuntimeInvocation(["create", "--bundle"]).operands(valued: RuntimeInvocation.createValued).id == nil)
}
