// CoreFileTests.swift: ELF core files parsed back: header, program headers, NT_PRSTATUS layouts, sparse memory; the trap frames' registers.

import Testing
import Foundation
import SkiffCore
import SkiffDebug
import SkiffModules
import SkiffTestSupport
import SkiffArchX86_64
import SkiffArchAArch64

typealias X86TrapFrame = SkiffArchX86_64.TrapFrame
typealias A64TrapFrame = SkiffArchAArch64.TrapFrame

func x86Registers() -> X86_64Registers {
    var r = X86_64Registers()
    r.rax = 0xa; r.rbx = 0xb; r.rcx = 0xc; r.rdx = 0xd; r.rsi = 0x51; r.rdi = 0xd1; r.rbp = 0xb9; r.rsp = 0x59
    r.r8 = 8; r.r9 = 9; r.r10 = 10; r.r11 = 11; r.r12 = 12; r.r13 = 13; r.r14 = 14; r.r15 = 15
    r.rip = 0x100123; r.rflags = 0x202; r.cs = 0x33; r.ss = 0x2b; r.ds = 0x2b; r.es = 0x2b; r.fs = 0; r.gs = 0
    r.fsBase = 0xf5; r.gsBase = 0x65
    return r
}

func a64Registers() -> AArch64Registers {
    var r = AArch64Registers()
    for n in 0..<31 { r.setX(n, UInt64(0x1000 + n)) }
    r.sp = 0x5000; r.pc = 0x100444; r.pstate = 0x3c5
    return r
}

@Test func coreHeaderParsesBack() throws {
    let core = CoreFile(registers: .x86_64(x86Registers()), regions: [(0, 0x400000), (0x400000, 0x10000)],
                        signal: CoreFile.sigSEGV, pid: 4242, name: "hello.hvt")
    let h = core.header
    #expect(Array(h[0..<4]) == [0x7f, 0x45, 0x4c, 0x46] && h[4] == 2 && h[5] == 1)
    #expect(h.u16(16) == 4 && h.u16(18) == 62 && h.u16(56) == 3)   // ET_CORE, EM_X86_64, 3 phdrs
    let phs = (0..<3).compactMap { ProgramHeader(h, at: 64 + 56 * $0) }
    #expect(phs.map { $0.type } == [4, 1, 1])
    #expect(phs[1].vaddr == 0 && phs[1].paddr == 0 && phs[1].filesz == 0x400000 && phs[1].memsz == 0x400000)
    #expect(phs[2].vaddr == 0x400000 && phs[2].filesz == 0x10000)
    #expect(phs[1].offset % 4096 == 0 && phs[1].offset >= UInt64(h.count))
    #expect(phs[2].offset == phs[1].offset + 0x400000)
    #expect(core.fileSize == phs[2].offset + 0x10000)
    #expect(core.segments.map { $0.fileOffset } == [phs[1].offset, phs[2].offset])
    // The notes: NT_PRSTATUS (336 bytes, user_regs_struct at 112) and NT_PRPSINFO (136).
    let notes = ELFNote.parse(Array(h[Int(phs[0].offset)..<Int(phs[0].offset + phs[0].filesz)]))
    #expect(notes.map { $0.name } == ["CORE", "CORE"] && notes.map { $0.type } == [1, 3])
    let st = notes[0].descriptor
    #expect(st.count == 336)
    #expect(st.u32(0) == 11 && st.u16(12) == 11 && st.u32(32) == 4242)
    let regs = (0..<27).map { st.u64(112 + 8 * $0)! }
    #expect(regs == [15, 14, 13, 12, 0xb9, 0xb, 11, 10, 9, 8, 0xa, 0xc, 0xd, 0x51, 0xd1, UInt64.max,
                     0x100123, 0x33, 0x202, 0x59, 0x2b, 0xf5, 0x65, 0x2b, 0x2b, 0, 0])
    let ps = notes[1].descriptor
    #expect(ps.count == 136 && ps[1] == UInt8(ascii: "R") && ps.u32(24) == 4242)
    #expect(String(decoding: ps[40..<56].prefix { $0 != 0 }, as: UTF8.self) == "hello.hvt")
}

