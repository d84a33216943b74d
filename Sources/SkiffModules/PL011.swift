// PL011.swift: the simple platform devices of the arm64 Linux-Image machine: PL011 UART (transmit only, line-buffered to stdout), PL031 clock, exit register.
//
// ARM PrimeCell UART (PL011) TRM: UARTDR at 0x000 (a write sends a byte), UARTFR at 0x018 (TXFE and
// RXFE set, never busy or full: output is taken at once), the peripheral and PrimeCell ID registers
// at 0xFE0-0xFFC (Linux's AMBA bus matches them). Everything else reads 0 and ignores writes; no
// input, no interrupts. Bytes are written to the console per line (or per 4 KiB), and at `flush()`.

import SkiffCore
import SkiffHost

public final class PL011: MMIODevice {
    static let dataRegister: UInt64 = 0x000, flagRegister: UInt64 = 0x018
    /// UARTFR: TXFE (bit 7) | RXFE (bit 4).
    static let flags: UInt64 = 0x90
    /// UARTPeriphID0-3, UARTPCellID0-3 (0xFE0-0xFFC).
    static let identification: [UInt8] = [0x11, 0x10, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1]

    public let output: ConsoleOutput

    public init(console: Int32 = 1) { output = ConsoleOutput(fd: console) }

    public func read(offset: UInt64, length: Int) -> UInt64 {
        switch offset {
        case Self.flagRegister: return Self.flags
        case 0xFE0...0xFFC where offset % 4 == 0: return UInt64(Self.identification[Int((offset - 0xFE0) / 4)])
        default: return 0
        }
    }

    public func write(offset: UInt64, length: Int, value: UInt64) throws(DeviceFault) -> MMIOWriteEffect {
        if offset == Self.dataRegister { try output.append(UInt8(truncatingIfNeeded: value)) }
        return .none
    }

    /// Writes what is buffered to the console.
    public func flush() throws(DeviceFault) { try output.flush() }
}

/// A UART's output: bytes written to the console per line (or per 4 KiB), and at `flush()`.
public final class ConsoleOutput {
    static let lineLimit = 4096
    let fd: Int32
    private var pending: [UInt8] = []

    public init(fd: Int32) { self.fd = fd }

    public func append(_ byte: UInt8) throws(DeviceFault) {
        pending.append(byte)
        if byte == 0x0A || pending.count >= Self.lineLimit { try flush() }
    }

    public func flush() throws(DeviceFault) {
        guard !pending.isEmpty else { return }
        defer { pending.removeAll(keepingCapacity: true) }
        if !Host.writeAll(fd, pending) {
            throw DeviceFault("Fatal error when writing to the console: \(errnoString())")
        }
    }
}

/// Skiff's exit register (`compatible = "skiff,exit-status"` in the device tree): a 32-bit store of the
/// guest's exit status at offset 0 ends the run with it (a guest without semihosting's SYS_EXIT).
public final class ExitRegister: MMIODevice {
    public init() {}

    public func read(offset: UInt64, length: Int) -> UInt64 { 0 }

    public func write(offset: UInt64, length: Int, value: UInt64) throws(DeviceFault) -> MMIOWriteEffect {
        guard offset == 0, length == 4 else { return .none }
        return .halt(Int32(truncatingIfNeeded: value))
    }
}

/// The PL031 real-time clock (read-only): RTCDR at 0x000 is the host's wall clock in whole seconds,
/// RTCCR at 0x00C reads 1 (running), the ID registers as PL031's; writes are ignored (the guest cannot
/// set the host's clock). No interrupts.
public final class PL031: MMIODevice {
    static let identification: [UInt8] = [0x31, 0x10, 0x04, 0x00, 0x0D, 0xF0, 0x05, 0xB1]

    public init() {}

    public func read(offset: UInt64, length: Int) -> UInt64 {
        switch offset {
        case 0x000:
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            return UInt64(UInt32(truncatingIfNeeded: ts.tv_sec))
        case 0x00C: return 1
        case 0xFE0...0xFFC where offset % 4 == 0: return UInt64(Self.identification[Int((offset - 0xFE0) / 4)])
        default: return 0
        }
    }

    public func write(offset: UInt64, length: Int, value: UInt64) throws(DeviceFault) -> MMIOWriteEffect { .none }
}
