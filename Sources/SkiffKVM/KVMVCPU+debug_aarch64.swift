// KVMVCPU+debug_aarch64.swift: the KVM backend's aarch64 debugging side: x0–x30, sp, pc and PSTATE by KVM_GET_ONE_REG (and back), KVM_SET_GUEST_DEBUG and its debug exits.
//
// `KVM_SET_GUEST_DEBUG` with USE_SW_BP (a `brk` exits, ESR class BRK64, pc =
// the brk), SINGLESTEP (class SOFTSTP) and USE_HW with the DBGBCR/DBGBVR and
// DBGWCR/DBGWVR pairs (classes BREAKPT and WATCHPT, FAR = the address
// accessed); as many as KVM_CAP_GUEST_DEBUG_HW_BPS/WPS say. A watchpoint
// stops before the access completes: gdb steps over it itself (aarch64 has
// non-steppable watchpoints in gdb's terms).

#if arch(arm64)
import CSkiffKVM
import SkiffCore
import SkiffArchAArch64

extension KVMVCPU: DebuggableCPU {
    /// PSTATE.SPSel: the guest (at EL1) runs on SP_EL1 when set, on SP_EL0 otherwise.
    static let spSel: UInt64 = 1

    /// The core registers; `sp` is the stack pointer PSTATE.SPSel selects.
    /// The corresponding KVM ioctl is `KVM_GET_ONE_REG`.
    public func readRegisters() throws(BackendError) -> CPURegisters {
        var r = AArch64Registers()
        for n in 0..<31 {
            r.setX(n, try getRegister(OneRegID.coreRegister(byteOffset: UInt64(n) * 8), "KVM_GET_ONE_REG (x)"))
        }
        r.pc = try getRegister(OneRegID.pc, "KVM_GET_ONE_REG (PC)")
        r.pstate = try getRegister(OneRegID.pstate, "KVM_GET_ONE_REG (PSTATE)")
        r.sp = try getRegister(r.pstate & Self.spSel != 0 ? OneRegID.spEL1 : OneRegID.spEL0, "KVM_GET_ONE_REG (SP)")
        return .aarch64(r)
    }

    /// Writes x0–x30, pc, PSTATE and the stack pointer PSTATE.SPSel selects (`KVM_SET_ONE_REG`).
    public func writeRegisters(_ registers: CPURegisters) throws(BackendError) {
        guard case .aarch64(let r) = registers else { throw BackendError("KVM: aarch64 registers expected") }
        for n in 0..<31 {
            try setRegister(OneRegID.coreRegister(byteOffset: UInt64(n) * 8), r.x(n), "KVM_SET_ONE_REG (x)")
        }
        try setRegister(OneRegID.pstate, r.pstate, "KVM_SET_ONE_REG (PSTATE)")
        try setRegister(r.pstate & Self.spSel != 0 ? OneRegID.spEL1 : OneRegID.spEL0, r.sp, "KVM_SET_ONE_REG (SP)")
        try setRegister(OneRegID.pc, r.pc, "KVM_SET_ONE_REG (PC)")
    }

    public var debugCapabilities: DebugCapabilities {
        DebugCapabilities(hardwareBreakpoints: min(debugSlots.breakpoints, 16), watchpoints: min(debugSlots.watchpoints, 16),
                          readWatchpoints: true, breakpointInstruction: [0x00, 0x00, 0x20, 0xd4],   // brk #0
                          stepping: true)
    }

    /// KVM_GUESTDBG_*: ENABLE, SINGLESTEP, USE_SW_BP, USE_HW.
    static let enable: UInt32 = 0x1, singleStep: UInt32 = 0x2, softwareBreakpoints: UInt32 = 0x1_0000,
               hardwareDebug: UInt32 = 0x2_0000

    /// DBGBCR: enabled, EL1 and EL0 (PMC = 0b11), all four bytes of the instruction (BAS = 0b1111).
    static let breakpointControl: UInt64 = 0x1 | 0x3 << 1 | 0xf << 5

    /// DBGWCR and DBGWVR for watching `h`: enabled, EL1 and EL0, load/store (LSC), the bytes (BAS) of the
    /// doubleword at the 8-aligned address; nil when the range crosses a doubleword.
    static func watchpoint(_ h: HardwareBreakpoint) -> (control: UInt64, address: UInt64)? {
        let offset = h.address & 7
        guard h.length >= 1, h.length <= 8, offset + h.length <= 8 else { return nil }
        let lsc: UInt64 = h.kind == .read ? 1 : h.kind == .write ? 2 : 3
        let bas: UInt64 = ((1 << h.length) - 1) << offset
        return (0x1 | 0x3 << 1 | lsc << 3 | bas << 5, h.address & ~7)
    }

    /// Sets what the vCPU traps on from its next entry. The corresponding KVM ioctl is `KVM_SET_GUEST_DEBUG`.
    public func setGuestDebug(_ control: GuestDebugControl) throws(BackendError) {
        var g = kvm_guest_debug()
        var bps: UInt32 = 0, wps: UInt32 = 0
        for h in control.hardware {
            if h.kind == .execute {
                guard Int(bps) < debugCapabilities.hardwareBreakpoints else { throw BackendError("KVM: no hardware breakpoint left") }
                cskiff_guest_debug_set_bp(&g, bps, Self.breakpointControl, h.address & ~3)
                bps += 1
            } else {
                guard Int(wps) < debugCapabilities.watchpoints else { throw BackendError("KVM: no watchpoint left") }
                guard let w = Self.watchpoint(h) else { throw BackendError("KVM: a watchpoint covers at most one aligned doubleword") }
                cskiff_guest_debug_set_wp(&g, wps, w.control, w.address)
                wps += 1
            }
        }
        if !control.isEmpty {
            g.control = Self.enable | (control.singleStep ? Self.singleStep : 0)
                | (control.softwareBreakpoints ? Self.softwareBreakpoints : 0) | (control.hardware.isEmpty ? 0 : Self.hardwareDebug)
        }
        try kvmIoctl(state.fd, CSKIFF_KVM_SET_GUEST_DEBUG, &g, "KVM_SET_GUEST_DEBUG")
        debug = control
    }

    /// A `KVM_EXIT_DEBUG` by its exception class (ESR_EL2.EC).
    func debugExit(_ r: kvm_run) -> VCPUExit {
        let pc = programCounter()
        func stop(_ kind: DebugEvent.Kind) -> VCPUExit { .debug(DebugEvent(kind: kind, programCounter: pc)) }
        switch r.debug.arch.hsr >> 26 {
        case 0x3c: return stop(.softwareBreakpoint)                 // BRK64
        case 0x32, 0x33: return stop(.step)                         // SOFTSTP (lower / current EL)
        case 0x30, 0x31:                                            // BREAKPT
            let executes = debug.hardware.enumerated().filter { $0.element.kind == .execute }
            let n = executes.first { $0.element.address & ~3 == pc & ~3 }?.offset ?? executes.first?.offset ?? -1
            return stop(n >= 0 ? .hardwareBreakpoint(index: n) : .unknown)
        case 0x34, 0x35:                                            // WATCHPT: FAR is the address accessed
            let far = r.debug.arch.far
            let watches = debug.hardware.enumerated().filter { $0.element.kind != .execute }
            let hit = watches.first { far >= $0.element.address & ~7 && far < ($0.element.address & ~7) + 8 } ?? watches.first
            return stop(hit.map { .watchpoint(index: $0.offset, address: far) } ?? .unknown)
        default: return stop(.unknown)
        }
    }
}
#endif