@Test func aarch64PRStatusIsUserPtRegs() throws {
    let core = CoreFile(registers: .aarch64(a64Registers()), regions: [(0, 0x200000)], signal: CoreFile.sigABRT, pid: 7, name: "x")
    #expect(core.header.u16(18) == 183)
    let ph = ProgramHeader(core.header, at: 64)!
    let st = ELFNote.parse(Array(core.header[Int(ph.offset)..<Int(ph.offset + ph.filesz)]))[0].descriptor
    #expect(st.count == 392)
    #expect(st.u32(0) == 6)
    let regs = (0..<34).map { st.u64(112 + 8 * $0)! }
    #expect(regs == (0..<31).map { UInt64(0x1000 + $0) } + [0x5000, 0x100444, 0x3c5])
}

/// A temporary file, removed at the end of the test.
func withTemporaryFile(_ body: (Int32, String) throws -> Void) throws {
    let path = NSTemporaryDirectory() + "skiff-core-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0o600)
    #expect(fd >= 0)
    defer { close(fd); unlink(path) }
    try body(fd, path)
}

@Test func coreFileHoldsMemorySparsely() throws {
    let mem = try GuestMemory(size: 4 << 20)
    mem.reserveTop(1 << 20)   // a ring area: the second segment
    try mem.write([1, 2, 3, 4], at: GuestAddress(0x1000))
    try mem.write([UInt8](repeating: 0xab, count: 5000), at: GuestAddress(0x200ff0))   // spans three pages
    try mem.write([0xcc], at: GuestAddress(0x3fffff))                                 // the ring area's last byte
    let core = CoreFile(registers: .x86_64(x86Registers()), regions: DumpCoreModule.regions(mem),
                        signal: CoreFile.sigABRT, pid: 1, name: "t")
    #expect(core.segments.map { $0.size } == [3 << 20, 1 << 20])
    try withTemporaryFile { fd, path in
        let r = DumpCoreModule.write(core, from: mem, to: fd)
        guard case .success(let pages) = r else { Issue.record("write failed"); return }
        #expect(pages.total == 1024 && pages.written == 5)
        let file = readBytes(path)
        #expect(UInt64(file.count) == core.fileSize)
        for s in core.segments {
            let inFile = Array(file[Int(s.fileOffset)..<Int(s.fileOffset + s.size)])
            let inMemory = try mem.read(at: GuestAddress(s.address), count: Int(s.size))
            #expect(inFile == inMemory)
        }
        var st = stat()
        #expect(fstat(fd, &st) == 0 && st.st_blocks * 512 < 1 << 20, "zero pages are holes")
    }
}

@Test func coreFileEndsWithAZeroPageHole() throws {
    let mem = try GuestMemory(size: 1 << 20)
    try mem.write([9], at: GuestAddress(0x10))
    let core = CoreFile(registers: .aarch64(a64Registers()), regions: DumpCoreModule.regions(mem), signal: 6, pid: 1, name: "t")
    try withTemporaryFile { fd, path in
        guard case .success = DumpCoreModule.write(core, from: mem, to: fd) else { Issue.record("write failed"); return }
        let file = readBytes(path)
        #expect(UInt64(file.count) == core.fileSize && file[Int(core.segments[0].fileOffset) + 0x10] == 9 && file.last == 0)
    }
}

@Test func unreadableHostPagesAreSkipped() throws {
    let mem = try GuestMemory(size: 1 << 20)
    try mem.write([7], at: GuestAddress(0x2000))
    #expect(mem.protect(at: GuestAddress(0x2000), count: 0x1000, writable: false, readable: false))
    #expect(!mem.hostAllows(GuestAddress(0x2fff), 1, write: false))
    #expect(mem.hostAllows(GuestAddress(0x3000), 1, write: true))
    let core = CoreFile(registers: .x86_64(x86Registers()), regions: DumpCoreModule.regions(mem), signal: 6, pid: 1, name: "t")
    try withTemporaryFile { fd, _ in
        guard case .success(let pages) = DumpCoreModule.write(core, from: mem, to: fd) else { Issue.record("write failed"); return }
        #expect(pages.written == 0)
    }
    #expect(mem.protect(at: GuestAddress(0x2000), count: 0x1000, writable: true, readable: true))
}

