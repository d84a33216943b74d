// PCDevices.swift: the port-I/O devices of the x86_64 PVH machine: a 16550 UART (transmit only), the CMOS clock (read-only), an isa-debug-exit register.
//
// Ports as SkiffArchX86_64.PVHLayout places them; each device sees the offset into its own range.
// 16550: a write to THR (offset 0, DLAB ignored) is a console byte; LSR (offset 5) reads THRE | TEMT
// (0x60), so a driver polling it never waits; everything else reads 0 and ignores writes. CMOS: the
// index at offset 0, the data at offset 1: the time of day in binary 24-hour form (status B 0x06),
// never "update in progress", century in register 0x32. Debug exit: a 4-byte OUT ends the run with the
// value as the status (QEMU's isa-debug-exit makes that (value << 1) | 1; here the guest's own).

import CSkiffLinux
import SkiffCore

public final class Serial16550: MMIODevice {
    public let output: ConsoleOutput

    public init(console: Int32 = 1) { output = ConsoleOutput(fd: console) }

    public func read(offset: UInt64, length: Int) -> UInt64 { offset == 5 ? 0x60 : 0 }

    public func write(offset: UInt64, length: Int, value: UInt64) throws(DeviceFault) -> MMIOWriteEffect {
        if offset == 0 { try output.append(UInt8(truncatingIfNeeded: value)) }
        return .none
    }
}

public final class CMOSClock: MMIODevice {
    private var index: UInt8 = 0
    /// The clock's fields, read at the index write (a guest reads a consistent time, field by field).
    private var now = (second: 0, minute: 0, hour: 0, day: 1, month: 1, year: 70, century: 19)

    public init() {}

    public func read(offset: UInt64, length: Int) -> UInt64 {
        guard offset == 1 else { return UInt64(index) }
        switch index & 0x7F {
        case 0x00: return UInt64(now.second)
        case 0x02: return UInt64(now.minute)
        case 0x04: return UInt64(now.hour)
        case 0x07: return UInt64(now.day)
        case 0x08: return UInt64(now.month)
        case 0x09: return UInt64(now.year)
        case 0x32: return UInt64(now.century)
        case 0x0A: return 0x26                // no update in progress
        case 0x0B: return 0x06                // binary, 24-hour
        case 0x0D: return 0x80                // valid RAM and time
        default: return 0
        }
    }

    public func write(offset: UInt64, length: Int, value: UInt64) throws(DeviceFault) -> MMIOWriteEffect {
        if offset == 0 {
            index = UInt8(truncatingIfNeeded: value)
            if index & 0x7F == 0 { sample() }   // a read of the seconds starts a reading
        }
        return .none
    }

    /// The host's UTC time, split as the clock shows it.
    func sample() {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let t = Int(ts.tv_sec)
        let days = t / 86_400, secs = t % 86_400
        // Civil from days (proleptic Gregorian), as in Howard Hinnant's algorithm.
        let z = days + 719_468
        let era = z / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        now = (secs % 60, secs / 60 % 60, secs / 3600, day, month, year % 100, year / 100)
    }
}

public final class DebugExit: MMIODevice {
    public init() {}

    public func read(offset: UInt64, length: Int) -> UInt64 { 0 }

    public func write(offset: UInt64, length: Int, value: UInt64) throws(DeviceFault) -> MMIOWriteEffect {
        length == 4 ? .halt(Int32(truncatingIfNeeded: value)) : .none
    }
}
