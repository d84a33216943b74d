// ExitDecodingTests.swift: the KVM backend describes its own exits: synthetic kvm_run values → faults and messages, no /dev/kvm needed.

import Testing
import CSkiffKVM
import SkiffCore
@testable import SkiffKVM

func exitRun(_ reason: Int32, _ fill: (inout kvm_run) -> Void = { _ in }) -> kvm_run {
    var r = kvm_run()
    r.exit_reason = UInt32(reason)
    fill(&r)
    return r
}

@Test(arguments: [
    (exitRun(KVM_EXIT_SHUTDOWN), GuestFault.Kind.shutdown, "KVM: unhandled exit: exit_reason=0x8, rip=0x100123 (triple fault)"),
    (exitRun(KVM_EXIT_HLT), .halted, "KVM: unhandled exit: exit_reason=0x5, rip=0x100123 (HLT)"),
    (exitRun(KVM_EXIT_MMIO) { $0.mmio.phys_addr = 0x100000; $0.mmio.is_write = 1 }, .protection,
     "KVM: host/guest translation fault: rip=0x100123"),
    (exitRun(KVM_EXIT_MMIO) { $0.mmio.phys_addr = 0x1_0000_0000; $0.mmio.is_write = 1 }, .unexpectedMMIO,
     "KVM: unhandled exit: exit_reason=0x6, rip=0x100123 (MMIO write at 0x100000000 outside guest memory)"),
    (exitRun(KVM_EXIT_FAIL_ENTRY) { $0.fail_entry.hardware_entry_failure_reason = 0x21 }, .entryFailure,
     "KVM: entry failure: hw_entry_failure_reason=0x21"),
    (exitRun(KVM_EXIT_INTERNAL_ERROR) { $0.internal.suberror = 1 }, .internalError,
     "KVM: internal error exit: suberror=0x1, rip=0x100123"),
] as [(kvm_run, GuestFault.Kind, String)])
func fatalExitsAreDescribedByTheBackend(_ r: kvm_run, _ kind: GuestFault.Kind, _ message: String) {
    let exit = KVMRunState.decodeCommonExit(r, memorySize: 64 << 20, pcName: "rip", pc: { 0x100123 })
    guard case .fault(let f) = exit else { Issue.record("not a fault: \(String(describing: exit))"); return }
    #expect(f.kind == kind)
    #expect(f.message == message)
}

@Test func otherExitsAreLeftToTheArchitecture() {
    #expect(KVMRunState.decodeCommonExit(exitRun(KVM_EXIT_IO), memorySize: 1 << 20, pcName: "pc", pc: { 0 }) == nil)
    #expect(KVMRunState.decodeCommonExit(exitRun(KVM_EXIT_INTR), memorySize: 1 << 20, pcName: "pc", pc: { 0 }) == .interrupted)
    let u = KVMRunState.unhandled(exitRun(99), pcName: "pc", pc: 0x40)
    #expect(u == .fault(GuestFault(kind: .unhandled, message: "KVM: unhandled exit: exit_reason=0x63, pc=0x40", programCounter: 0x40)))
}
