// SkiffHVT.swift: `skiff-hvt`, the per-VM tender: solo5-hvt's command line (also when invoked as solo5-hvt or solo5-hvt-debug).

import SkiffCore
import SkiffMonitor

/// Runs the tender on this process's argv.
func tenderMain() -> Int32 {
    let argv = Host.rawArguments()
    let arguments = argv.dropFirst().map { String(decoding: $0, as: UTF8.self) }
    return Tender.main(Array(arguments), rawArguments: Array(argv.dropFirst()), program: Tender.programName(argv.first ?? []))
}

#if hasFeature(Embedded)
@_cdecl("main") func main(_ argc: Int32, _ argv: Host.CArgv) -> Int32 { Host.setArguments(argc, argv); return tenderMain() }
#else
@main struct SkiffHVT { static func main() { Host.exit(tenderMain()) } }
#endif
