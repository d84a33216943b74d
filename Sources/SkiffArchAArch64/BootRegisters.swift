// BootRegisters.swift: the aarch64 entry state (spec §7.3) as the list of KVM ONE_REG writes a backend applies, pure data.
//
// Register ids follow Linux's arch/arm64/include/uapi/asm/kvm.h:
//   core:   KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offset in struct kvm_regs / 4)
//   system: KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM64_SYSREG | op0<<14 | op1<<11 | CRn<<7 | CRm<<3 | op2

/// KVM_{GET,SET}_ONE_REG ids of the registers the hvt entry state touches.
public enum OneRegID {
    static let arm64U64: UInt64 = 0x6030_0000_0000_0000     // KVM_REG_ARM64 | KVM_REG_SIZE_U64
    static let core: UInt64 = 0x0010 << 16                  // KVM_REG_ARM_CORE
    static let sysreg: UInt64 = 0x0013 << 16                // KVM_REG_ARM64_SYSREG

    /// A core register by its byte offset in `struct kvm_regs`.
    public static func coreRegister(byteOffset: UInt64) -> UInt64 { arm64U64 | core | (byteOffset / 4) }
    /// A system register by its encoding.
    public static func systemRegister(op0: UInt64, op1: UInt64, crn: UInt64, crm: UInt64, op2: UInt64) -> UInt64 {
        arm64U64 | sysreg | op0 << 14 | op1 << 11 | crn << 7 | crm << 3 | op2
    }

    /// X0 (`regs.regs[0]`, offset 0).
    public static let x0 = coreRegister(byteOffset: 0)
    /// SP_EL0 (`regs.sp`, offset 31 × 8).
    public static let spEL0 = coreRegister(byteOffset: 31 * 8)
    /// PC (`regs.pc`, offset 32 × 8).
    public static let pc = coreRegister(byteOffset: 32 * 8)
    /// PSTATE (`regs.pstate`, offset 33 × 8).
    public static let pstate = coreRegister(byteOffset: 33 * 8)
    /// SP_EL1 (`sp_el1`, right after `struct user_pt_regs`: offset 34 × 8).
    public static let spEL1 = coreRegister(byteOffset: 34 * 8)

    public static let sctlrEL1 = systemRegister(op0: 3, op1: 0, crn: 1, crm: 0, op2: 0)
    public static let cpacrEL1 = systemRegister(op0: 3, op1: 0, crn: 1, crm: 0, op2: 2)
    public static let ttbr0EL1 = systemRegister(op0: 3, op1: 0, crn: 2, crm: 0, op2: 0)
    public static let tcrEL1 = systemRegister(op0: 3, op1: 0, crn: 2, crm: 0, op2: 2)
    public static let mairEL1 = systemRegister(op0: 3, op1: 0, crn: 10, crm: 2, op2: 0)
}

/// One KVM_SET_ONE_REG write.
public struct RegisterWrite: Equatable, Sendable {
    public var id: UInt64
    public var value: UInt64
    public init(_ id: UInt64, _ value: UInt64) { self.id = id; self.value = value }
}

extension BootCPUState {
    /// CPACR_EL1 after the read-modify-write of spec §7.3 (FPEN = 0b11, other bits kept).
    public static func cpacr(from current: UInt64) -> UInt64 { current | Layout.cpacrFPEN }

    /// The writes after CPACR_EL1, in order: translation set-up first, SCTLR_EL1 (MMU on) after it,
    /// then the core registers. SCTLR_EL1 is written as exactly `sctlr` (spec §7.3).
    public var registerWrites: [RegisterWrite] {
        [
            RegisterWrite(OneRegID.mairEL1, mair),
            RegisterWrite(OneRegID.tcrEL1, tcr),
            RegisterWrite(OneRegID.ttbr0EL1, ttbr0),
            RegisterWrite(OneRegID.sctlrEL1, sctlr),
            RegisterWrite(OneRegID.pstate, pstate),
            RegisterWrite(OneRegID.spEL1, sp),
            RegisterWrite(OneRegID.pc, pc),
            RegisterWrite(OneRegID.x0, x0),
        ]
    }
}

/// The arm64 Linux boot protocol's entry registers (booting.rst), on top of KVM's vCPU reset state
/// (EL1h, MMU and caches off): PC = the Image, x0 = the device tree, x1-x3 = 0, D, A, I, F masked.
public struct LinuxBootRegisters: Equatable, Sendable {
    public var entry: UInt64, deviceTree: UInt64

    public init(entry: UInt64, deviceTree: UInt64) {
        self.entry = entry
        self.deviceTree = deviceTree
    }

    public var registerWrites: [RegisterWrite] {
        [
            RegisterWrite(OneRegID.pstate, VirtLayout.entryPSTATE),
            RegisterWrite(OneRegID.x0, deviceTree),
            RegisterWrite(OneRegID.coreRegister(byteOffset: 8), 0),
            RegisterWrite(OneRegID.coreRegister(byteOffset: 16), 0),
            RegisterWrite(OneRegID.coreRegister(byteOffset: 24), 0),
            RegisterWrite(OneRegID.pc, entry),
        ]
    }
}
