// AArch64.swift: `skiff build --arch aarch64`: the same Swift sources and manifest → an arm64 Image for QEMU's virt machine.
//
// Kept apart from the x86_64 Builder (SkiffBuild.swift) on purpose: it
// shares its pieces (source collection, manifest parsing, notes, toolchain,
// processes) but none of the hvt post-link work (page tables are built by
// the guest itself here). See docs/boot-aarch64.md.
//
// Output: OUT is the raw arm64 Image (what `qemu-system-aarch64 -kernel`
// and `skiff run` take); OUT.elf is the same image as an ELF, for debuggers,
// for QEMU's ELF loader (docs/boot-aarch64.md has the DTB caveat) and for
// tools that read notes. `skiff run` finds the notes inside the Image through
// the SKIFFIMG block that follows the Image header, so the .elf is optional.

/// Builds an aarch64 QEMU-virt unikernel.
struct AArch64Builder {
    static let triple = "aarch64-none-none-elf"
    /// Where the image is linked and loaded (Guest/aarch64/layout.h).
    static let linkBase: UInt64 = 0x4020_0000
    /// text_offset in the Image header: linkBase - QEMU virt's RAM base.
    static let textOffset: UInt64 = 0x20_0000
    var options: BuildOptions

    func run() throws(BuildError) {
        let (sources, manifestPath) = try Builder(options: options).collectSources()
        var devices: [DeviceDeclaration] = []
        if let manifestPath {
            devices = try ManifestSource.parse(try FileSystem.readFile(manifestPath), fileName: manifestPath)
        }
        let runtime = try RuntimeSources.find()
        let platform = runtime.guest + "/aarch64"
        for p in [platform + "/skiff.ld", platform + "/boot.S", platform + "/notes.S",
                  runtime.abiIncludeDirectory + "/hvt_abi.h", runtime.includeDirectory + "/module.modulemap",
                  runtime.guest + "/rt/heap.c", runtime.guest + "/rt/math.c", runtime.guest + "/rt/console.c"]
        where FileSystem.kind(p) != .file {
            throw BuildError("runtime file missing: \(p)")
        }
        let tools = try Toolchain.find(triple: AArch64Builder.triple)

        let tmp = try FileSystem.makeTemporaryDirectory()
        let keep = FileSystem.environment("SKIFF_BUILD_KEEP") != nil
        defer {
            if keep { printError("skiff build: kept \(tmp)") } else { FileSystem.removeTree(tmp) }
        }
        if options.verbose { printError("+ # runtime \(runtime.root), arch aarch64, scratch \(tmp)") }

        // The generated notes: the MFT1 note is read by the guest (devices.c)
        // and by `skiff run`; the hvt ABI1 note is discarded by skiff.ld
        // (these images are not hvt guests; notes.S marks them instead).
        try FileSystem.writeFile(tmp + "/solo5notes.S", SoloNotes.assembly(devices))
        let includes = ["-I", platform, "-I", runtime.includeDirectory, "-I", runtime.abiIncludeDirectory]
        // -mstrict-align: parts of the runtime run with the MMU off, where
        // memory is Device-nGnRnE and unaligned accesses fault.
        let cflags = ["-target", AArch64Builder.triple, "-ffreestanding", "-fno-builtin", "-nostdlib",
                      "-O2", "-fno-pic", "-mstrict-align",
                      "-mstack-protector-guard=global", "-fstack-protector-strong",
                      "-fno-asynchronous-unwind-tables", "-ffunction-sections", "-fdata-sections",
                      "-std=c11", "-Wall", "-Werror=implicit-function-declaration"] + includes
        var swiftFlags = ["-target", AArch64Builder.triple, "-enable-experimental-feature", "Embedded",
                          "-wmo", "-parse-as-library", "-O", "-Xcc", "-fno-pic",
                          "-Xfrontend", "-function-sections"]
        swiftFlags += includes.flatMap { ["-Xcc", $0] }
        swiftFlags += ["-I", runtime.includeDirectory]
        if let extra = FileSystem.environment("SKIFF_SWIFTFLAGS") {
            swiftFlags += extra.split(separator: " ").map(String.init)
        }

        var objects: [String] = []
        var stage: [Command] = []
        let swiftSources = try runtime.swiftSources()
        stage.append(Command(executable: tools.swiftc, arguments: swiftFlags + [
            "-module-name", "Skiff", "-emit-module", "-emit-module-path", tmp + "/Skiff.swiftmodule",
            "-c", "-o", tmp + "/Skiff.o"] + swiftSources))
        for asm in [platform + "/boot.S", platform + "/notes.S", tmp + "/solo5notes.S"] {
            let o = tmp + "/" + FileSystem.basename(asm) + ".o"
            objects.append(o)
            stage.append(Command(executable: tools.clang, arguments: [
                "-target", AArch64Builder.triple, "-DSKIFF_STACK_SIZE=\(options.stackSize)"]
                + includes + ["-c", asm, "-o", o]))
        }
        let cSources = try FileSystem.list(platform).filter { $0.hasSuffix(".c") }.map { platform + "/" + $0 }
            + [runtime.guest + "/rt/heap.c", runtime.guest + "/rt/math.c", runtime.guest + "/rt/console.c"]
        for (i, c) in cSources.enumerated() {
            let o = tmp + "/rt\(i)-" + FileSystem.basename(c) + ".o"
            objects.append(o)
            stage.append(Command(executable: tools.clang, arguments: cflags + ["-c", c, "-o", o]))
        }
        try Processes.run(stage, verbose: options.verbose)
        objects.append(tmp + "/Skiff.o")

        try Processes.run([Command(executable: tools.swiftc, arguments: swiftFlags + [
            "-module-name", "SkiffApp", "-I", tmp, "-c", "-o", tmp + "/app.o"] + sources)],
            verbose: options.verbose)
        objects.append(tmp + "/app.o")

        let elfPath = tmp + "/image.elf"
        try Processes.run([Command(executable: tools.lld, arguments: [
            "-T", platform + "/skiff.ld", "-nostdlib", "-static", "--gc-sections",
            "--orphan-handling=error", "-z", "max-page-size=4096", "-z", "norelro",
            "-z", "noexecstack", "--no-dynamic-linker", "-o", elfPath] + objects
            + (tools.unicodeTables.map { [$0] } ?? []))], verbose: options.verbose)

        let elfBytes = try FileSystem.readFile(elfPath)
        let image = try AArch64Image.flatten(try ELFFile(bytes: elfBytes))
        try AArch64Image.check(image)
        try FileSystem.writeFile(options.output + ".elf", elfBytes, mode: 0o755)
        let partial = options.output + ".tmp-skiff"
        try FileSystem.writeFile(partial, image, mode: 0o644)
        guard rename(partial, options.output) == 0 else {
            let e = FileSystem.errnoText()
            unlink(partial)
            throw BuildError("\(options.output): \(e)")
        }
    }
}

