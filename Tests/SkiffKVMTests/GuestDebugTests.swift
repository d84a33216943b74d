// GuestDebugTests.swift: the KVM backend's debugging data without /dev/kvm: x86 DR7 encodings and refusals, the trampolines' code.

import Testing
import SkiffCore
@testable import SkiffKVM

#if arch(x86_64)
@Test func x86DebugRegisterEncodings() {
    // Slot 0: execute (R/W 00, LEN 00); slot 1: write 8 bytes (01, 10); slot 3: access 4 bytes (11, 11).
    #expect(X86GuestDebug.dr7Bits(HardwareBreakpoint(kind: .execute, address: 0x1000, length: 1), slot: 0) == 0x1)
    #expect(X86GuestDebug.dr7Bits(HardwareBreakpoint(kind: .write, address: 0x2000, length: 8), slot: 1) == 0x4 | 0x1 << 20 | 0x2 << 22)
    #expect(X86GuestDebug.dr7Bits(HardwareBreakpoint(kind: .access, address: 0x2000, length: 4), slot: 3) == 0x40 | 0x3 << 28 | 0x3 << 30)
    #expect(X86GuestDebug.dr7Bits(HardwareBreakpoint(kind: .write, address: 0x2000, length: 2), slot: 2) == 0x10 | 0x1 << 24 | 0x1 << 26)
    #expect(X86GuestDebug.refusal(HardwareBreakpoint(kind: .execute, address: 0x1001, length: 1)) == nil)
    #expect(X86GuestDebug.refusal(HardwareBreakpoint(kind: .write, address: 0x2000, length: 8)) == nil)
    #expect(X86GuestDebug.refusal(HardwareBreakpoint(kind: .write, address: 0x2004, length: 8)) != nil, "unaligned")
    #expect(X86GuestDebug.refusal(HardwareBreakpoint(kind: .access, address: 0x2000, length: 3)) != nil, "3 bytes")
    #expect(X86GuestDebug.refusal(HardwareBreakpoint(kind: .read, address: 0x2000, length: 4)) != nil, "no read-only watchpoints")
}

@Test func x86Trampolines() {
    let bp = X86Trampoline(vector: 3, entry: 0x100830, original: [0x6a, 0x00, 0x6a, 0x03])
    #expect(bp.code == [0xe6, 0xd3, 0x48, 0xcf])   // out %al, $0xd3; iretq
    #expect(X86Trampoline(vector: 1, entry: 0x100810, original: []).code == [0xe6, 0xd1, 0x48, 0xcf])
    #expect(bp.contains(0x100830) && bp.contains(0x100832) && bp.contains(0x100833))
    #expect(!bp.contains(0x100834) && !bp.contains(0x10082f))
}
#endif
