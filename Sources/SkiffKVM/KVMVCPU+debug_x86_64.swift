// KVMVCPU+debug_x86_64.swift: the KVM backend's x86_64 debugging side: registers by KVM_GET_REGS/SREGS (and back), KVM_SET_GUEST_DEBUG and its exits, and trampolines in the guest's #BP/#DB handlers for hosts whose guest debugging stops short.
//
// Hardware-assisted KVM (kvm_intel, kvm_amd on a real CPU): `KVM_SET_GUEST_DEBUG`
// with USE_SW_BP (every `int3` exits, exception 3, pc = the int3), SINGLESTEP
// (exception 1, DR6.BS) and USE_HW_BP with DR0-DR3/DR7 (DR6.Bn says which).
//
// Two hosts stop short of that (measured; docs/debugging.md):
// - PVM (kvm_pvm; platform notes §1) runs CPL3 natively and emulates CPL0: at
//   CPL3 an `int3` and a TF single step are delivered to the guest's own IDT,
//   and DR breakpoints never fire; USE_SW_BP makes an `int3` at CPL0 an
//   emulation failure. Single steps at CPL0 work.
// - KVM nested under QEMU's TCG (the real-KVM test tier; CPUID "TCGTCGTCGTCG"):
//   QEMU 7.2's SVM emulation checks an `int3` against the software-interrupt
//   intercept, not #BP's, so it too reaches the guest's IDT; DR breakpoints
//   never fire; single steps work; after a KVM_GET_SREGS/KVM_SET_SREGS round
//   trip (TR read back busy) every OUT from CPL3, every hypercall, is a #GP.
// So, on every host, while a debugger wants breakpoints or steps, the entries
// of the guest's #BP and #DB handlers (from its IDT) become trampolines:
// `out %al, $0xd3` (#BP; $0xd1 for #DB) then `iretq`. The OUT exits to the
// monitor, which reports the stop at the interrupted instruction (for #BP:
// the `int3`, the frame's rip moved back onto it) and, while the vCPU sits in
// the trampoline, shows and changes the registers of the interrupted context
// in the frame the CPU pushed (rip, cs, rflags, rsp, ss); resuming runs the
// `iretq`, so no segment is ever set from outside (no KVM_SET_SREGS). A step
// from there is the frame's TF: one instruction, then #DB, trampoline again.
// Before the guest has loaded an IDT (its CPL0 start-up), the monitor single
// steps until it has, where the hypervisor needs the trampolines. The
// original bytes come back on detach (after the vCPU has left them).
// Hardware breakpoints and watchpoints: hardware KVM only.

#if arch(x86_64)
import CSkiffLinux
import CSkiffKVM
import SkiffCore
import SkiffArchX86_64

/// The debugger's traps on an x86_64 vCPU.
struct X86GuestDebug {
    /// What the debugger asked for.
    var control = GuestDebugControl()
    /// The host's kind, found on first use (a stat and maybe a CPUID): a run without a debugger never asks.
    lazy var host = X86DebugHost.detect()
    /// Trampolines in place (KVMVCPU.installTrampolines), and those to restore once the vCPU has left them.
    var trampolines: [X86Trampoline] = []
    var retiring: [X86Trampoline] = []
    /// Stepping on the monitor's own account until the guest has loaded its IDT (not on hardware KVM).
    var steppingStartup = false
    var startupSteps = 0

    /// Steps of a guest's start-up after which the monitor stops waiting for its IDT (Skiff's: 13).
    static let startupStepLimit = 100_000
    /// RFLAGS.TF, DR6.BS, DR7's reserved bit 10 (reads as 1).
    static let trapFlag: UInt64 = 0x100, singleStepStatus: UInt64 = 1 << 14, dr7Reserved: UInt64 = 1 << 10
    /// KVM_GUESTDBG_*: ENABLE, SINGLESTEP, USE_SW_BP, USE_HW_BP.
    static let enable: UInt32 = 0x1, singleStep: UInt32 = 0x2, softwareBreakpoints: UInt32 = 0x1_0000,
               hardwareBreakpoints: UInt32 = 0x2_0000
    /// The ports of the trampolines' OUTs: nothing else in an hvt guest uses a port below 0x500.
    static let breakpointPort: UInt8 = 0xd3, debugPort: UInt8 = 0xd1