@Test func coreFileNames() {
    #expect(DumpCoreModule.fileName(program: "skiff", pid: 12) == "core.skiff-hvt.12")
    #expect(DumpCoreModule.fileName(program: "skiff-hvt", pid: 12) == "core.skiff-hvt.12")
    #expect(DumpCoreModule.fileName(program: "solo5-hvt-debug", pid: 99) == "core.solo5-hvt.99")
}

@Test func dumpcoreOptionSpelling() throws {
    #expect(try RunOptions.parse(["--dumpcore", "k"]).moduleSettings == [.init(name: "dumpcore", value: ".")])
    #expect(try RunOptions.parse(["--dumpcore=/tmp/x", "k"]).moduleSettings == [.init(name: "dumpcore", value: "/tmp/x")])
    #expect(try RunOptions.parse(["--dumpcore=/a", "--dumpcore=/b", "k"]).moduleSettings == [.init(name: "dumpcore", value: "/b")])
    #expect(throws: OptionError.invalidOption("--dumpcore=")) { try RunOptions.parse(["--dumpcore=", "k"]) }
    #expect(RunOptions.usage().contains("--dumpcore[=DIR]"))
}

@Test func dumpcoreDirectoryIsCheckedAtSetUp() throws {
    func make(_ dir: String) throws(DeviceError) -> ModuleSet {
        var o = RunOptions(kernel: "k")
        o.moduleSettings = [.init(name: "dumpcore", value: dir)]
        return try ModuleSet(setup: ModuleSetup(options: o, manifest: Manifest(devices: [])))
    }
    #expect(throws: DeviceError.unusableDirectory(option: "--dumpcore", path: "/nonexistent/dir", error: "No such file or directory")) {
        try make("/nonexistent/dir")
    }
    #expect(throws: DeviceError.unusableDirectory(option: "--dumpcore", path: "/etc/passwd", error: "Not a directory")) {
        try make("/etc/passwd")
    }
    let set = try make(NSTemporaryDirectory())
    #expect(set.syscalls.contains(Int(SYS_openat)))
    let none = try ModuleSet(setup: ModuleSetup(options: RunOptions(kernel: "k"), manifest: Manifest(devices: [])))
    #expect(!none.syscalls.contains(Int(SYS_openat)), "openat only with --dumpcore")
}

@Test func x86TrapFrameRegisters() throws {
    let mem = try GuestMemory(size: 1 << 20)
    let frame: [UInt64] = [0xdead, 4, 0x100777, 0x33, 0x10246, 0x1ff00, 0x2b]
    for (i, w) in frame.enumerated() { try mem.store(w, at: GuestAddress(0x8000 + 8 * UInt64(i))) }
    var halt = x86Registers()
    halt.rbp = 0x5555
    // Solo5's seven words only: rip, cs, rflags, rsp, ss (and cr2) from the frame, the rest from HALT.
    let f = try #require(X86TrapFrame.read(at: GuestAddress(0x8000), in: mem))
    #expect(f.saved == nil)
    let r = f.registers(over: halt)
    #expect(r.rip == 0x100777 && r.rsp == 0x1ff00 && r.rflags == 0x10246 && r.cs == 0x33 && r.ss == 0x2b && r.cr2 == 0xdead)
    #expect(r.rbp == 0x5555 && r.rax == halt.rax)
    // With Skiff's extension: rax, rbx, rbp, r12-r15 too.
    try mem.store(X86TrapFrame.extensionMagic, at: GuestAddress(0x8000 + 56))
    for i in 0..<7 { try mem.store(UInt64(0x70 + i), at: GuestAddress(0x8000 + 64 + 8 * UInt64(i))) }
    let e = try #require(X86TrapFrame.read(at: GuestAddress(0x8000), in: mem)).registers(over: halt)
    #expect([e.rax, e.rbx, e.rbp, e.r12, e.r13, e.r14, e.r15] == (0..<7).map { UInt64(0x70 + $0) })
    #expect(e.rcx == halt.rcx && e.rip == 0x100777)
    // A frame at the end of memory: the seven words fit, the extension does not.
    #expect(X86TrapFrame.read(at: GuestAddress((1 << 20) - 64), in: mem)?.saved == nil)
    #expect(X86TrapFrame.read(at: GuestAddress((1 << 20) - 8), in: mem) == nil)
}

