// ELFFuzz/main.swift: libFuzzer target for the image loaders: ELF header, ABI1/MFT1 notes, manifest, load plan, load; arm64 Image placement and device tree.
//
// The ELFFuzz target of Fuzz/Package.swift; scripts/fuzz builds it with -sanitize=fuzzer,address.
// Every input is treated two ways:
//   1. as an ELF file: `ELFImage` (both machines, and each arch), `checkABINote`,
//      `manifest`, `LoadPlan` for several memory sizes, and `LoadPlan.load` into
//      an 8 MiB guest when the plan was made for exactly that size;
//   2. as a bare MFT1 descriptor: `Manifest(descriptor:)`;
//   3. as an arm64 `Image` (when it has the magic): `LinuxArm64Boot` for a few memory sizes, its
//      placement rules, the device tree it writes (parsed back), loading into an 8 MiB guest;
//   4. as a PVH ELF (Xen's PHYS32_ENTRY note, no Solo5 ABI note): `PVHBoot`, its entry rule, the
//      start_info and memory map written into an 8 MiB guest.
// Refusing an input is fine. A trap, a sanitizer report, or a broken invariant
// (an accepted plan that breaks a rule of spec §2.3, a manifest that does not
// round-trip, a multi-line error message) is a bug.

import Glibc
import FuzzSupport
import SkiffBoot
import SkiffCore

/// Guest RAM for the load step, made once; segments are wiped after each load.
let loadMemSize: UInt64 = 8 << 20
let loadMemory: GuestMemory = {
    let m = try! GuestMemory(size: loadMemSize)
    addGuardPages(around: m)
    return m
}()

/// How far inputs get, printed at exit when FUZZ_STATS is set: shows which paths a corpus reaches.
nonisolated(unsafe) var stats: [String: Int] = [:]
let statsEnabled: Bool = {
    guard getenv("FUZZ_STATS") != nil else { return false }
    atexit { for (k, v) in stats.sorted(by: { $0.key < $1.key }) { print("elf-fuzz stats: \(k): \(v)") } }
    return true
}()

func count(_ what: @autoclosure () -> String) {
    if statsEnabled { stats[what(), default: 0] += 1 }
}

/// The entry SwiftPM links as `main` (see `libFuzzerMain`).
@_cdecl("ELFFuzz_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    libFuzzerMain(argc, argv, fuzzOne)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size > 0 ? Array(UnsafeBufferPointer(start: data!, count: size)) : []
    count("0 inputs")
    fuzzELF(bytes)
    fuzzManifestDescriptor(bytes)
    fuzzArm64Image(bytes)
    fuzzPVH(bytes)
    return 0
}

func checkMessage(_ e: ImageError) {
    let m = e.message
    invariant(!m.isEmpty && !m.contains("\n"), "image error message is empty or multi-line: \(m)")
}

func fuzzELF(_ bytes: [UInt8]) {
    // The per-arch initialisers must agree with the any-machine one.
    for arch in GuestArchitecture.allCases {
        let one = Result { () throws(ImageError) in try ELFImage(bytes: bytes, arch: arch) }
        if case .failure(let e) = one { checkMessage(e) }
        if case .success(let img) = one { invariant(img.machine == arch.elfMachine, "arch init accepted machine \(img.machine)") }
    }
    let image: ELFImage
    do { image = try ELFImage(bytes: bytes, machines: GuestArchitecture.allCases.map(\.elfMachine)) } catch {
        checkMessage(error); return
    }
    count("1 header ok")
    invariant(image.architecture != nil, "accepted an image with no known architecture")
    invariant(!image.programHeaders.isEmpty, "accepted an image with no program headers")

    // Notes: each step runs even if the one before refused, for coverage.
    do { try image.checkABINote(); count("2 ABI1 ok") } catch { checkMessage(error) }
    do {
        let m = try image.manifest()
        count("3 MFT1 ok")
        checkManifest(m)
    } catch { checkMessage(error) }

    // Load plans for a few memory sizes: the fixtures' 512 MiB, the load
    // guest's 8 MiB, the minimum base (nothing fits), an odd size derived from
    // the last byte (often not page-aligned), and two huge ones.
    let last = UInt64(bytes.last ?? 0)
    let sizes: [UInt64] = [512 << 20, loadMemSize, HvtLayout.guestMinBase,
                           HvtLayout.guestMinBase + (last << 16) + (last & 3) * 0x801,
                           1 << 32, .max]
    for (i, memSize) in sizes.enumerated() {
        let plan: LoadPlan
        do { plan = try LoadPlan(image: image, memSize: memSize) } catch { checkMessage(error); continue }
        count("4 plan ok, mem " + (i == 3 ? "derived from last byte" : hex(memSize)))
        checkPlan(plan, image: image, memSize: memSize)
        if memSize == loadMemSize { load(plan, image); count("5 loaded (\(plan.segments.count) segments)") }
    }
}