    /// DR7's bits for `h` in slot `n`: local enable, R/W (00 execute, 01 write, 11 access) and LEN.
    static func dr7Bits(_ h: HardwareBreakpoint, slot n: Int) -> UInt64 {
        let rw: UInt64 = h.kind == .execute ? 0 : h.kind == .write ? 1 : 3
        var len: UInt64 = 0   // 1 byte (and every execute breakpoint)
        if h.kind != .execute {
            switch h.length { case 2: len = 1; case 8: len = 2; case 4: len = 3; default: len = 0 }
        }
        return 1 << UInt64(2 * n) | rw << UInt64(16 + 4 * n) | len << UInt64(18 + 4 * n)
    }

    /// Why the hardware cannot take `h` (nil if it can): x86 watches 1, 2, 4 or 8 aligned bytes, writes or any access.
    static func refusal(_ h: HardwareBreakpoint) -> String? {
        switch h.kind {
        case .execute: return nil
        case .read: return "x86 has no read-only watchpoints"
        case .write, .access:
            guard [1, 2, 4, 8].contains(h.length), h.address % h.length == 0 else {
                return "x86 watches 1, 2, 4 or 8 bytes aligned to their size"
            }
            return nil
        }
    }
}

extension KVMVCPU: DebuggableCPU {
    /// The general registers, segment selectors and bases, control registers.
    /// The corresponding KVM ioctls are `KVM_GET_REGS` and `KVM_GET_SREGS`.
    public func readRegisters() throws(BackendError) -> CPURegisters {
        var k = kvm_regs()
        try kvmIoctl(state.fd, CSKIFF_KVM_GET_REGS, &k, "KVM_GET_REGS")
        var s = kvm_sregs()
        try kvmIoctl(state.fd, CSKIFF_KVM_GET_SREGS, &s, "KVM_GET_SREGS")
        var r = X86_64Registers()
        r.rax = k.rax; r.rbx = k.rbx; r.rcx = k.rcx; r.rdx = k.rdx
        r.rsi = k.rsi; r.rdi = k.rdi; r.rbp = k.rbp; r.rsp = k.rsp
        r.r8 = k.r8; r.r9 = k.r9; r.r10 = k.r10; r.r11 = k.r11
        r.r12 = k.r12; r.r13 = k.r13; r.r14 = k.r14; r.r15 = k.r15
        r.rip = k.rip; r.rflags = k.rflags
        r.cs = s.cs.selector; r.ss = s.ss.selector; r.ds = s.ds.selector
        r.es = s.es.selector; r.fs = s.fs.selector; r.gs = s.gs.selector
        r.fsBase = s.fs.base; r.gsBase = s.gs.base
        r.cr0 = s.cr0; r.cr2 = s.cr2; r.cr3 = s.cr3; r.cr4 = s.cr4; r.efer = s.efer
        // Stopped in a trampoline: the interrupted context is the frame's (TF, if set, is the monitor's step).
        if (debug.trampolines + debug.retiring).contains(where: { $0.contains(k.rip) }),
           let rip = guestWord(k.rsp), let cs = guestWord(k.rsp &+ 8), let flags = guestWord(k.rsp &+ 16),
           let rsp = guestWord(k.rsp &+ 24), let ss = guestWord(k.rsp &+ 32) {
            r.rip = rip; r.cs = UInt16(truncatingIfNeeded: cs); r.rflags = flags & ~X86GuestDebug.trapFlag
            r.rsp = rsp; r.ss = UInt16(truncatingIfNeeded: ss)
        }
        return .x86_64(r)
    }

    /// Writes the general registers, rip and rflags (`KVM_SET_REGS`) and the FS/GS bases
    /// (`KVM_SET_SREGS`); selectors and control registers are left as they are. Stopped in a trampoline,
    /// rip, rflags and rsp are the frame's (what its `iretq` restores).
    public func writeRegisters(_ registers: CPURegisters) throws(BackendError) {
        guard case .x86_64(var r) = registers else { throw BackendError("KVM: x86_64 registers expected") }
        if let inside = currentTrampoline() {
            let f = inside.frame
            let tf = (guestWord(f &+ 16) ?? 0) & X86GuestDebug.trapFlag
            guard putGuestWord(f, r.rip), putGuestWord(f &+ 16, r.rflags & ~X86GuestDebug.trapFlag | tf),
                  putGuestWord(f &+ 24, r.rsp) else { throw BackendError("KVM: the exception frame is outside guest memory") }
            var now = kvm_regs()
            try kvmIoctl(state.fd, CSKIFF_KVM_GET_REGS, &now, "KVM_GET_REGS")
            r.rip = now.rip; r.rflags = now.rflags; r.rsp = now.rsp
        }
        var k = kvm_regs()
        k.rax = r.rax; k.rbx = r.rbx; k.rcx = r.rcx; k.rdx = r.rdx
        k.rsi = r.rsi; k.rdi = r.rdi; k.rbp = r.rbp; k.rsp = r.rsp
        k.r8 = r.r8; k.r9 = r.r9; k.r10 = r.r10; k.r11 = r.r11
        k.r12 = r.r12; k.r13 = r.r13; k.r14 = r.r14; k.r15 = r.r15
        k.rip = r.rip; k.rflags = r.rflags
        try kvmIoctl(state.fd, CSKIFF_KVM_SET_REGS, &k, "KVM_SET_REGS")
        var s = kvm_sregs()
        try kvmIoctl(state.fd, CSKIFF_KVM_GET_SREGS, &s, "KVM_GET_SREGS")
        if s.fs.base != r.fsBase || s.gs.base != r.gsBase {
            s.fs.base = r.fsBase; s.gs.base = r.gsBase
            try kvmIoctl(state.fd, CSKIFF_KVM_SET_SREGS, &s, "KVM_SET_SREGS")
        }
    }

