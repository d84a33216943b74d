// Monitor+aarch64.swift: what the monitor's Machine needs from aarch64: the page tables, the ring kick at MMIO 0x100000100.

#if arch(arm64)
import SkiffCore
import SkiffBoot
import SkiffKVM
import SkiffModules
import SkiffArchAArch64

enum ArchGlue {
    /// L0–L3 identity tables at 0x1000–0x7FFF, with the MMIO window as a device block (spec §7.2).
    static func bootTables(allocationSize: UInt64) -> SetupImage { PageTables.image(allocationSize: allocationSize) }

    /// The net ring's kick: 4-byte stores to MMIO 0x100000100 (spec §8).
    static let ringKick = HypercallMMIO.ringKick

    /// The Linux-Image machine (VirtLayout): the in-kernel GICv3 before the vCPU.
    static func prepare(_ vm: KVMVirtualMachine, for convention: EntryConvention) throws(MonitorError) {
        do {
            try vm.createInterruptController(distributor: VirtLayout.gicDistributor, redistributor: VirtLayout.gicRedistributor,
                                             interrupts: VirtLayout.interruptCount)
        } catch { throw .backend(error) }
    }

    /// vCPU 0 at the Linux entry (PSCI in the kernel), then the GIC's initialization (it needs the vCPUs).
    static func makeVCPU(_ vm: KVMVirtualMachine, for convention: EntryConvention) throws(BackendError) -> KVMVCPU {
        guard case .linuxImage(let entry, let dtb, _) = convention else { throw BackendError("no vCPU for this boot protocol") }
        let v = try KVMVCPU(vm: vm, linuxEntry: entry, deviceTree: dtb)
        try vm.finishInterruptController()
        return v
    }

    /// The UART, the clock and the exit register at VirtLayout's addresses.
    static func platformDevices(for convention: EntryConvention) -> PlatformDevices {
        var d = PlatformDevices()
        let uart = PL011()
        d.bus.add(uart, at: VirtLayout.uart, size: VirtLayout.uartSize)
        d.bus.add(PL031(), at: VirtLayout.rtc, size: VirtLayout.rtcSize)
        d.bus.add(ExitRegister(), at: VirtLayout.exitRegister, size: VirtLayout.exitRegisterSize)
        d.console = uart.output
        return d
    }

    /// A virtio-mmio device per slot over the module's opened file or tap, wired to the slot's SPI of the
    /// in-kernel GIC (net devices start their receive thread; a fatal receive error kicks the vCPU).
    static func attach(_ slots: [DeviceSlot], to devices: inout PlatformDevices, vm: KVMVirtualMachine, ram: GuestRAM,
                       modules: ModuleSet, kick: @escaping () -> Void) throws(MonitorError) {
        for slot in slots {
            let backend: any VirtioBackend
            var net: VirtioNet? = nil
            switch slot.kind {
            case .block:
                guard let file = modules.blockBackend(named: slot.name) else { throw .setup("no backing file for device '\(slot.name)'") }
                backend = VirtioBlock(file: file)
            case .net:
                guard let tap = modules.netBackend(named: slot.name), let n = VirtioNet(tap: tap) else {
                    throw .setup("no tap for device '\(slot.name)'")
                }
                net = n
                backend = n
            }
            let spi = slot.spi
            let device = VirtioMMIODevice(backend: backend, ram: ram, interrupt: { vm.setInterruptLine(spi: spi, raised: $0) })
            guard devices.bus.add(device, at: slot.base, size: slot.size) else { throw .setup("device '\(slot.name)' overlaps another") }
            if let net {
                net.onFatal = kick
                devices.nets.append(net)
                guard net.start(transport: device) else { throw .setup("Could not start the receive thread of '\(slot.name)'") }
            }
        }
    }

    /// Upstream's aarch64 bindings abort with cookie 0; Skiff's pass their exception frame
    /// (`TrapFrame`), which the core dumper reads, but the abort line has no x86-style frame to print.
    static func trapFrame(_ cookie: GuestAddress?, in memory: GuestMemory) -> [UInt64]? { nil }

    /// The registers Skiff's exception frame at `cookie` saved (all of x0–x30, sp, pc, PSTATE).
    static func faultRegisters(cookie: GuestAddress, in memory: GuestMemory, halt: CPURegisters) -> CPURegisters? {
        TrapFrame.read(at: cookie, in: memory).map { .aarch64($0.registers) }
    }
}
#endif