/// Spec §2.3 rules every accepted plan must satisfy.
func checkPlan(_ plan: LoadPlan, image: ELFImage, memSize: UInt64) {
    invariant(plan.entry >= HvtLayout.guestMinBase && plan.entry < memSize, "entry \(hex(plan.entry)) outside [min, \(hex(memSize)))")
    var prevEnd: UInt64 = 0
    var maxEnd: UInt64 = 0
    for s in plan.segments {
        let ph = image.programHeaders[s.index]
        invariant(ph.type == ProgramHeader.load && ph.filesz != 0, "segment \(s.index) is not a file-backed PT_LOAD")
        invariant(s.start >= HvtLayout.guestMinBase, "segment \(s.index) starts below the minimum base")
        invariant(s.start % HvtLayout.pageSize == 0 && s.end % HvtLayout.pageSize == 0, "segment \(s.index) not page-aligned")
        invariant(s.start <= s.vaddr && s.start >= prevEnd, "segment \(s.index) overlaps the previous one")
        let (memEnd, o) = s.vaddr.addingReportingOverflow(s.memsz)
        invariant(!o && memEnd <= s.end && s.end <= memSize, "segment \(s.index) runs past memory")
        invariant(s.filesz <= s.memsz, "segment \(s.index) filesz > memsz")
        let (fileEnd, o2) = s.fileOffset.addingReportingOverflow(s.filesz)
        invariant(!o2 && fileEnd <= UInt64(image.bytes.count), "segment \(s.index) file range past EOF")
        invariant(!(s.writable && ph.flags & ProgramHeader.flagX != 0), "segment \(s.index) is W+X")
        prevEnd = s.end
        maxEnd = max(maxEnd, s.end)
    }
    invariant(plan.kernelEnd == maxEnd, "kernelEnd \(hex(plan.kernelEnd)) != last segment end \(hex(maxEnd))")
}

/// Loads an accepted plan into the 8 MiB guest, checks the copy, then restores the guest to all-zero RW.
func load(_ plan: LoadPlan, _ image: ELFImage) {
    let mem = loadMemory
    do { try plan.load(image, into: mem) } catch {
        fatalError("a plan accepted for \(hex(loadMemSize)) failed to load into that much memory: \(error.message)")
    }
    // Read-only and no-access (p_flags without R/X) segments: open everything up again before reading back.
    invariant(mem.protect(at: GuestAddress(0), count: mem.allocationSize, writable: true, readable: true), "mprotect reset failed")
    for s in plan.segments {
        let got = try! mem.read(at: GuestAddress(s.vaddr), count: Int(s.filesz))
        invariant(got[...] == image.bytes[Int(s.fileOffset)..<Int(s.fileOffset + s.filesz)], "segment \(s.index) bytes differ")
        let tail = s.memsz - s.filesz
        if tail > 0 {
            let n = Int(min(tail, 256))
            let head = try! mem.read(at: GuestAddress(s.vaddr + s.filesz), count: n)
            let end = try! mem.read(at: GuestAddress(s.vaddr + s.memsz - UInt64(n)), count: n)
            invariant(head.allSatisfy { $0 == 0 } && end.allSatisfy { $0 == 0 }, "segment \(s.index) BSS not zeroed")
        }
    }
    for s in plan.segments { try! mem.zero(at: GuestAddress(s.vaddr), count: s.memsz) }
}

/// A validated manifest must serialise to bytes that validate to the same manifest.
func checkManifest(_ m: Manifest) {
    invariant((1...Manifest.maxEntries).contains(m.entries.count), "manifest with \(m.entries.count) entries")
    invariant(m.entries[0].type == .reservedFirst && m.entries[0].name.isEmpty, "entry 0 is not the reserved entry")
    invariant(m.entries.allSatisfy { !$0.attached && $0.raw.count == ManifestEntry.size }, "entry attached or mis-sized")
    let b = m.bytes
    invariant(b.count == 8 + ManifestEntry.size * m.entries.count, "manifest bytes of size \(b.count)")
    invariant(m.noteDescriptor.count == 4 + b.count, "note descriptor size")
    do {
        let again = try Manifest(descriptor: b)
        invariant(again == m, "manifest does not round-trip through its bytes")
    } catch {
        fatalError("the bytes of a valid manifest do not validate: \(error.reason)")
    }
    for (i, e) in m.entries.enumerated().dropFirst() where !e.name.isEmpty {
        let h = m.handle(named: e.name)
        invariant(h != nil && h! <= i && m.entries[h!].name == e.name, "handle(named: \(e.name)) = \(String(describing: h))")
    }
}

