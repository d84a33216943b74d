// KVMVCPU+debug_aarch64.swift: the KVM backend's aarch64 debugging side: x0–x30, sp, pc and PSTATE by KVM_GET_ONE_REG (and back).

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
}
#endif