@Test func aarch64TrapFrameRegisters() throws {
    let words = (0..<31).map { UInt64(0x100 + $0) } + [0x7000 /* sp_el0 */, 0x100888 /* elr */, 0x3c4 /* spsr: EL1t */, 0x96000045, 0x8]
    let f = try #require(A64TrapFrame(words: words, address: 0x9000))
    let r = f.registers
    #expect(r.x(0) == 0x100 && r.x(30) == 0x11e && r.pc == 0x100888 && r.pstate == 0x3c4 && r.sp == 0x7000)
    var w = words
    w[33] = 0x3c5   // EL1h: the exception came from code on SP_EL1, right above the frame
    #expect(A64TrapFrame(words: w, address: 0x9000)?.registers.sp == 0x9000 + 288)
    #expect(A64TrapFrame(words: Array(words.prefix(35)), address: 0) == nil)
}

// MARK: The module over a fake VM (the aarch64 path runs here on any host)

final class FakeCPU: DebuggableCPU {
    var registers: CPURegisters
    init(_ r: CPURegisters) { registers = r }
    func readRegisters() throws(BackendError) -> CPURegisters { registers }
    func writeRegisters(_ r: CPURegisters) throws(BackendError) { registers = r }
}

/// A ModuleHost whose trap frames are aarch64's (as Monitor+aarch64.swift's ArchGlue reads them).
final class FakeA64Host: ModuleHost {
    let memory: GuestMemory
    let cpu: FakeCPU
    init(memory: GuestMemory, cpu: FakeCPU) { self.memory = memory; self.cpu = cpu }
    func registerRingKick(eventFD: Int32) -> Bool { false }
    func kickVCPU() {}
    var debugCPU: (any DebuggableCPU)? { cpu }
    func faultRegisters(cookie: GuestAddress, halt: CPURegisters) -> CPURegisters? {
        A64TrapFrame.read(at: cookie, in: memory).map { .aarch64($0.registers) }
    }
}

/// The dumpcore module of a run with `--dumpcore=DIR` attached to `host`, and the messages it printed.
func dumpcoreModule(dir: String, host: any ModuleHost) throws -> (ModuleSet, () -> [String]) {
    var o = RunOptions(kernel: "/images/trap.hvt")
    o.moduleSettings = [.init(name: "dumpcore", value: dir)]
    final class Lines { var all: [String] = [] }
    let lines = Lines()
    let set = try ModuleSet(setup: ModuleSetup(options: o, manifest: Manifest(devices: []), inform: { lines.all.append($0) }),
                            descriptors: [DumpCoreModule.descriptor])
    var table = HypercallTable()
    _ = set.attach(table: &table, host: host)
    return (set, { lines.all })
}

func prstatusRegisters(_ core: [UInt8], count: Int) throws -> (signal: UInt32, regs: [UInt64]) {
    let ph = try #require(ProgramHeader(core, at: 64))
    let st = try #require(ELFNote.parse(Array(core[Int(ph.offset)..<Int(ph.offset + ph.filesz)])).first).descriptor
    return (st.u32(0)!, (0..<count).map { st.u64(112 + 8 * $0)! })
}

