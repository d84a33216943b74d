// GDBSession.swift: the GDB remote stub's state machine: bytes from the debugger in, bytes to send and target calls out; the target is a protocol.
//
// Pure: no socket, no thread, no hypervisor. The driver (the `--gdb`
// module) feeds whatever the connection delivered to `receive`, sends the
// returned bytes, and, when the session asked the target to resume, runs the
// guest until it stops and then calls `stopped` and sends that reply. The
// session keeps all-stop semantics with one thread (id 1): while the guest
// runs, only Ctrl-C (0x03) is acted upon.
//
// Replies: `OK`, `Enn` (E14: memory outside the guest, or a host-protected
// range; E22: malformed packet; E01: the target failed), the empty packet for
// anything unsupported, and stop replies `T05thread:1;` (SIGTRAP), `T02…`
// (SIGINT after Ctrl-C), `T0b…`/`T04…` (a guest fault), `Wxx` (the guest
// exited), `X0b` (the run ended on a fault); breakpoint stops say which kind
// (`swbreak:;`, `hwbreak:;`, `watch:ADDR;`), as gdb asks of stubs that offer
// `swbreak+`/`hwbreak+`.

import SkiffCore

/// What a debugger may do to the guest. Implemented by the monitor's gdb module over the
/// backend's vCPU (`DebuggableCPU`, guest debug flags) and `GuestMemory`; by a fake in tests.
public protocol GDBTarget: AnyObject {
    var architecture: GuestArchitecture { get }
    func readRegisters() throws(GDBTargetError) -> CPURegisters
    func writeRegisters(_ registers: CPURegisters) throws(GDBTargetError)
    /// Up to `count` bytes at guest address `address`; the implementation checks the whole range
    /// against guest memory (GuestMemory's checked accessors) and throws `.memory` when it is outside.
    func readMemory(at address: UInt64, count: Int) throws(GDBTargetError) -> [UInt8]
    /// Writes `bytes` at `address`, checked likewise.
    func writeMemory(_ bytes: [UInt8], at address: UInt64) throws(GDBTargetError)
    /// Throws `.unsupported` for the kinds it does not offer (the session replies empty, gdb falls back).
    func insertBreakpoint(_ breakpoint: GDBBreakpoint) throws(GDBTargetError)
    func removeBreakpoint(_ breakpoint: GDBBreakpoint) throws(GDBTargetError)
    /// Lets the guest run (or execute one instruction); the driver calls `GDBSession.stopped` when it stops.
    func resume(_ mode: GDBResume) throws(GDBTargetError)
    /// Ctrl-C while running: make the guest stop soon (the driver then reports `.interrupted`).
    func interrupt()
    /// The debugger left (`D`): remove breakpoints, let the guest run freely.
    func detach()
    /// The debugger killed the guest (`k`): end the run.
    func kill()
}

public enum GDBTargetError: Error, Equatable, Sendable {
    /// A memory range outside guest memory (or one the host protects): `E14`.
    case memory
    /// Not offered (a watchpoint kind, FP registers): the empty reply.
    case unsupported
    /// The backend failed: `E01`.
    case failed(String)
}

/// Why the guest stopped, as the stop reply says it.
public enum GDBStop: Equatable, Sendable {
    /// A completed single step, or a trap nobody set (SIGTRAP).
    case trap
    /// A software breakpoint the debugger inserted (SIGTRAP, `swbreak`).
    case softwareBreakpoint
    /// A hardware breakpoint (SIGTRAP, `hwbreak`).
    case hardwareBreakpoint
    /// A watchpoint of `kind` (write, read or access) at `address` triggered (SIGTRAP, `watch`/`rwatch`/`awatch`).
    case watchpoint(GDBBreakpoint.Kind, address: UInt64)
    /// Ctrl-C took effect (SIGINT).
    case interrupted
    /// A guest fault the run cannot continue from, with the signal it maps to (SIGSEGV, SIGILL…).
    case fault(signal: UInt8)
    /// The guest halted with `status`; the session ends.
    case exited(status: UInt8)
    /// The run ended on a fault; the session ends.
    case terminated(signal: UInt8)
}

