// TrapFrame.swift: the aarch64 abort trap frame Skiff guests pass as the HALT cookie (Guest/arch/aarch64/vectors.S), and the registers it holds.

import SkiffCore

/// `struct skiff_a64_frame` (Guest/arch/aarch64/skiff_cpu.h): x0–x30, SP_EL0,
/// ELR_EL1, SPSR_EL1, ESR_EL1, FAR_EL1 — 36 u64, saved on SP_EL1 by every
/// exception vector. Upstream Solo5's aarch64 bindings pass cookie 0 instead.
public struct TrapFrame: Equatable, Sendable {
    public var x: [UInt64]
    public var spEL0: UInt64, elr: UInt64, spsr: UInt64, esr: UInt64, far: UInt64
    /// Where the frame lies: SP_EL1 at the exception was right above it.
    public var address: UInt64

    /// Bytes the frame occupies at the cookie (`FRAME_SIZE` in vectors.S).
    public static let size: UInt64 = 36 * 8

    /// The frame from its 36 words in order, saved at `address`; nil unless exactly 36.
    public init?(words w: [UInt64], address: UInt64) {
        guard w.count == 36 else { return nil }
        x = Array(w[0..<31])
        spEL0 = w[31]; elr = w[32]; spsr = w[33]; esr = w[34]; far = w[35]
        self.address = address
    }

    /// Reads the frame at `cookie` (nil if it is not inside guest memory).
    public static func read(at cookie: GuestAddress, in memory: GuestMemory) -> TrapFrame? {
        var words: [UInt64] = []
        for i in 0..<UInt64(36) {
            guard let w = try? memory.load(UInt64.self, at: GuestAddress(cookie.rawValue &+ 8 * i)) else { return nil }
            words.append(w)
        }
        return TrapFrame(words: words, address: cookie.rawValue)
    }

    /// The registers at the exception: x0–x30, pc = ELR, PSTATE = SPSR, and the stack pointer
    /// the interrupted code used (SPSR.SPSel: SP_EL1, just above the frame; else the saved SP_EL0).
    public var registers: AArch64Registers {
        var r = AArch64Registers()
        for n in 0..<31 { r.setX(n, x[n]) }
        r.pc = elr
        r.pstate = spsr
        r.sp = spsr & 1 != 0 ? address &+ Self.size : spEL0
        return r
    }
}