    public var debugCapabilities: DebugCapabilities {
        switch debug.host {
        case .hardware:
            // DR0-DR3 are shared by both kinds: at most four in all (setGuestDebug checks).
            return DebugCapabilities(hardwareBreakpoints: 4, watchpoints: 4, breakpointInstruction: [0xcc], stepping: true)
        case .pvm:
            return DebugCapabilities(breakpointInstruction: [0xcc], stepping: true, limitation:
                "PVM host (kvm_pvm): no hardware breakpoints or watchpoints (`set can-use-hw-watchpoints 0` for software ones)")
        case .tcg:
            return DebugCapabilities(breakpointInstruction: [0xcc], stepping: true, limitation:
                "KVM under QEMU's TCG: no hardware breakpoints or watchpoints (`set can-use-hw-watchpoints 0` for software ones)")
        }
    }

    /// Sets what the vCPU traps on from its next entry. The corresponding KVM ioctl is `KVM_SET_GUEST_DEBUG`.
    public func setGuestDebug(_ control: GuestDebugControl) throws(BackendError) {
        let slots = debug.host == .hardware ? 4 : 0
        guard control.hardware.count <= slots else {
            throw BackendError(slots == 0 ? "KVM: no hardware breakpoints on this host" : "KVM: x86 has 4 debug registers (DR0-DR3)")
        }
        for h in control.hardware { if let why = X86GuestDebug.refusal(h) { throw BackendError("KVM: " + why) } }
        debug.control = control
        try applyGuestDebug()
    }

    /// `KVM_SET_GUEST_DEBUG` for `debug.control`, with the trampolines it needs (or start-up steps until the
    /// guest has an IDT); a step out of a trampoline is the frame's TF instead of KVM's.
    func applyGuestDebug() throws(BackendError) {
        typealias D = X86GuestDebug
        var g = kvm_guest_debug()
        let c = debug.control
        debug.steppingStartup = false
        let inside = currentTrampoline()
        if c.isEmpty {
            retireTrampolines(except: inside?.trampoline)
        } else {
            if debug.trampolines.isEmpty { installTrampolines() }
            let stepFromFrame = c.singleStep && inside != nil
            g.control = D.enable | (c.singleStep && !stepFromFrame ? D.singleStep : 0)
                | (c.softwareBreakpoints && debug.host != .pvm ? D.softwareBreakpoints : 0)
                | (c.hardware.isEmpty ? 0 : D.hardwareBreakpoints)
            var dr7 = D.dr7Reserved
            for (n, h) in c.hardware.enumerated() {
                cskiff_guest_debug_set_dr(&g, UInt32(n), h.address)
                dr7 |= D.dr7Bits(h, slot: n)
            }
            cskiff_guest_debug_set_dr(&g, 7, dr7)
            if debug.trampolines.isEmpty && debug.host != .hardware && (c.softwareBreakpoints || c.singleStep) {
                // No IDT yet: the CPL0 start-up, where KVM's single step works on every host.
                g.control |= D.singleStep
                debug.steppingStartup = !c.singleStep
            }
        }
        if let i = inside { setFrameTrapFlag(i.frame, c.singleStep) }
        try kvmIoctl(state.fd, CSKIFF_KVM_SET_GUEST_DEBUG, &g, "KVM_SET_GUEST_DEBUG")
    }

