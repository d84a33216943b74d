// KVMVCPU+debug_x86_64.swift: the KVM backend's x86_64 debugging side: registers by KVM_GET_REGS/SREGS (and back), KVM_SET_GUEST_DEBUG and its debug exits; on PVM, breakpoints and steps through the guest's own #BP/#DB handlers.
//
// Hardware-assisted KVM (kvm_intel, kvm_amd): `KVM_SET_GUEST_DEBUG` with
// USE_SW_BP (every `int3` exits, exception 3, pc = the int3), SINGLESTEP
// (exception 1, DR6.BS) and USE_HW_BP with DR0-DR3/DR7 (DR6.Bn says which).
//
// PVM (kvm_pvm, software nested virtualization; platform notes §1) runs the
// guest's CPL3 code natively and emulates CPL0 code, and its guest debugging
// only reaches the emulator (measured on this host, docs/debugging.md): at
// CPL3 an `int3`, a TF single step or a DR breakpoint never exits; the
// `int3` and the TF trap are delivered to the guest through its IDT instead
// (the DR breakpoints do nothing). CPL0 code is emulated, and there a DR
// execution breakpoint does exit. So on PVM the monitor traps the guest's #BP
// and #DB handler entries (read from its IDT) with DR0/DR1, and when one is
// reached it undoes the exception: the five words the CPU pushed (rip, cs,
// rflags, rsp, ss) become the registers again, with cs/ss from the guest's
// GDT and rip moved back onto the `int3`, so the stop looks exactly like
// hardware KVM's. Before the guest has loaded an IDT (its CPL0 start-up)
// KVM's own single step works, and the monitor steps until the IDT exists.
// What PVM cannot do: hardware breakpoints and watchpoints at CPL3 (gdb's
// software watchpoints work: `set can-use-hw-watchpoints 0`).

#if arch(x86_64)
import CSkiffLinux
import CSkiffKVM
import SkiffCore
import SkiffArchX86_64

/// The debugger's traps on an x86_64 vCPU.
struct X86GuestDebug {
    /// What the debugger asked for.
    var control = GuestDebugControl()
    /// `/dev/kvm` is PVM ($SKIFF_KVM_PVM=1/0 overrides the check of /sys/module/kvm_pvm).
    let pvm = X86GuestDebug.hostIsPVM()
    /// PVM: the guest's #BP and #DB handler entries, trapped with DR0 and DR1 (nil before it has an IDT).
    var intercepts: (breakpoint: UInt64, debug: UInt64)? = nil
    /// PVM: stepping on the monitor's own account until the guest has loaded its IDT.
    var steppingStartup = false
    var startupSteps = 0

    /// Steps of a guest's start-up after which the monitor stops waiting for its IDT (Skiff's: 13).
    static let startupStepLimit = 100_000
    /// RFLAGS.TF, DR6.BS, DR7's reserved bit 10 (reads as 1).
    static let trapFlag: UInt64 = 0x100, singleStepStatus: UInt64 = 1 << 14, dr7Reserved: UInt64 = 1 << 10
    /// KVM_GUESTDBG_*: ENABLE, SINGLESTEP, USE_SW_BP, USE_HW_BP.
    static let enable: UInt32 = 0x1, singleStep: UInt32 = 0x2, softwareBreakpoints: UInt32 = 0x1_0000,
               hardwareBreakpoints: UInt32 = 0x2_0000

