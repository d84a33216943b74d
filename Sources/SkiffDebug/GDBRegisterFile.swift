// GDBRegisterFile.swift: gdb's register numbering and sizes per architecture, the `g`/`p` encodings of CPURegisters, and the target description XML.
//
// x86_64 follows gdb's amd64 numbering (features org.gnu.gdb.i386.core,
// .sse and .segments): 0–15 rax…r15, 16 rip, 17 eflags, 18–23 cs…gs (32-bit),
// 24–31 st0–st7 (80-bit), 32–39 the x87 control registers, 40–55 xmm0–15,
// 56 mxcsr, 57 fs_base, 58 gs_base. aarch64 follows org.gnu.gdb.aarch64.core:
// 0–30 x0–x30, 31 sp, 32 pc, 33 cpsr (32-bit), optionally .fpu: 34–65 v0–v31,
// 66 fpsr, 67 fpcr. Registers `CPURegisters` does not carry (x87, vectors)
// are sent as unavailable (`xx…`) and writes to them are ignored.
// Values are target byte order: little-endian on both.

import SkiffCore

/// One register as gdb numbers it.
public struct GDBRegister: Equatable, Sendable {
    public let name: String
    public let bits: Int
    /// The target description type (`int64`, `code_ptr`, `vec128`…).
    public let type: String
    /// Index into `GDBRegisterFile.features`.
    public let feature: Int
    public var bytes: Int { bits / 8 }
}

/// The registers of one architecture as the gdb stub shows them.
public struct GDBRegisterFile: Sendable {
    public let architecture: GuestArchitecture
    public let registers: [GDBRegister]
    /// Target description feature names, in order.
    public let features: [String]
    /// The target description (`qXfer:features:read:target.xml`).
    public private(set) var targetXML: String = ""

    /// The three register files, built once (a session starts with a copy).
    static let x86_64File = GDBRegisterFile(building: .x86_64, fpu: false)
    static let aarch64File = GDBRegisterFile(building: .aarch64, fpu: false)
    static let aarch64FPUFile = GDBRegisterFile(building: .aarch64, fpu: true)

    /// gdb's register file for `architecture`; `fpu` adds aarch64's optional FP/SIMD feature.
    public init(_ architecture: GuestArchitecture, fpu: Bool = false) {
        switch architecture {
        case .x86_64: self = Self.x86_64File
        case .aarch64: self = fpu ? Self.aarch64FPUFile : Self.aarch64File
        }
    }

    private init(building architecture: GuestArchitecture, fpu: Bool) {
        self.architecture = architecture
        var regs: [GDBRegister] = []
        func add(_ name: String, _ bits: Int, _ type: String, _ feature: Int) {
            regs.append(GDBRegister(name: name, bits: bits, type: type, feature: feature))
        }
        switch architecture {
        case .x86_64:
            features = ["org.gnu.gdb.i386.core", "org.gnu.gdb.i386.sse", "org.gnu.gdb.i386.segments"]
            for n in ["rax", "rbx", "rcx", "rdx", "rsi", "rdi"] { add(n, 64, "int64", 0) }
            add("rbp", 64, "data_ptr", 0); add("rsp", 64, "data_ptr", 0)
            for i in 8...15 { add("r\(i)", 64, "int64", 0) }
            add("rip", 64, "code_ptr", 0)
            add("eflags", 32, "i386_eflags", 0)
            for n in ["cs", "ss", "ds", "es", "fs", "gs"] { add(n, 32, "int32", 0) }
            for i in 0...7 { add("st\(i)", 80, "i387_ext", 0) }
            for n in ["fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"] { add(n, 32, "int", 0) }
            for i in 0...15 { add("xmm\(i)", 128, "vec128", 1) }
            add("mxcsr", 32, "i386_mxcsr", 1)
            add("fs_base", 64, "int", 2); add("gs_base", 64, "int", 2)
        case .aarch64:
            features = fpu ? ["org.gnu.gdb.aarch64.core", "org.gnu.gdb.aarch64.fpu"] : ["org.gnu.gdb.aarch64.core"]
            for i in 0...30 { add("x\(i)", 64, "int", 0) }
            add("sp", 64, "data_ptr", 0); add("pc", 64, "code_ptr", 0); add("cpsr", 32, "cpsr_flags", 0)
            if fpu {
                for i in 0...31 { add("v\(i)", 128, "aarch64v", 1) }
                add("fpsr", 32, "int", 1); add("fpcr", 32, "int", 1)
            }
        }
        registers = regs
        targetXML = describe()
    }

    /// The bytes of one `g` reply: every register, hex, `xx` for unavailable bytes.
    public var gPacketLength: Int { registers.reduce(0) { $0 + $1.bytes } * 2 }

