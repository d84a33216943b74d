// RuntimeInvocation.swift: parsing runc's command line (global options, command, options, container id) for `skiff oci runtime`.

/// runc's command line as containerd's shim (go-runc) writes it: global options, a command, its options and operands.
public struct RuntimeInvocation: Equatable, Sendable {
    public var globals: [String] = []
    public var root = "/run/runc"
    public var log: String? = nil
    public var command: String? = nil
    public var rest: [String] = []

    /// runc's global options that take a value (as containerd's go-runc passes them).
    public static let valued = ["--root", "--log", "--log-format", "--criu", "--rootless"]
    /// `create`'s options that take a value.
    public static let createValued = ["--bundle", "-b", "--pid-file", "--console-socket", "--preserve-fds"]

    public init(_ args: [String]) {
        var i = 0
        while i < args.count, args[i].hasPrefix("-") {
            let a = args[i]
            globals.append(a)
            var key = a, val: String? = nil
            if let eq = a.utf8.firstIndex(of: UInt8(ascii: "=")) {
                key = String(a[..<eq]); val = String(a[a.index(after: eq)...])
            } else if RuntimeInvocation.valued.contains(a), i + 1 < args.count {
                i += 1; val = args[i]; globals.append(args[i])
            }
            if key == "--root", let v = val { root = v }
            if key == "--log", let v = val { log = v }
            i += 1
        }
        if i < args.count { command = args[i]; rest = Array(args[(i + 1)...]) }
    }

    /// The command's option values (--name VALUE or --name=VALUE; `valued` lists those taking a value) and its
    /// container id (the last operand: where create and delete put it).
    public func operands(valued: [String]) -> (values: [String: String], id: String?) {
        var values: [String: String] = [:]
        var id: String? = nil
        var i = 0
        while i < rest.count {
            let a = rest[i]
            if a.hasPrefix("-") {
                if let eq = a.utf8.firstIndex(of: UInt8(ascii: "=")) {
                    values[String(a[..<eq])] = String(a[a.index(after: eq)...])
                } else if valued.contains(a), i + 1 < rest.count {
                    values[a] = rest[i + 1]; i += 1
                }
            } else { id = a }
            i += 1
        }
        return (values, id)
    }
}
