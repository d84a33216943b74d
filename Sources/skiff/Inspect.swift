// Inspect.swift: `skiff inspect [--json] KERNEL`: the ABI note and the manifest of an image, as text or JSON.

import SkiffCore
import SkiffMonitor
import SkiffQEMU

func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default:
            if u.value < 0x20 { out += "\\u00" + (u.value < 0x10 ? "0" : "") + String(u.value, radix: 16) } else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}

func inspectCommand(_ args: [String]) -> Int32 {
    var json = false
    var file: String? = nil
    for a in args {
        if a == "--json" { json = true } else if a == "--help" {
            emit(1, "usage: skiff inspect [--json] KERNEL"); return 0
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