    /// The value of register `n` in `r`, or nil when `CPURegisters` does not carry it (or `n` is not a register).
    public func value(_ n: Int, of r: CPURegisters) -> UInt64? {
        switch r {
        case .x86_64(let x):
            guard architecture == .x86_64 else { return nil }
            switch n {
            case 0: return x.rax
            case 1: return x.rbx
            case 2: return x.rcx
            case 3: return x.rdx
            case 4: return x.rsi
            case 5: return x.rdi
            case 6: return x.rbp
            case 7: return x.rsp
            case 8: return x.r8
            case 9: return x.r9
            case 10: return x.r10
            case 11: return x.r11
            case 12: return x.r12
            case 13: return x.r13
            case 14: return x.r14
            case 15: return x.r15
            case 16: return x.rip
            case 17: return x.rflags & 0xffff_ffff
            case 18: return UInt64(x.cs)
            case 19: return UInt64(x.ss)
            case 20: return UInt64(x.ds)
            case 21: return UInt64(x.es)
            case 22: return UInt64(x.fs)
            case 23: return UInt64(x.gs)
            case 57: return x.fsBase
            case 58: return x.gsBase
            default: return nil
            }
        case .aarch64(let a):
            guard architecture == .aarch64 else { return nil }
            switch n {
            case 0...30: return a.x(n)
            case 31: return a.sp
            case 32: return a.pc
            case 33: return a.pstate & 0xffff_ffff
            default: return nil
            }
        }
    }

    /// `r` with register `n` set to `v` (truncated to the register's size); unchanged for a
    /// register `CPURegisters` does not carry. Segment selectors are not changed (KVM would
    /// need the whole descriptor).
    public func setting(_ n: Int, to v: UInt64, in r: CPURegisters) -> CPURegisters {
        switch r {
        case .x86_64(var x):
            guard architecture == .x86_64 else { return r }
            switch n {
            case 0: x.rax = v
            case 1: x.rbx = v
            case 2: x.rcx = v
            case 3: x.rdx = v
            case 4: x.rsi = v
            case 5: x.rdi = v
            case 6: x.rbp = v
            case 7: x.rsp = v
            case 8: x.r8 = v
            case 9: x.r9 = v
            case 10: x.r10 = v
            case 11: x.r11 = v
            case 12: x.r12 = v
            case 13: x.r13 = v
            case 14: x.r14 = v
            case 15: x.r15 = v
            case 16: x.rip = v
            case 17: x.rflags = (x.rflags & ~0xffff_ffff) | (v & 0xffff_ffff)
            case 57: x.fsBase = v
            case 58: x.gsBase = v
            default: break
            }
            return .x86_64(x)
        case .aarch64(var a):
            guard architecture == .aarch64 else { return r }
            switch n {
            case 0...30: a.setX(n, v)
            case 31: a.sp = v
            case 32: a.pc = v
            case 33: a.pstate = (a.pstate & ~0xffff_ffff) | (v & 0xffff_ffff)
            default: break
            }
            return .aarch64(a)
        }
    }