/// What the driver does after feeding bytes.
public enum GDBSessionState: Equatable, Sendable {
    /// The guest is stopped, waiting for commands.
    case stopped
    /// The guest runs; feed bytes for Ctrl-C, report the stop with `stopped(_:)`.
    case running
    /// The debugger detached: the guest runs on without it; close the connection.
    case detached
    /// The debugger killed the guest, or the guest ended: close the connection, end the run.
    case ended
}

public final class GDBSession {
    public let target: any GDBTarget
    public let registerFile: GDBRegisterFile
    public private(set) var state: GDBSessionState = .stopped
    /// Acknowledgements off (`QStartNoAckMode`).
    public private(set) var noAck = false
    private var reader = GDBPacketReader()
    /// The last packet sent, for a `-` (resend).
    private var lastSent: [UInt8] = []
    /// The last stop, for `?`.
    private var lastStop: GDBStop = .trap
    /// `registerFile.targetXML`, built on the first `qXfer:features:read`.
    private var targetXML: [UInt8]? = nil

    /// At most this many bytes per `m` reply (its hex must fit in `PacketSize`).
    public static let maxMemoryRead = (GDBPacketReader.maxPayload - 32) / 2

    public init(target: any GDBTarget) {
        self.target = target
        registerFile = GDBRegisterFile(target.architecture)
    }

    /// Feeds bytes from the debugger; returns the bytes to send (acks and replies).
    public func receive(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        for input in reader.feed(bytes) { out += handle(input) }
        return out
    }

    public func receive(_ bytes: [UInt8]) -> [UInt8] { receive(bytes[...]) }

    /// The guest stopped (after `resume`, or on its own: a fault, a halt): the stop reply to send.
    /// Empty unless the guest was running for the debugger (a stop while stopped was already reported).
    public func stopped(_ stop: GDBStop) -> [UInt8] {
        lastStop = stop
        switch stop {
        case .exited, .terminated: state = .ended
        default:
            guard state == .running else { return [] }
            state = .stopped
        }
        return send(stopReply(stop))
    }

    private func handle(_ input: GDBInput) -> [UInt8] {
        switch input {
        case .ack: return []
        case .nack: return noAck ? [] : lastSent
        case .interrupt:
            if state == .running { target.interrupt() }
            return []
        case .corrupt: return noAck ? [] : [UInt8(ascii: "-")]
        case .tooLong, .malformed:
            return (noAck ? [] : [UInt8(ascii: "+")]) + send("E22")
        case .packet(let p):
            let ack: [UInt8] = noAck ? [] : [UInt8(ascii: "+")]
            // All-stop: while the guest runs, gdb sends nothing but Ctrl-C; anything else waits for no one.
            guard state == .stopped else { return state == .running ? ack : ack + send("E01") }
            return ack + execute(GDBCommand.parse(p))
        }
    }

    private func send(_ payload: [UInt8]) -> [UInt8] {
        lastSent = GDBPacket.encode(payload)
        return lastSent
    }

    private func send(_ payload: String) -> [UInt8] { send(Array(payload.utf8)) }

    private func error(_ e: GDBTargetError) -> [UInt8] {
        switch e {
        case .memory: return send("E14")
        case .unsupported: return send("")
        case .failed: return send("E01")
        }
    }

    func stopReply(_ stop: GDBStop) -> [UInt8] {
        switch stop {
        case .trap: return Array("T05thread:1;".utf8)
        case .softwareBreakpoint: return Array("T05swbreak:;thread:1;".utf8)
        case .hardwareBreakpoint: return Array("T05hwbreak:;thread:1;".utf8)
        case .watchpoint(let kind, let address):
            let name = kind == .readWatch ? "rwatch" : kind == .accessWatch ? "awatch" : "watch"
            return Array("T05\(name):\(String(address, radix: 16));thread:1;".utf8)
        case .interrupted: return Array("T02thread:1;".utf8)
        case .fault(let s): return Array("T".utf8) + GDBPacket.hexByte(s) + Array("thread:1;".utf8)
        case .exited(let s): return Array("W".utf8) + GDBPacket.hexByte(s)
        case .terminated(let s): return Array("X".utf8) + GDBPacket.hexByte(s)
        }
    }