@Test func aarch64AbortCoreHasTheFramesRegisters() throws {
    let dir = NSTemporaryDirectory() + "skiff-dumpcore-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let mem = try GuestMemory(size: 2 << 20)
    let frame = (0..<31).map { UInt64(0x100 + $0) } + [0x1f0000, 0x100888, 0x3c4, 0x96000045, 0x8]
    for (i, w) in frame.enumerated() { try mem.store(w, at: GuestAddress(0x150000 + 8 * UInt64(i))) }
    var atHalt = AArch64Registers()
    atHalt.pc = 0x100abc
    let host = FakeA64Host(memory: mem, cpu: FakeCPU(.aarch64(atHalt)))
    let (set, lines) = try dumpcoreModule(dir: dir, host: host)
    set.guestHalted(HaltStatus(exitStatus: 0))            // not an abort: nothing
    set.guestHalted(HaltStatus(exitStatus: 1))
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty && lines().isEmpty)
    set.guestHalted(HaltStatus(exitStatus: 255, cookie: GuestAddress(0x150000)))
    let name = "core.skiff-hvt.\(getpid())"
    #expect(lines() == ["dumpcore: dumped guest core to: \(dir)/\(name) (1 of 512 pages)"])
    let core = readBytes(dir + "/" + name)
    #expect(core.u16(18) == 183)
    let st = try prstatusRegisters(core, count: 34)
    #expect(st.signal == 6 && st.regs == (0..<31).map { UInt64(0x100 + $0) } + [0x1f0000, 0x100888, 0x3c4])
    // Once per run: a later fault does not overwrite it.
    set.guestFaulted(GuestFault(kind: .shutdown, message: "x"))
    #expect(lines().count == 1)
}

@Test func faultCoreHasTheVCPUsRegistersAndAnExistingFileIsNotClobbered() throws {
    let dir = NSTemporaryDirectory() + "skiff-dumpcore-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let mem = try GuestMemory(size: 1 << 20)
    var r = AArch64Registers()
    r.pc = 0x100004; r.sp = 0x80000
    let (set, lines) = try dumpcoreModule(dir: dir, host: FakeA64Host(memory: mem, cpu: FakeCPU(.aarch64(r))))
    set.guestFaulted(GuestFault(kind: .protection, message: "KVM: host/guest translation fault: pc=0x100004"))
    let name = "core.skiff-hvt.\(getpid())"
    let st = try prstatusRegisters(readBytes(dir + "/" + name), count: 34)
    #expect(st.signal == 11 && st.regs[32] == 0x100004 && st.regs[31] == 0x80000)
    #expect(lines() == ["dumpcore: dumped guest core to: \(dir)/\(name) (0 of 256 pages)"])
    // A second run with the same pid finds the file: O_EXCL refuses, one line says so.
    let (again, more) = try dumpcoreModule(dir: dir, host: FakeA64Host(memory: mem, cpu: FakeCPU(.aarch64(r))))
    again.guestHalted(HaltStatus(exitStatus: 255))
    #expect(more() == ["dumpcore: could not create \(dir)/\(name): File exists"])
}

@Test func isZeroSeesEveryByte() throws {
    let mem = try GuestMemory(size: 1 << 20)
    #expect(try mem.isZero(at: GuestAddress(0), count: 1 << 20) && (try mem.isZero(at: GuestAddress(5), count: 0)))
    for at in [0, 1, 7, 8, 63, 64, 65, 4095, 4096 + 99] as [UInt64] {
        try mem.store(UInt8(1), at: GuestAddress(0x1000 + at))
        #expect(!(try mem.isZero(at: GuestAddress(0x1000), count: 4096 + 100)), "byte \(at)")
        #expect(try mem.isZero(at: GuestAddress(0x1000 + at + 1), count: 4096 + 100 - at - 1))
        try mem.store(UInt8(0), at: GuestAddress(0x1000 + at))
    }
    #expect(throws: GuestAccessError.self) { try mem.isZero(at: GuestAddress((1 << 20) - 1), count: 2) }
}
