// Inspect.swift: `skiff inspect [--json] KERNEL`: the ABI note and the manifest of an image, as text or JSON; `--dtb`: the device tree skiff-hvt writes for an arm64 Image.

import SkiffBuild
import SkiffCore
import SkiffBoot
import SkiffModules
import SkiffMonitor
import SkiffQEMU

/// `skiff inspect --dtb [--binary] [RUN OPTIONS] IMAGE [ARGS]`: the device tree skiff-hvt would write for this
/// run of an arm64 Image (docs/boot-aarch64-linux.md), as DTS (or the DTB itself with `--binary`);
/// /chosen/rng-seed is shown as zeros (random per run).
func inspectDeviceTree(_ args: [String]) -> Int32 {
    let binary = args.first == "--binary"
    let o: RunOptions
    do { o = try RunOptions.parse(binary ? Array(args.dropFirst()) : args) } catch {
        if error == .help { emit(1, "usage: skiff inspect --dtb [--binary] [RUN OPTIONS] IMAGE [ARGS...]"); return 0 }
        err("inspect: \(error.message)"); return 1
    }
    let bytes: [UInt8]
    do { bytes = try ImageFile.read(o.kernel) } catch { err("\(o.kernel): \(error.message)"); return 1 }
    guard ARM64ImageHeader.hasMagic(bytes) else {
        err("\(o.kernel): not an arm64 Image (--dtb shows the device tree of skiff-hvt's arm64 Image machine)"); return 1
    }
    do {
        let boot = try LinuxArm64Boot(bytes: bytes, options: o) { (m) throws(BootError) in
            do throws(DeviceError) { try ModuleSet.checkNames(o, against: m) } catch { throw .devices(error) }
        }
        let tree = boot.deviceTree(seed: [UInt8](repeating: 0, count: 32))
        if binary { return Host.writeAll(1, tree.serialized()) ? 0 : 1 }
        emit(1, "/* skiff-hvt's device tree for \(o.kernel) (rng-seed: random bytes at run time) */\n" + tree.source)
        return 0
    } catch {
        err(MonitorError(error, file: o.kernel).message)
        return 1
    }
}

func inspectCommand(_ args: [String]) -> Int32 {
    if args.first == "--dtb" { return inspectDeviceTree(Array(args.dropFirst())) }
    var json = false
    var file: String? = nil
    for a in args {
        if a == "--json" { json = true } else if a == "--help" {
            emit(1, "usage: skiff inspect [--json] KERNEL\n       skiff inspect --dtb [--binary] [RUN OPTIONS] IMAGE [ARGS...]"); return 0
        } else if file == nil, !a.hasPrefix("-") || a == "-" { file = a } else {
            err("inspect: unexpected argument '\(a)'"); return 1
        }
    }
    guard let file else { err("inspect: missing KERNEL"); return 1 }
    if VirtImage.isVirtImage(path: file) { return inspectVirtImage(file, json: json) }   // InspectAArch64.swift
    do {
        let info = try ImageInfo(path: file)
        if json {
            var s = "{\n  \"file\": \(jsonString(file)),\n  \"machine\": \(jsonString(info.architecture?.rawValue ?? "unknown")),\n"
            s += "  \"abi\": {\"type\": \"solo5.abi\", \"target\": \"hvt\", \"version\": 2},\n"
            s += "  \"entry\": \(jsonString(hex(info.entry))),\n"
            s += "  \"manifest\": {\"type\": \"solo5.manifest\", \"version\": 1, \"devices\": ["
            s += info.manifest.devices.map { e in
                "{\"name\": \(jsonString(e.name)), \"type\": \(jsonString(e.type?.name ?? "UNKNOWN(\(e.typeCode))"))}"
            }.joined(separator: ", ")
            s += "]}\n}"
            emit(1, s)
        } else {
            var s = "\(file): \(info.architecture?.rawValue ?? "unknown") hvt unikernel, ABI version 2\n"
            s += "entry: \(hex(info.entry))\n"
            s += "devices: \(info.manifest.devices.count)"
            for (i, e) in info.manifest.devices.enumerated() {
                s += "\n  \(i + 1)  \(e.type?.name ?? "UNKNOWN(\(e.typeCode))")  \(e.name)"
            }
            emit(1, s)
        }
        return 0
    } catch {
        err(error.message)
        return 1
    }
}