    private func execute(_ command: GDBCommand) -> [UInt8] {
        switch command {
        case .haltReason:
            return send(stopReply(lastStop))
        case .readRegisters:
            do throws(GDBTargetError) { return send(registerFile.encode(try target.readRegisters())) } catch { return self.error(error) }
        case .writeRegisters(let bytes):
            do throws(GDBTargetError) {
                guard let r = registerFile.decode(all: bytes, over: try target.readRegisters()) else { return send("E22") }
                try target.writeRegisters(r)
                return send("OK")
            } catch { return self.error(error) }
        case .readRegister(let n):
            guard n < registerFile.registers.count else { return send("E22") }
            do throws(GDBTargetError) {
                return send(registerFile.encode(register: n, of: try target.readRegisters()) ?? [])
            } catch { return self.error(error) }
        case .writeRegister(let n, let value):
            do throws(GDBTargetError) {
                guard let r = registerFile.decode(register: n, value: value, over: try target.readRegisters()) else { return send("E22") }
                try target.writeRegisters(r)
                return send("OK")
            } catch { return self.error(error) }
        case .readMemory(let address, let length):
            guard length > 0 else { return send("") }
            let n = Int(min(length, UInt64(Self.maxMemoryRead)))
            guard address.addingReportingOverflow(UInt64(n)).overflow == false else { return send("E14") }
            do throws(GDBTargetError) {
                let bytes = try target.readMemory(at: address, count: n)
                guard bytes.count <= n else { return send("E01") }
                return send(GDBPacket.hex(bytes))
            } catch { return self.error(error) }
        case .writeMemory(let address, let data):
            guard !data.isEmpty else { return send("OK") }
            guard address.addingReportingOverflow(UInt64(data.count)).overflow == false else { return send("E14") }
            do throws(GDBTargetError) { try target.writeMemory(data, at: address); return send("OK") } catch { return self.error(error) }
        case .resume(let mode, let address):
            do throws(GDBTargetError) {
                if let a = address {
                    var r = try target.readRegisters()
                    r = registerFile.setting(registerFile.architecture == .x86_64 ? 16 : 32, to: a, in: r)
                    try target.writeRegisters(r)
                }
                try target.resume(mode)
                state = .running
                return []   // the stop reply comes with `stopped`
            } catch { return self.error(error) }
        case .vContQuery:
            return send("vCont;c;C;s;S;t")
        case .insertBreakpoint(let b):
            do throws(GDBTargetError) { try target.insertBreakpoint(b); return send("OK") } catch { return self.error(error) }
        case .removeBreakpoint(let b):
            do throws(GDBTargetError) { try target.removeBreakpoint(b); return send("OK") } catch { return self.error(error) }
        case .querySupported:
            return send("PacketSize=\(String(GDBPacketReader.maxPayload, radix: 16));qXfer:features:read+;QStartNoAckMode+;vContSupported+;swbreak+;hwbreak+")
        case .readFeatures(let annex, let offset, let length):
            guard annex == "target.xml" else { return send("E00") }
            let xml = targetXML ?? Array(registerFile.targetXML.utf8)
            targetXML = xml
            guard offset <= UInt64(xml.count) else { return send("E22") }
            // A reply's escaped data must fit in PacketSize: at most half of it per chunk.
            let n = Int(min(length, UInt64(GDBPacketReader.maxPayload / 2 - 8), UInt64(xml.count) - offset))
            let start = Int(offset)
            let chunk = Array(xml[start..<(start + n)])
            return send((start + n == xml.count ? [UInt8(ascii: "l")] : [UInt8(ascii: "m")]) + chunk)
        case .queryAttached:
            return send("1")
        case .queryCurrentThread:
            return send("QC1")
        case .threadInfo(let first):
            return send(first ? "m1" : "l")
        case .setThread:
            return send("OK")
        case .threadAlive(let t):
            return send(t == 1 ? "OK" : "E01")
        case .symbolLookupDone:
            return send("OK")
        case .startNoAckMode:
            let reply = send("OK")
            noAck = true
            return reply
        case .detach:
            let reply = send("OK")
            target.detach()
            state = .detached
            return reply
        case .kill:
            target.kill()
            state = .ended
            return []   // `k` has no reply
        case .unsupported:
            return send("")
        case .malformed:
            return send("E22")
        }
    }
}