    static func hostIsPVM() -> Bool {
        if let v = Host.environment("SKIFF_KVM_PVM") { return v == "1" }
        return Host.fileType("/sys/module/kvm_pvm") == .directory
    }

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
        return .x86_64(r)
    }

    /// Writes the general registers, rip and rflags (`KVM_SET_REGS`) and the FS/GS bases
    /// (`KVM_SET_SREGS`); selectors and control registers are left as they are.
    public func writeRegisters(_ registers: CPURegisters) throws(BackendError) {
        guard case .x86_64(let r) = registers else { throw BackendError("KVM: x86_64 registers expected") }
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
        guard debug.pvm else {
            // DR0-DR3 are shared by both kinds: at most four in all (setGuestDebug checks).
            return DebugCapabilities(hardwareBreakpoints: 4, watchpoints: 4, breakpointInstruction: [0xcc], stepping: true)
        }
        return DebugCapabilities(breakpointInstruction: [0xcc], stepping: true, limitation:
            "PVM host (kvm_pvm): no hardware breakpoints or watchpoints (`set can-use-hw-watchpoints 0` for software ones); "
            + "breakpoints and steps go through the guest's #BP/#DB handlers")
    }

    /// Sets what the vCPU traps on from its next entry. The corresponding KVM ioctl is `KVM_SET_GUEST_DEBUG`.
    public func setGuestDebug(_ control: GuestDebugControl) throws(BackendError) {
        let slots = debug.pvm ? 0 : 4
        guard control.hardware.count <= slots else {
            throw BackendError(debug.pvm ? "KVM: no hardware breakpoints on PVM" : "KVM: x86 has 4 debug registers (DR0-DR3)")
        }
        for h in control.hardware { if let why = X86GuestDebug.refusal(h) { throw BackendError("KVM: " + why) } }
        debug.control = control
        try applyGuestDebug()
    }

    /// `KVM_SET_GUEST_DEBUG` for `debug.control` (on PVM: the handler traps, or start-up steps until the guest has an IDT).
    func applyGuestDebug() throws(BackendError) {
        typealias D = X86GuestDebug
        var g = kvm_guest_debug()
        let c = debug.control
        debug.steppingStartup = false
        debug.intercepts = nil
        if c.isEmpty {
            g.control = 0
        } else if !debug.pvm {
            g.control = D.enable | (c.singleStep ? D.singleStep : 0) | (c.softwareBreakpoints ? D.softwareBreakpoints : 0)
                | (c.hardware.isEmpty ? 0 : D.hardwareBreakpoints)
            var dr7 = D.dr7Reserved
            for (n, h) in c.hardware.enumerated() {
                cskiff_guest_debug_set_dr(&g, UInt32(n), h.address)
                dr7 |= D.dr7Bits(h, slot: n)
            }
            cskiff_guest_debug_set_dr(&g, 7, dr7)
        } else if let handlers = guestExceptionHandlers() {
            debug.intercepts = handlers
            g.control = D.enable | D.hardwareBreakpoints | (c.singleStep ? D.singleStep : 0)
            let execute = HardwareBreakpoint(kind: .execute, address: 0, length: 1)
            cskiff_guest_debug_set_dr(&g, 0, handlers.breakpoint)
            cskiff_guest_debug_set_dr(&g, 1, handlers.debug)
            cskiff_guest_debug_set_dr(&g, 7, D.dr7Reserved | D.dr7Bits(execute, slot: 0) | D.dr7Bits(execute, slot: 1))
        } else {
            // No IDT yet: the CPL0 start-up, which PVM emulates and where KVM's single step works.
            g.control = D.enable | D.singleStep
            debug.steppingStartup = !c.singleStep
        }
        try kvmIoctl(state.fd, CSKIFF_KVM_SET_GUEST_DEBUG, &g, "KVM_SET_GUEST_DEBUG")
    }

    /// A `KVM_EXIT_DEBUG` as the debugger sees it; nil for a step the monitor took on its own (run again).
    func debugExit(_ r: kvm_run) throws(BackendError) -> VCPUExit? {
        let a = r.debug.arch
        if debug.pvm {
            if let i = debug.intercepts, a.pc == i.breakpoint || a.pc == i.debug {
                return try undoGuestException(breakpoint: a.pc == i.breakpoint)
            }
            if debug.steppingStartup {
                debug.startupSteps += 1
                if debug.startupSteps > X86GuestDebug.startupStepLimit { debug.control = GuestDebugControl() }
                if debug.startupSteps > X86GuestDebug.startupStepLimit || guestExceptionHandlers() != nil {
                    try applyGuestDebug()
                }
                return nil
            }
        }
        func stop(_ kind: DebugEvent.Kind) -> VCPUExit { .debug(DebugEvent(kind: kind, programCounter: a.pc)) }
        if a.exception == 3 { return stop(.softwareBreakpoint) }
        if a.dr6 & X86GuestDebug.singleStepStatus != 0 { return stop(.step) }
        for (n, h) in debug.control.hardware.enumerated() where n < 4 && a.dr6 & (1 << UInt64(n)) != 0 {
            return stop(h.kind == .execute ? .hardwareBreakpoint(index: n) : .watchpoint(index: n, address: h.address))
        }
        return stop(.unknown)
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

    /// Undoes the #BP or #DB the guest just took (PVM): the registers of the interrupted code again,
    /// from the frame the CPU pushed at the handler's stack pointer (rip, cs, rflags, rsp, ss).
    private func undoGuestException(breakpoint: Bool) throws(BackendError) -> VCPUExit {
        var k = kvm_regs()
        try kvmIoctl(state.fd, CSKIFF_KVM_GET_REGS, &k, "KVM_GET_REGS")
        var s = kvm_sregs()
        try kvmIoctl(state.fd, CSKIFF_KVM_GET_SREGS, &s, "KVM_GET_SREGS")
        var frame: [UInt64] = []
        for n in 0..<5 {
            guard let w = guestWord(k.rsp &+ UInt64(n) * 8) else {
                return .fault(GuestFault(kind: .unhandled, message: "KVM: the guest's exception frame at rsp=\(hex(k.rsp)) is outside guest memory",
                                         programCounter: k.rip))
            }
            frame.append(w)
        }
        let cs = UInt16(truncatingIfNeeded: frame[1]), ss = UInt16(truncatingIfNeeded: frame[4])
        if cs != s.cs.selector {
            guard let code = guestSegment(cs, gdt: s.gdt), let stack = guestSegment(ss, gdt: s.gdt) else {
                return .fault(GuestFault(kind: .unhandled, message: "KVM: cannot read the guest's segments \(hex(cs))/\(hex(ss)) from its GDT",
                                         programCounter: k.rip))
            }
            s.cs = code
            s.ss = stack
            try kvmIoctl(state.fd, CSKIFF_KVM_SET_SREGS, &s, "KVM_SET_SREGS")
        }
        // The int3 was executed (rip after it); TF was KVM's single step, never the guest's own.
        k.rip = breakpoint ? frame[0] &- 1 : frame[0]
        k.rflags = frame[2] & ~X86GuestDebug.trapFlag
        k.rsp = frame[3]
        try kvmIoctl(state.fd, CSKIFF_KVM_SET_REGS, &k, "KVM_SET_REGS")
        return .debug(DebugEvent(kind: breakpoint ? .softwareBreakpoint : .step, programCounter: k.rip))
    }

    /// The segment `selector` names in the guest's GDT (a null selector: an unusable segment).
    private func guestSegment(_ selector: UInt16, gdt: kvm_dtable) -> kvm_segment? {
        var k = kvm_segment()
        k.selector = selector
        let offset = UInt64(selector & ~7)
        if offset == 0 { k.unusable = 1; return k }
        guard selector & 4 == 0, offset + 7 <= UInt64(gdt.limit), let raw = guestWord(gdt.base &+ offset),
              let d = Segment(descriptor: raw, selector: selector) else { return nil }
        k.base = d.base; k.limit = d.limit; k.type = d.type; k.present = 1; k.dpl = d.dpl
        k.db = d.db ? 1 : 0; k.s = d.s ? 1 : 0; k.l = d.l ? 1 : 0; k.g = d.g ? 1 : 0
        return k
    }

    /// Eight bytes of guest memory at a guest address (the guest's tables: identity-mapped, as in every hvt guest).
    private func guestWord(_ address: UInt64) -> UInt64? {
        guard address >= memoryBase else { return nil }
        return try? guestMemory.load(UInt64.self, at: GuestAddress(address - memoryBase), scope: .allocation)
    }
}
#endif