    /// Register `n` as hex (little-endian bytes); `xx…` when unavailable; nil when `n` is not a register.
    public func encode(register n: Int, of r: CPURegisters) -> [UInt8]? {
        guard n >= 0, n < registers.count else { return nil }
        let size = registers[n].bytes
        guard let v = value(n, of: r) else { return [UInt8](repeating: UInt8(ascii: "x"), count: size * 2) }
        var bytes: [UInt8] = []
        for i in 0..<size { bytes.append(i < 8 ? UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) : 0) }
        return GDBPacket.hex(bytes)
    }

    /// The `g` reply: every register in order.
    public func encode(_ r: CPURegisters) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(gPacketLength)
        for n in registers.indices { out += encode(register: n, of: r) ?? [] }
        return out
    }

    /// `r` with register `n` set from `value` (its bytes, little-endian, exactly the register's
    /// size); nil when `n` is not a register or the size is wrong.
    public func decode(register n: Int, value: [UInt8], over r: CPURegisters) -> CPURegisters? {
        guard n >= 0, n < registers.count, value.count == registers[n].bytes else { return nil }
        var v: UInt64 = 0
        for (i, b) in value.prefix(8).enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return setting(n, to: v, in: r)
    }

    /// `r` with every register set from a `G` packet's bytes (the `g` layout, all registers);
    /// nil when the length is wrong.
    public func decode(all bytes: [UInt8], over r: CPURegisters) -> CPURegisters? {
        guard bytes.count * 2 == gPacketLength else { return nil }
        var out = r
        var at = 0
        for (n, reg) in registers.enumerated() {
            guard let next = decode(register: n, value: Array(bytes[at..<(at + reg.bytes)]), over: out) else { return nil }
            out = next
            at += reg.bytes
        }
        return out
    }

    /// Builds the target description from the registers.
    private func describe() -> String {
        var s = "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n"
        s += "<architecture>\(architecture == .x86_64 ? "i386:x86-64" : "aarch64")</architecture>\n"
        for (f, name) in features.enumerated() {
            s += "<feature name=\"\(name)\">\n"
            s += Self.types(for: name)
            for (n, r) in registers.enumerated() where r.feature == f {
                s += "<reg name=\"\(r.name)\" bitsize=\"\(r.bits)\" type=\"\(r.type)\" regnum=\"\(n)\""
                if r.type == "vec128" || r.type == "aarch64v" { s += " group=\"vector\"" }
                if r.name.hasPrefix("st") || ["fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"].contains(r.name) {
                    s += " group=\"float\""
                }
                s += "/>\n"
            }
            s += "</feature>\n"
        }
        return s + "</target>\n"
    }

    /// The types a feature's registers use, as gdb's own feature files define them.
    static func types(for feature: String) -> String {
        switch feature {
        case "org.gnu.gdb.i386.core":
            return """
            <flags id="i386_eflags" size="4">
            <field name="CF" start="0" end="0"/><field name="" start="1" end="1"/><field name="PF" start="2" end="2"/>
            <field name="AF" start="4" end="4"/><field name="ZF" start="6" end="6"/><field name="SF" start="7" end="7"/>
            <field name="TF" start="8" end="8"/><field name="IF" start="9" end="9"/><field name="DF" start="10" end="10"/>
            <field name="OF" start="11" end="11"/><field name="NT" start="14" end="14"/><field name="RF" start="16" end="16"/>
            <field name="VM" start="17" end="17"/><field name="AC" start="18" end="18"/><field name="VIF" start="19" end="19"/>
            <field name="VIP" start="20" end="20"/><field name="ID" start="21" end="21"/>
            </flags>

            """
        case "org.gnu.gdb.i386.sse":
            return """
            <vector id="v4f" type="ieee_single" count="4"/><vector id="v2d" type="ieee_double" count="2"/>
            <vector id="v16i8" type="int8" count="16"/><vector id="v8i16" type="int16" count="8"/>
            <vector id="v4i32" type="int32" count="4"/><vector id="v2i64" type="int64" count="2"/>
            <union id="vec128">
            <field name="v4_float" type="v4f"/><field name="v2_double" type="v2d"/><field name="v16_int8" type="v16i8"/>
            <field name="v8_int16" type="v8i16"/><field name="v4_int32" type="v4i32"/><field name="v2_int64" type="v2i64"/>
            <field name="uint128" type="uint128"/>
            </union>
            <flags id="i386_mxcsr" size="4">
            <field name="IE" start="0" end="0"/><field name="DE" start="1" end="1"/><field name="ZE" start="2" end="2"/>
            <field name="OE" start="3" end="3"/><field name="UE" start="4" end="4"/><field name="PE" start="5" end="5"/>
            <field name="DAZ" start="6" end="6"/><field name="IM" start="7" end="7"/><field name="DM" start="8" end="8"/>
            <field name="ZM" start="9" end="9"/><field name="OM" start="10" end="10"/><field name="UM" start="11" end="11"/>
            <field name="PM" start="12" end="12"/><field name="FZ" start="15" end="15"/>
            </flags>

            """
        case "org.gnu.gdb.aarch64.core":
            return """
            <flags id="cpsr_flags" size="4">
            <field name="SP" start="0" end="0"/><field name="EL" start="2" end="3"/><field name="nRW" start="4" end="4"/>
            <field name="F" start="6" end="6"/><field name="I" start="7" end="7"/><field name="A" start="8" end="8"/>
            <field name="D" start="9" end="9"/><field name="IL" start="20" end="20"/><field name="SS" start="21" end="21"/>
            <field name="V" start="28" end="28"/><field name="C" start="29" end="29"/><field name="Z" start="30" end="30"/>
            <field name="N" start="31" end="31"/>
            </flags>

            """
        case "org.gnu.gdb.aarch64.fpu":
            return """
            <vector id="v2d" type="ieee_double" count="2"/><vector id="v2u" type="uint64" count="2"/>
            <vector id="v2i" type="int64" count="2"/><vector id="v4f" type="ieee_single" count="4"/>
            <vector id="v4u" type="uint32" count="4"/><vector id="v4i" type="int32" count="4"/>
            <vector id="v8u" type="uint16" count="8"/><vector id="v8i" type="int16" count="8"/>
            <vector id="v16u" type="uint8" count="16"/><vector id="v16i" type="int8" count="16"/>
            <vector id="v1u" type="uint128" count="1"/><vector id="v1i" type="int128" count="1"/>
            <union id="vnd"><field name="f" type="v2d"/><field name="u" type="v2u"/><field name="s" type="v2i"/></union>
            <union id="vns"><field name="f" type="v4f"/><field name="u" type="v4u"/><field name="s" type="v4i"/></union>
            <union id="vnh"><field name="u" type="v8u"/><field name="s" type="v8i"/></union>
            <union id="vnb"><field name="u" type="v16u"/><field name="s" type="v16i"/></union>
            <union id="vnq"><field name="u" type="v1u"/><field name="s" type="v1i"/></union>
            <union id="aarch64v">
            <field name="d" type="vnd"/><field name="s" type="vns"/><field name="h" type="vnh"/>
            <field name="b" type="vnb"/><field name="q" type="vnq"/>
            </union>

            """
        default:
            return ""
        }
    }
}