    /// A `KVM_EXIT_DEBUG` as the debugger sees it; nil for a step the monitor took on its own (run again).
    func debugExit(_ r: kvm_run) throws(BackendError) -> VCPUExit? {
        let a = r.debug.arch
        if debug.steppingStartup {
            debug.startupSteps += 1
            if debug.startupSteps > X86GuestDebug.startupStepLimit {
                debug.control.softwareBreakpoints = false   // no IDT after that many: give the breakpoints up
                debug.control.singleStep = false
            }
            if debug.startupSteps > X86GuestDebug.startupStepLimit || guestExceptionHandlers() != nil {
                try applyGuestDebug()
            }
            return nil
        }
        func stop(_ kind: DebugEvent.Kind) -> VCPUExit { .debug(DebugEvent(kind: kind, programCounter: a.pc)) }
        if a.exception == 3 { return stop(.softwareBreakpoint) }
        if a.dr6 & X86GuestDebug.singleStepStatus != 0 { return stop(.step) }
        for (n, h) in debug.control.hardware.enumerated() where n < 4 && a.dr6 & (1 << UInt64(n)) != 0 {
            return stop(h.kind == .execute ? .hardwareBreakpoint(index: n) : .watchpoint(index: n, address: h.address))
        }
        return stop(.unknown)
    }

    /// An OUT of a trampoline (port 0xd3 or 0xd1, one byte, rip inside it): the stop it reports; nil when it was
    /// not one (the caller decodes the exit as usual), or when it was a retired trampoline the guest ran into
    /// (its own `int3`): its handler runs as if the monitor had never been there.
    func trampolineExit(port: UInt32, size: Int, isOut: Bool) throws(BackendError) -> VCPUExit?? {
        guard isOut, size == 1, port == UInt32(X86GuestDebug.breakpointPort) || port == UInt32(X86GuestDebug.debugPort),
              !debug.trampolines.isEmpty || !debug.retiring.isEmpty else { return nil }
        var k = kvm_regs()
        try kvmIoctl(state.fd, CSKIFF_KVM_GET_REGS, &k, "KVM_GET_REGS")
        if let n = debug.retiring.firstIndex(where: { $0.contains(k.rip) }) {
            let t = debug.retiring.remove(at: n)
            _ = guestMemory.writeThroughProtection(t.original, at: GuestAddress(t.entry - memoryBase))
            k.rip = t.entry
            try kvmIoctl(state.fd, CSKIFF_KVM_SET_REGS, &k, "KVM_SET_REGS")
            return .some(nil)
        }
        guard let t = debug.trampolines.first(where: { $0.contains(k.rip) }), port == UInt32(t.port),
              let rip = guestWord(k.rsp) else { return nil }
        var at = rip
        if t.vector == InterruptGate.breakpointVector {
            at = rip &- 1   // back onto the int3: resuming re-executes what gdb put back there
            guard putGuestWord(k.rsp, at) else { return nil }
        }
        return .some(.debug(DebugEvent(kind: t.vector == InterruptGate.breakpointVector ? .softwareBreakpoint : .step,
                                       programCounter: at)))
    }

    /// After an exit: retired trampolines the vCPU has left get their bytes back.
    func settleRetiredTrampolines() {
        guard !debug.retiring.isEmpty else { return }
        var k = kvm_regs()
        guard (try? kvmIoctl(state.fd, CSKIFF_KVM_GET_REGS, &k, "KVM_GET_REGS")) != nil else { return }
        retireTrampolines(except: debug.retiring.first { $0.contains(k.rip) }, from: debug.retiring)
    }

    // MARK: Trampolines

    /// The trampoline the vCPU is in (its rip inside one) and the exception frame at its stack pointer.
    func currentTrampoline() -> (trampoline: X86Trampoline, frame: UInt64)? {
        guard !debug.trampolines.isEmpty || !debug.retiring.isEmpty else { return nil }
        var k = kvm_regs()
        guard (try? kvmIoctl(state.fd, CSKIFF_KVM_GET_REGS, &k, "KVM_GET_REGS")) != nil else { return nil }
        guard let t = (debug.trampolines + debug.retiring).first(where: { $0.contains(k.rip) }) else { return nil }
        return (t, k.rsp)
    }

    /// Writes the trampolines over the entries of the guest's #BP and #DB handlers (nothing without an IDT).
    private func installTrampolines() {
        guard let handlers = guestExceptionHandlers() else { return }
        for (vector, entry) in [(InterruptGate.breakpointVector, handlers.breakpoint), (InterruptGate.debugVector, handlers.debug)] {
            guard entry >= memoryBase, !debug.trampolines.contains(where: { $0.entry == entry }),
                  let original = try? guestMemory.read(at: GuestAddress(entry - memoryBase), count: X86Trampoline.size),
                  guestMemory.hostAllows(GuestAddress(entry - memoryBase), UInt64(X86Trampoline.size), write: false) else { continue }
            // A trampoline retired but not yet restored is still in place: take it back.
            let saved = debug.retiring.first { $0.entry == entry }?.original ?? original
            debug.retiring.removeAll { $0.entry == entry }
            let t = X86Trampoline(vector: vector, entry: entry, original: saved)
            guard guestMemory.writeThroughProtection(t.code, at: GuestAddress(entry - memoryBase)) else { continue }
            debug.trampolines.append(t)
        }
    }

