// MMIOBusTests.swift: the MMIO bus (ranges, lookup) and the run loop's dispatch of MMIO exits and power events.

import Testing
@testable import SkiffCore
import SkiffModules
import SkiffTestSupport

/// A device that records accesses and answers reads with `offset + 1`; a write of 0xDEAD faults, 0x99 halts.
final class RecordingDevice: MMIODevice {
    var log: [String] = []
    func read(offset: UInt64, length: Int) -> UInt64 {
        log.append("r\(offset)/\(length)")
        return offset + 1
    }
    func write(offset: UInt64, length: Int, value: UInt64) throws(DeviceFault) -> MMIOWriteEffect {
        log.append("w\(offset)/\(length)=\(value)")
        if value == 0xDEAD { throw DeviceFault("device refused") }
        return value == 0x99 ? .halt(7) : .none
    }
}

@Test func busRefusesEmptyWrappingAndOverlappingRanges() {
    var bus = MMIOBus()
    let d = RecordingDevice()
    let results = [bus.add(d, at: 0x1000, size: 0x100),
                   bus.add(d, at: 0x2000, size: 0),
                   bus.add(d, at: UInt64.max - 0x10, size: 0x100),
                   bus.add(d, at: 0x10FF, size: 1),          // overlaps the last byte
                   bus.add(d, at: 0x0F00, size: 0x101),      // overlaps the first byte
                   bus.add(d, at: 0x1100, size: 0x100)]      // adjacent is fine
    #expect(results == [true, false, false, false, false, true])
    #expect(bus.regions.count == 2)
}

@Test func busLookupNeedsTheWholeAccessInsideOneDevice() {
    var bus = MMIOBus()
    let d = RecordingDevice()
    bus.add(d, at: 0x1000, size: 0x100)
    #expect(bus.device(at: 0x1000, length: 4)?.offset == 0)
    #expect(bus.device(at: 0x10FC, length: 4)?.offset == 0xFC)
    #expect(bus.device(at: 0x10FD, length: 4) == nil)   // crosses the end
    #expect(bus.device(at: 0x0FFF, length: 1) == nil)
    #expect(bus.device(at: 0x1000, length: 0) == nil)
}

@Test func runLoopServesMMIOReadsAndWritesThenHaltsOnTheDevicesRequest() throws {
    let mem = try makeGuest()
    let d = RecordingDevice()
    let vcpu = ScriptedVCPU([
        .mmio(MMIOAccess(address: 0x9000_0018, length: 4, isWrite: false)),
        .mmio(MMIOAccess(address: 0x9000_0000, length: 1, isWrite: true, value: 0x41)),
        .mmio(MMIOAccess(address: 0x9000_0004, length: 4, isWrite: true, value: 0x99)),
    ])
    var loop = RunLoop(memory: mem, vcpu: vcpu, table: HypercallTable())
    loop.mmio.add(d, at: 0x9000_0000, size: 0x1000)
    var hooked: Int32 = -1
    loop.haltHooks.append { hooked = $0.exitStatus }
    let h = try loop.run()
    #expect(h.exitStatus == 7 && h.cookie == nil && hooked == 7)
    #expect(vcpu.mmioReads == [0x19])
    #expect(d.log == ["r24/4", "w0/1=65", "w4/4=153"])
}

@Test func runLoopRefusesMMIOOutsideEveryDeviceAndReportsDeviceFaults() throws {
    let mem = try makeGuest()
    var loop = RunLoop(memory: mem, vcpu: ScriptedVCPU([.mmio(MMIOAccess(address: 0x1234_0000, length: 4, isWrite: true, value: 1))]),
                       table: HypercallTable())
    loop.mmio.add(RecordingDevice(), at: 0x9000_0000, size: 0x1000)
    #expect(throws: RunError.invalidMMIOAccess(0x1234_0000, 4)) { try loop.run() }
    #expect(RunError.invalidMMIOAccess(0x1234_0000, 4).message == "Invalid guest mmio access: mmio=0x12340000 len=4")
    var faulty = RunLoop(memory: mem, vcpu: ScriptedVCPU([.mmio(MMIOAccess(address: 0x9000_0000, length: 4, isWrite: true, value: 0xDEAD))]),
                         table: HypercallTable())
    faulty.mmio.add(RecordingDevice(), at: 0x9000_0000, size: 0x1000)
    #expect(throws: RunError.device(DeviceFault("device refused"))) { try faulty.run() }
}

@Test(arguments: [(SystemEvent.shutdown, Int32(0)), (.reset, 0), (.crash, 255)])
func runLoopEndsOnPowerEvents(_ event: SystemEvent, _ status: Int32) throws {
    let loop = RunLoop(memory: try makeGuest(), vcpu: ScriptedVCPU([.interrupted, .systemEvent(event)]), table: HypercallTable())
    #expect(try loop.run().exitStatus == status)
}
