// TrapFrame.swift: the x86_64 abort trap frame (the HALT cookie, spec §9.7): its words, and the registers at the fault it describes.

import SkiffCore

/// Solo5's x86_64 trap frame: seven u64 `cr2, ec, rip, cs, rflags, rsp, ss`,
/// built by the guest's trap entry and passed as the HALT cookie on a fatal trap.
/// Skiff guests (Guest/arch/x86_64/start.S) follow it with an extension: the
/// magic "SKIFFTF1", then rax, rbx, rbp, r12–r15 at the fault.
public struct TrapFrame: Equatable, Sendable {
    public var cr2: UInt64, errorCode: UInt64, rip: UInt64, cs: UInt64, rflags: UInt64, rsp: UInt64, ss: UInt64
    /// The extension's registers at the fault (rax, rbx, rbp, r12, r13, r14, r15), when the guest saved them.
    public var saved: [UInt64]?

    /// Bytes the Solo5 frame occupies at the cookie.
    public static let size: UInt64 = 7 * 8
    /// The extension's first word, "SKIFFTF1" little-endian.
    public static let extensionMagic: UInt64 = 0x3146_5446_4649_4b53
    /// Bytes the frame and its extension occupy (within the 512 bytes HALT checks, HVT_HALT_COOKIE_MAX).
    public static let extendedSize: UInt64 = 15 * 8

    /// The frame from its seven words in order, then optionally the extension's eight
    /// (used only when the first is the magic); nil when fewer than seven.
    public init?(words w: [UInt64]) {
        guard w.count >= 7 else { return nil }
        cr2 = w[0]; errorCode = w[1]; rip = w[2]; cs = w[3]; rflags = w[4]; rsp = w[5]; ss = w[6]
        saved = w.count >= 15 && w[7] == Self.extensionMagic ? Array(w[8..<15]) : nil
    }

    /// Reads the frame at `cookie`, with the extension when present (nil if the seven words
    /// are not inside guest memory).
    public static func read(at cookie: GuestAddress, in memory: GuestMemory) -> TrapFrame? {
        var words: [UInt64] = []
        for i in 0..<UInt64(15) {
            guard let w = try? memory.load(UInt64.self, at: GuestAddress(cookie.rawValue &+ 8 * i)) else { break }
            words.append(w)
        }
        return TrapFrame(words: words)
    }

    /// The registers at the fault: `halt` (the vCPU at the HALT hypercall) with the frame's
    /// rip, cs, rflags, rsp, ss and cr2, as upstream's core dumper does, and, from Skiff's
    /// extension, rax, rbx, rbp and r12–r15 (so a debugger unwinds from the faulting frame).
    /// rcx, rdx, rsi, rdi and r8–r11 stay the trap handler's: the guest's fault path uses them.
    public func registers(over halt: X86_64Registers) -> X86_64Registers {
        var r = halt
        r.rip = rip; r.rflags = rflags; r.rsp = rsp; r.cr2 = cr2
        r.cs = UInt16(truncatingIfNeeded: cs); r.ss = UInt16(truncatingIfNeeded: ss)
        if let s = saved, s.count == 7 {
            r.rax = s[0]; r.rbx = s[1]; r.rbp = s[2]; r.r12 = s[3]; r.r13 = s[4]; r.r14 = s[5]; r.r15 = s[6]
        }
        return r
    }
}
