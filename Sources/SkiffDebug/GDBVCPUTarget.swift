// GDBVCPUTarget.swift: the GDBTarget over a real vCPU: registers and guest-debug traps through the backend's DebuggableCPU, memory through GuestMemory's checks, software breakpoints written into (read-only) text.
//
// No socket and no thread: the `--gdb` module (SkiffModules/GDBModule.swift)
// owns the connection and runs the session; this is the part that changes the
// guest, and it is unit-tested over a fake CPU and real guest memory.
//
// - Addresses are the guest's (virtual = physical in Skiff and Solo5 guests,
//   which identity-map their RAM); `memoryBase` is the guest-physical address
//   of GuestMemory's first byte (0 for hvt; the arm64 Linux machine's RAM base).
//   Nothing outside guest memory is ever read or written (`E14`).
// - A software breakpoint saves the bytes it covers and writes the
//   architecture's breakpoint instruction through the host protection of
//   read-only text (GuestMemory.writeThroughProtection). Reads show the saved
//   bytes, writes over a breakpoint update them; removing it, detaching or a
//   closed connection puts them back.
// - Hardware breakpoints and watchpoints are handed to the backend as a whole
//   (`GuestDebugControl`) at every change, so a request the hardware cannot
//   take is refused at the `Z` packet (gdb then says so, or falls back).
// - No Dictionary: hashing seeds itself with getrandom(2) on first use, a call
//   the seccomp filter (installed before the debugger's first packet) forbids.

import SkiffCore

/// A software breakpoint: where, and the guest's bytes under the breakpoint instruction.
public struct SoftwareBreakpoint: Equatable, Sendable {
    public var address: UInt64
    public var original: [UInt8]
}

public final class GDBVCPUTarget: GDBTarget {
    public let architecture: GuestArchitecture
    public let cpu: any DebuggableCPU
    public let memory: GuestMemory
    public let memoryBase: UInt64
    public let capabilities: DebugCapabilities
    /// Inserted software breakpoints, in insertion order (a handful: a list, see above).
    public private(set) var softwareBreakpoints: [SoftwareBreakpoint] = []
    /// Hardware breakpoints and watchpoints, in the order the backend numbers them.
    public private(set) var hardware: [HardwareBreakpoint] = []
    /// The debugger asked for a single step at the last resume.
    public private(set) var stepping = false
    /// Ctrl-C arrived while the guest ran (the driver reports the stop and clears it).
    public var interruptRequested = false
    public private(set) var killed = false
    public private(set) var detached = false
    /// Registers shown instead of the vCPU's (an abort's trap frame: the faulting frame); writes are refused meanwhile.
    public var registerOverride: CPURegisters? = nil

    public init(cpu: any DebuggableCPU, memory: GuestMemory, memoryBase: UInt64 = 0, architecture: GuestArchitecture) {
        self.cpu = cpu
        self.memory = memory
        self.memoryBase = memoryBase
        self.architecture = architecture
        capabilities = cpu.debugCapabilities
    }

    /// The guest's bytes under the software breakpoint at `address`, if there is one.
    public func original(at address: UInt64) -> [UInt8]? {
        softwareBreakpoints.first { $0.address == address }?.original
    }

    /// What the backend traps on now.
    public var control: GuestDebugControl {
        GuestDebugControl(singleStep: stepping, softwareBreakpoints: !softwareBreakpoints.isEmpty, hardware: hardware)
    }

    private func apply() throws(GDBTargetError) {
        do { try cpu.setGuestDebug(control) } catch { throw .failed(error.message) }
    }

    // MARK: Registers

    public func readRegisters() throws(GDBTargetError) -> CPURegisters {
        if let r = registerOverride { return r }
        do { return try cpu.readRegisters() } catch { throw .failed(error.message) }
    }

    public func writeRegisters(_ registers: CPURegisters) throws(GDBTargetError) {
        guard registerOverride == nil else { throw .failed("the guest has ended: its registers cannot change") }
        do { try cpu.writeRegisters(registers) } catch { throw .failed(error.message) }
    }

    // MARK: Memory

    /// GuestMemory's offset of guest address `address`, if it is at or above the base.
    private func offset(_ address: UInt64) -> UInt64? { address >= memoryBase ? address - memoryBase : nil }

    public func readMemory(at address: UInt64, count: Int) throws(GDBTargetError) -> [UInt8] {
        guard let o = offset(address) else { throw .memory }
        var bytes = try memory.debuggerRead(at: o, count: count)
        // Show the guest's bytes, not our breakpoint instructions.
        for bp in softwareBreakpoints where bp.address < address &+ UInt64(bytes.count) && address < bp.address &+ UInt64(bp.original.count) {
            let a = bp.address
            for (i, b) in bp.original.enumerated() {
                let at = a &+ UInt64(i)
                if at >= address && at - address < UInt64(bytes.count) { bytes[Int(at - address)] = b }
            }
        }
        return bytes
    }

