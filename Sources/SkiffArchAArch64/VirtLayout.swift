// VirtLayout.swift: the arm64 machine skiff-hvt builds for Linux `Image`s: QEMU virt's memory map, every address and interrupt in one place.
//
//   GPA
//   0x0800_0000  GICv3 distributor (64 KiB)      0x080A_0000  GICv3 redistributor, vCPU 0 (128 KiB)
//   0x0900_0000  PL011 UART (4 KiB, SPI 1)       0x0901_0000  PL031 RTC (4 KiB, SPI 2)
//   0x090F_0000  Skiff exit register (4 KiB; QEMU virt has none)
//   0x0A00_0000  virtio-mmio slots (0x200 each, SPI 16 + n)
//   0x4000_0000  RAM (--mem): the device tree at its start, the Image at RAM + text_offset
//
// The addresses are QEMU virt's, so images built for QEMU's `virt` machine (Skiff's `--platform virt`,
// which links at 0x40200000) find the same hardware under skiff-hvt, described by the device tree the
// monitor writes (SkiffBoot/LinuxArm64Boot.swift; docs/boot-aarch64-linux.md).

public enum VirtLayout {
    public static let ramBase: UInt64 = 0x4000_0000
    public static let gicDistributor: UInt64 = 0x0800_0000, gicDistributorSize: UInt64 = 0x1_0000
    public static let gicRedistributor: UInt64 = 0x080A_0000, gicRedistributorSize: UInt64 = 0x2_0000
    public static let uart: UInt64 = 0x0900_0000, uartSize: UInt64 = 0x1000
    /// The UART's shared peripheral interrupt (GIC INTID 32 + 1).
    public static let uartSPI: UInt32 = 1
    public static let rtc: UInt64 = 0x0901_0000, rtcSize: UInt64 = 0x1000
    public static let rtcSPI: UInt32 = 2
    public static let exitRegister: UInt64 = 0x090F_0000, exitRegisterSize: UInt64 = 0x1000
    public static let virtioBase: UInt64 = 0x0A00_0000, virtioStride: UInt64 = 0x200
    public static let virtioFirstSPI: UInt32 = 16
    /// Interrupts the GIC is configured for (SGIs, PPIs and 96 SPIs).
    public static let interruptCount: UInt32 = 128
    /// The architected timer's PPIs as the device tree lists them: secure, non-secure, virtual, hypervisor.
    public static let timerPPIs: [UInt32] = [13, 14, 11, 10]
    /// PSTATE at entry: EL1h with D, A, I, F masked (Linux arm64 booting.rst).
    public static let entryPSTATE: UInt64 = 0x3C5
    /// Where in RAM the Image goes when its header's text_offset is 0 (pre-3.17 kernels: 0x80000).
    public static let defaultTextOffset: UInt64 = 0x8_0000
    /// The Image's base must be 2 MiB aligned (text_offset is added to it).
    public static let imageAlignment: UInt64 = 0x20_0000
    /// Device trees larger than this are refused by Linux (booting.rst).
    public static let maximumDeviceTree = 0x20_0000
}