/// The raw arm64 Image: what `llvm-objcopy -O binary` makes of the ELF.
public enum AArch64Image {
    /// Offsets of the Image header fields (Linux booting.rst) and of the
    /// Skiff info block that follows it (Guest/aarch64/layout.h).
    public static let textOffsetField = 0x08, imageSizeField = 0x10, magicField = 0x38
    public static let infoOffset = 0x40
    public static let magic: [UInt8] = [0x41, 0x52, 0x4d, 0x64]                    // "ARM\x64"
    public static let infoMagic: [UInt8] = Array("SKIFFIMG".utf8)

    /// Lays the file contents of every PT_LOAD at `vaddr - first vaddr`,
    /// zero-filling gaps; NOBITS tails are not part of the file (the header's
    /// image_size covers them). Segments must be in address order.
    public static func flatten(_ elf: ELFFile) throws(BuildError) -> [UInt8] {
        let loads = elf.loadSegments
        guard let first = loads.first, first.vaddr == AArch64Builder.linkBase else {
            throw BuildError("linked image: the first PT_LOAD is not at 0x\(String(AArch64Builder.linkBase, radix: 16))")
        }
        guard elf.entry == first.vaddr else {
            throw BuildError("linked image: the entry point is not the Image header")
        }
        var out: [UInt8] = []
        var last: UInt64 = first.vaddr
        for s in loads where s.filesz > 0 {
            guard s.vaddr >= last, s.offset + s.filesz <= UInt64(elf.bytes.count) else {
                throw BuildError("linked image: PT_LOAD segments overlap or are out of order")
            }
            let at = Int(s.vaddr - first.vaddr)
            if out.count < at { out += [UInt8](repeating: 0, count: at - out.count) }
            out += elf.bytes[Int(s.offset)..<Int(s.offset + s.filesz)]
            last = s.vaddr + s.filesz
        }
        return out
    }

    /// Checks what the loader and `skiff run` rely on: Image magic,
    /// text_offset, image_size, the SKIFFIMG block and the notes it locates.
    public static func check(_ image: [UInt8]) throws(BuildError) {
        func bad(_ why: String) -> BuildError { BuildError("aarch64 image: \(why)") }
        guard image.count >= 0x80, Array(image[magicField..<(magicField + 4)]) == magic else {
            throw bad("no arm64 Image header")
        }
        guard image.le64(at: textOffsetField) == AArch64Builder.textOffset else {
            throw bad("text_offset does not match the link address")
        }
        guard image.le64(at: imageSizeField) >= UInt64(image.count) else { throw bad("image_size too small") }
        guard Array(image[infoOffset..<(infoOffset + 8)]) == infoMagic else { throw bad("no SKIFFIMG block") }
        for field in [infoOffset + 0x10, infoOffset + 0x20] {
            let off = image.le64(at: field), size = image.le64(at: field + 8)
            guard off + size <= UInt64(image.count) else { throw bad("note outside the image") }
        }
        guard image.le64(at: infoOffset + 0x28) > 0 else { throw bad("no platform note") }
    }
}

import Glibc
