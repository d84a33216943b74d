// Skiff.swift: the `skiff` command: run, build, inspect, bench. The only place that turns errors into exit statuses.

import SkiffCore
import SkiffMonitor
import SkiffModules
import SkiffBuild
import SkiffQEMU
import SkiffOCI


func emit(_ fd: Int32, _ s: String) { Host.writeLine(fd, s) }
func err(_ s: String) { emit(2, "skiff: " + s) }

let topUsage = """
    usage: skiff <command> [ARGS...]
      run [OPTIONS] [--] KERNEL [ARGS...]   run an hvt unikernel (solo5-hvt syntax; see skiff run --help)
      init [--arch A] [--platform P] NAME   create a unikernel Swift package NAME/ (skiff build builds it)
      build [PATH] [-o OUT] [--arch ARCH]   build a unikernel from Embedded Swift sources (a package: skiff init)
      sdk install|remove|list               Skiff's Swift SDKs (swift build --swift-sdk skiff-x86_64-hvt)
      inspect [--json] KERNEL               print an image's ABI note and manifest
      inspect --dtb [OPTIONS] IMAGE [ARGS]  print the device tree skiff-hvt writes for an arm64 Image
      bench [--json] [--update-docs]        run the benchmarks (scripts/bench of the source tree)
      oci build KERNEL -o OUT.tar [...]     package a unikernel as an OCI image (docs/containers.md)
      oci runtime ...                       the OCI runtime containerd runs (runc's CLI; also as skiff-oci-runtime)
      --version                             print the version
    """

func runCommand(_ args: [String], rawArguments: [[UInt8]]) -> Int32 {
    // aarch64 QEMU virt: a Skiff virt image (raw arm64 Image, or its ELF with the Skiff VIRT note). Every
    // ELF else goes to the tender, aarch64 hvt images (ABI1, `--arch aarch64 --platform hvt`) included:
    // an arm64 tender runs them, an x86_64 one refuses them (wrong e_machine). An x86_64 ELF (e_machine
    // 62 in its first 64 bytes) goes to the tender without reading further.
    if let options = try? RunOptions.parse(args),
       (try? Host.readFile(options.kernel, limit: 64, prefixOnly: true))?.u16(18) != GuestArchitecture.x86_64.elfMachine,
       VirtImage.isVirtImage(path: options.kernel) {
        return runAArch64Image(options, warn: { err($0) })
    }
    // An arm64 Image that is not a QEMU-virt image (a Xen arm64 image, a Linux kernel) has no monitor on an
    // x86_64 host: say so in one line instead of the tender's "No Solo5 ABI information". (x86_64 PVH images
    // go to the tender, which boots them by PVH: docs/boot-x86_64-pvh.md.)
    if let options = try? RunOptions.parse(args), let head = try? Host.readFile(options.kernel, limit: 128, prefixOnly: true),
       ARM64ImageHeader.hasMagic(head) && !SkiffImageBlock.isPresent(in: head) {
        err("\(options.kernel): an arm64 Image that is not a QEMU-virt image (a Xen one?): skiff run does not run it "
            + "on this host; boot it under Xen (docs/platform-xen.md) or with skiff-hvt on arm64 (docs/boot-aarch64-linux.md)")
        return 1
    }
    // hvt: the tender beside this binary, as `skiff` (so its messages and usage say `skiff run`).
    let guest = rawArguments
    if let exe = Host.executablePath(), let slash = exe.lastIndex(of: "/") {
        let tender = String(exe[..<slash]) + "/skiff-hvt"
        if access(tender, X_OK) == 0 {
            let e = Host.exec(tender, [Array("skiff".utf8)] + guest)
            err("cannot run \(tender): \(errnoString(e))")
            return 1
        }
    }
    // No tender installed beside skiff: the same monitor, in this process.
    return Tender.main(args, rawArguments: guest, program: "skiff")
}

/// `skiff bench`: runs `scripts/bench` of the source tree this binary was built in (SourceTree.locate()).
func benchCommand(_ args: [String]) -> Int32 {
    if let root = try? SourceTree.locate(), access(root + "/scripts/bench", X_OK) == 0 {
        let script = root + "/scripts/bench"
        let e = Host.exec(script, ([script] + args).map { Array($0.utf8) })
        err("bench: cannot run \(script): \(errnoString(e))")
        return 1
    }
    err("bench: scripts/bench not found above this binary (run it from the Skiff source tree)")
    return 1
}

func printVersion() { Tender.printVersion(program: "skiff") }

func skiffMain() -> Int32 {
    let rawArguments = Host.rawArguments()
    var args = rawArguments.dropFirst().map { String(decoding: $0, as: UTF8.self) }
    let prog = Tender.programName(rawArguments.first ?? [])
    if prog == "solo5-hvt" || prog == "solo5-hvt-debug" || prog == "skiff-hvt" {
        return Tender.main(args, rawArguments: Array(rawArguments.dropFirst()), program: prog)
    }
    if prog == "skiff-oci-runtime" { return ociRuntimeMain(args) }
    guard let cmd = args.first else { emit(2, topUsage); return 1 }
    args.removeFirst()
    switch cmd {
    case "run": return runCommand(args, rawArguments: Array(rawArguments.suffix(args.count)))
    case "build": return skiffBuildMain(args)
    case "init": return skiffInitMain(args)
    case "sdk": return skiffSDKMain(args)
    case "link": return skiffLinkMain(args)
    case "inspect": return inspectCommand(args)
    case "bench": return benchCommand(args)
    case "oci": return ociCommand(args)
    case "--version", "version": printVersion(); return 0
    case "--help", "-h", "help": emit(1, topUsage); return 0
    default:
        err("unknown command '\(cmd)'")
        emit(2, topUsage)
        return 1
    }
}

#if hasFeature(Embedded)
@_cdecl("main") func main(_ argc: Int32, _ argv: Host.CArgv) -> Int32 { Host.setArguments(argc, argv); return skiffMain() }
#else
@main struct Skiff { static func main() { Host.exit(skiffMain()) } }
#endif