    /// Puts the guest's bytes back under the trampolines (`from`: default the installed ones), except under
    /// `busy`, the one the vCPU is in: that one is restored after the vCPU has left it (`settleRetiredTrampolines`).
    private func retireTrampolines(except busy: X86Trampoline?, from list: [X86Trampoline]? = nil) {
        let all = list ?? debug.trampolines
        if list == nil { debug.trampolines = [] }
        debug.retiring.removeAll { r in all.contains { $0.entry == r.entry } }
        for t in all {
            if let b = busy, b.entry == t.entry { debug.retiring.append(t); continue }
            _ = guestMemory.writeThroughProtection(t.original, at: GuestAddress(t.entry - memoryBase))
        }
    }

    /// Sets or clears TF in the saved RFLAGS of the exception frame at `frame` (what the `iretq` restores).
    private func setFrameTrapFlag(_ frame: UInt64, _ on: Bool) {
        guard let flags = guestWord(frame &+ 16) else { return }
        let updated = on ? flags | X86GuestDebug.trapFlag : flags & ~X86GuestDebug.trapFlag
        if updated != flags { _ = putGuestWord(frame &+ 16, updated) }
    }

    /// The entries of the guest's #BP and #DB handlers, from the IDT it loaded (nil before it has one).
    func guestExceptionHandlers() -> (breakpoint: UInt64, debug: UInt64)? {
        var s = kvm_sregs()
        guard (try? kvmIoctl(state.fd, CSKIFF_KVM_GET_SREGS, &s, "KVM_GET_SREGS")) != nil else { return nil }
        func gate(_ vector: UInt64) -> InterruptGate? {
            guard UInt64(s.idt.limit) >= (vector + 1) * InterruptGate.size - 1 else { return nil }
            let at = s.idt.base &+ vector * InterruptGate.size
            guard let low = guestWord(at), let high = guestWord(at &+ 8) else { return nil }
            let g = InterruptGate(low: low, high: high)
            return g.present ? g : nil
        }
        guard let bp = gate(InterruptGate.breakpointVector), let db = gate(InterruptGate.debugVector) else { return nil }
        return (bp.handler, db.handler)
    }

    /// Eight bytes of guest memory at a guest address (guest tables and stacks: identity-mapped, as in every hvt guest).
    func guestWord(_ address: UInt64) -> UInt64? {
        guard address >= memoryBase else { return nil }
        return try? guestMemory.load(UInt64.self, at: GuestAddress(address - memoryBase), scope: .allocation)
    }

    private func putGuestWord(_ address: UInt64, _ value: UInt64) -> Bool {
        guard address >= memoryBase else { return false }
        return (try? guestMemory.store(value, at: GuestAddress(address - memoryBase), scope: .allocation)) != nil
    }
}

/// The host's kind of KVM, for what guest debugging can do there (see the header).
enum X86DebugHost: Equatable {
    case hardware, pvm, tcg

    static func detect() -> X86DebugHost {
        if Host.fileType("/sys/module/kvm_pvm") == .directory { return .pvm }
        var vendor = [CChar](repeating: 0, count: 12)
        // SAFETY: cskiff_hypervisor_vendor writes exactly 12 bytes into the array's storage.
        vendor.withUnsafeMutableBufferPointer { cskiff_hypervisor_vendor($0.baseAddress) }
        return String(decoding: vendor.map { UInt8(bitPattern: $0) }, as: UTF8.self) == "TCGTCGTCGTCG" ? .tcg : .hardware
    }
}

/// A trampoline over a guest exception handler's entry: `out %al, $PORT` then `iretq`.
struct X86Trampoline: Equatable {
    let vector: UInt64
    let entry: UInt64
    let original: [UInt8]
    static let size = 4
    var port: UInt8 { vector == InterruptGate.breakpointVector ? X86GuestDebug.breakpointPort : X86GuestDebug.debugPort }
    var code: [UInt8] { [0xe6, port, 0x48, 0xcf] }
    func contains(_ rip: UInt64) -> Bool { rip >= entry && rip - entry < UInt64(X86Trampoline.size) }
}
#endif