func fuzzManifestDescriptor(_ bytes: [UInt8]) {
    do {
        let m = try Manifest(descriptor: bytes)
        count("6 bare descriptor ok")
        invariant(m.bytes == bytes, "a valid descriptor is not reproduced byte for byte")
        checkManifest(m)
    } catch {
        invariant(!error.reason.isEmpty && !error.reason.contains("\n"), "manifest error reason: \(error.reason)")
    }
}

/// The arm64 Image protocol: whatever it accepts, the Image, the device tree (and nothing else) lie in RAM,
/// apart; the tree is a well-formed DTB of the right size; loading stays inside the guest.
func fuzzArm64Image(_ bytes: [UInt8]) {
    guard ARM64ImageHeader.hasMagic(bytes) else { return }
    count("7 Image magic")
    let last = UInt64(bytes.last ?? 0)
    for mem in [UInt64(512 << 20), loadMemSize, 2 << 20, (2 + last) << 20] {
        var o = RunOptions(kernel: "fuzz")
        o.memoryBytes = mem
        o.guestArguments = last & 1 == 0 ? [] : ["console=ttyAMA0", String(repeating: "x", count: Int(last))]
        let boot: LinuxArm64Boot
        do { boot = try LinuxArm64Boot(bytes: bytes, options: o) } catch {
            let m = error.message
            invariant(!m.isEmpty && !m.contains("\n"), "Image error message is empty or multi-line: \(m)")
            continue
        }
        count("8 Image accepted")
        let base = boot.convention.ramBase, size = boot.memorySize.guest
        let footprint = max(boot.header.imageSize, UInt64(bytes.count))
        invariant(boot.entry >= base && boot.entry - base <= size && footprint <= size - (boot.entry - base), "Image outside RAM")
        invariant((boot.entry - base) % 4096 == 0, "Image not page-aligned")
        let blob = boot.deviceTree(seed: [1, 2, 3]).serialized()
        let dtb = boot.deviceTreeAddress
        invariant(dtb >= base && dtb % 8 == 0 && UInt64(blob.count) <= size - (dtb - base), "device tree outside RAM")
        invariant(dtb + UInt64(blob.count) <= boot.entry || dtb >= boot.entry + footprint, "device tree overlaps the Image")
        invariant(blob.count >= 40 && blob[0..<4].elementsEqual([0xd0, 0x0d, 0xfe, 0xed]), "device tree without its magic")
        let total = blob[4..<8].reduce(0) { $0 << 8 | Int($1) }
        invariant(total == blob.count, "device tree totalsize \(total) != \(blob.count)")
        if mem == loadMemSize {
            do {
                try boot.loadImage(into: loadMemory)
                try boot.writeBootData(into: loadMemory, manifest: boot.manifest, attachment: ModuleAttachment(), cpuCycleFrequency: 1)
                count("9 Image loaded")
            } catch {
                fatalError("an Image accepted for \(hex(loadMemSize)) failed to load: \(error)")
            }
            try! loadMemory.zero(at: GuestAddress(0), count: loadMemSize)
        }
    }
}

/// PVH: whatever PVHBoot accepts has its entry inside an executable loaded segment and writes its boot data
/// inside the guest; refusals are one line.
func fuzzPVH(_ bytes: [UInt8]) {
    guard PVHBoot.isPVH(bytes) else { return }
    count("a PVH note")
    var o = RunOptions(kernel: "fuzz")
    o.memoryBytes = loadMemSize
    o.guestArguments = [String(repeating: "a", count: Int(bytes.last ?? 0))]
    let boot: PVHBoot
    do { boot = try PVHBoot(bytes: bytes, options: o) } catch {
        if case .image(let e) = error { checkMessage(e) }
        return
    }
    count("b PVH accepted")
    let inText = boot.plan.segments.contains { s in
        boot.image.programHeaders[s.index].flags & ProgramHeader.flagX != 0 && boot.entry >= s.vaddr && boot.entry - s.vaddr < s.memsz
    }
    invariant(inText, "PVH entry \(hex(boot.entry)) outside the executable segments")
    do {
        try boot.loadImage(into: loadMemory)
        try boot.writeBootData(into: loadMemory, manifest: boot.manifest, attachment: ModuleAttachment(), cpuCycleFrequency: 1)
        count("c PVH loaded")
    } catch {
        fatalError("a PVH image accepted for \(hex(loadMemSize)) failed to load: \(error)")
    }
    invariant(loadMemory.protect(at: GuestAddress(0), count: loadMemory.allocationSize, writable: true, readable: true), "mprotect reset failed")
    try! loadMemory.zero(at: GuestAddress(0), count: loadMemSize)
}