    public func writeMemory(_ bytes: [UInt8], at address: UInt64) throws(GDBTargetError) {
        guard let o = offset(address), memory.writeThroughProtection(bytes, at: GuestAddress(o)) else { throw .memory }
        // A write over an inserted breakpoint changes what it saved; the breakpoint stays.
        let instruction = capabilities.breakpointInstruction
        for n in softwareBreakpoints.indices {
            let a = softwareBreakpoints[n].address, count = softwareBreakpoints[n].original.count
            guard a < address &+ UInt64(bytes.count) && address < a &+ UInt64(count) else { continue }
            for i in 0..<count {
                let at = a &+ UInt64(i)
                if at >= address && at - address < UInt64(bytes.count) { softwareBreakpoints[n].original[i] = bytes[Int(at - address)] }
            }
            _ = memory.writeThroughProtection(instruction, at: GuestAddress(a - memoryBase))
        }
    }

    // MARK: Breakpoints

    public func insertBreakpoint(_ b: GDBBreakpoint) throws(GDBTargetError) {
        switch b.kind {
        case .software:
            let instruction = capabilities.breakpointInstruction
            guard !instruction.isEmpty, capabilities.stepping else { throw .unsupported }
            guard original(at: b.address) == nil else { return }
            guard let o = offset(b.address), o < memory.allocationSize,
                  let original = try? memory.debuggerRead(at: o, count: instruction.count),
                  original.count == instruction.count,
                  memory.writeThroughProtection(instruction, at: GuestAddress(o)) else { throw .memory }
            softwareBreakpoints.append(SoftwareBreakpoint(address: b.address, original: original))
            do throws(GDBTargetError) { try apply() } catch {
                _ = memory.writeThroughProtection(original, at: GuestAddress(o))
                softwareBreakpoints.removeLast()
                throw error
            }
        case .hardware, .writeWatch, .readWatch, .accessWatch:
            let h = HardwareBreakpoint(kind: Self.kind(b.kind), address: b.address, length: b.kind == .hardware ? 1 : b.length)
            let executes = h.kind == .execute
            let inUse = hardware.filter { ($0.kind == .execute) == executes }.count
            guard inUse < (executes ? capabilities.hardwareBreakpoints : capabilities.watchpoints),
                  h.kind != .read || capabilities.readWatchpoints, h.length > 0 else { throw .unsupported }
            guard !hardware.contains(h) else { return }
            hardware.append(h)
            do throws(GDBTargetError) { try apply() } catch {
                hardware.removeLast()
                _ = try? apply()
                throw .unsupported   // the hardware cannot take it (alignment, size, slots): gdb says so
            }
        }
    }

    public func removeBreakpoint(_ b: GDBBreakpoint) throws(GDBTargetError) {
        switch b.kind {
        case .software:
            guard let n = softwareBreakpoints.firstIndex(where: { $0.address == b.address }) else { return }
            let original = softwareBreakpoints.remove(at: n).original
            guard let o = offset(b.address), memory.writeThroughProtection(original, at: GuestAddress(o)) else { throw .memory }
        case .hardware, .writeWatch, .readWatch, .accessWatch:
            let h = HardwareBreakpoint(kind: Self.kind(b.kind), address: b.address, length: b.kind == .hardware ? 1 : b.length)
            guard let i = hardware.firstIndex(of: h) else { return }
            hardware.remove(at: i)
        }
        try apply()
    }

    static func kind(_ k: GDBBreakpoint.Kind) -> HardwareBreakpoint.Kind {
        switch k {
        case .software, .hardware: return .execute
        case .writeWatch: return .write
        case .readWatch: return .read
        case .accessWatch: return .access
        }
    }

    // MARK: Running

    public func resume(_ mode: GDBResume) throws(GDBTargetError) {
        guard registerOverride == nil else { return }   // the guest has ended: the driver reports how
        stepping = mode == .step
        try apply()
    }

    public func interrupt() { interruptRequested = true }

    /// Puts every breakpoint's bytes back and stops trapping: the guest runs as without a debugger.
    public func detach() {
        for bp in softwareBreakpoints {
            if let o = offset(bp.address) { _ = memory.writeThroughProtection(bp.original, at: GuestAddress(o)) }
        }
        softwareBreakpoints = []
        hardware = []
        stepping = false
        _ = try? cpu.setGuestDebug(GuestDebugControl())
        detached = true
    }

    public func kill() { killed = true }

    /// The stop a debug exit means to gdb: our own breakpoint instruction, a hardware breakpoint,
    /// a watchpoint (with the watched address the access fell in), or a plain trap (a step, a guest's own `int3`).
    public func stop(for event: DebugEvent) -> GDBStop {
        switch event.kind {
        case .softwareBreakpoint:
            return original(at: event.programCounter) != nil ? .softwareBreakpoint : .trap
        case .hardwareBreakpoint: return .hardwareBreakpoint
        case .watchpoint(let n, let address):
            guard n >= 0, n < hardware.count else { return .trap }
            let h = hardware[n]
            let kind: GDBBreakpoint.Kind = h.kind == .read ? .readWatch : h.kind == .access ? .accessWatch : .writeWatch
            let a = address.flatMap { $0 >= h.address && $0 - h.address < h.length ? $0 : nil } ?? h.address
            return .watchpoint(kind, address: a)
        case .step, .unknown: return .trap
        }
    }
}
