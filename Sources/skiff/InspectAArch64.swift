// InspectAArch64.swift: `skiff inspect` for aarch64 QEMU-virt images (raw arm64 Image or its ELF): platform and manifest.

import SkiffBuild
import SkiffCore
import SkiffQEMU

/// Prints what `skiff inspect` prints for hvt images, for a Skiff virt image
/// (no ABI1 note: the platform is "qemu-virt"; see docs/boot-aarch64.md).
func inspectVirtImage(_ file: String, json: Bool) -> Int32 {
    let image: VirtImage
    do { image = try VirtImage(path: file) } catch {
        err(error.message)
        return 1
    }
    let format = image.format == .image ? "arm64 Image" : "ELF"
    let devices = image.manifest.devices
    if json {
        var s = "{\n  \"file\": \(jsonString(file)),\n  \"machine\": \"aarch64\",\n"
        s += "  \"platform\": \"qemu-virt\",\n  \"format\": \(jsonString(image.format == .image ? "image" : "elf")),\n"
        s += "  \"entry\": \"0x40200000\",\n"
        s += "  \"manifest\": {\"type\": \"solo5.manifest\", \"version\": 1, \"devices\": ["
        s += devices.map { e in
            "{\"name\": \(jsonString(e.name)), \"type\": \(jsonString(e.type?.name ?? "UNKNOWN(\(e.typeCode))"))}"
        }.joined(separator: ", ")
        s += "]}\n}"
        emit(1, s)
    } else {
        var s = "\(file): aarch64 unikernel for QEMU virt (\(format)), not hvt\n"
        s += "entry: 0x40200000\n"
        s += "devices: \(devices.count)"
        for (i, e) in devices.enumerated() {
            s += "\n  \(i + 1)  \(e.type?.name ?? "UNKNOWN(\(e.typeCode))")  \(e.name)"
        }
        emit(1, s)
    }
    return 0
}
