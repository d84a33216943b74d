// main.swift: `skiff-hvt`, the per-VM tender: solo5-hvt's command line (also when invoked as solo5-hvt or solo5-hvt-debug).

import SkiffCore
import SkiffMonitor

let argv = Host.rawArguments()
let arguments = argv.dropFirst().map { String(decoding: $0, as: UTF8.self) }
Host.exit(Tender.main(Array(arguments), rawArguments: Array(argv.dropFirst()), program: Tender.programName(argv.first ?? [])))
