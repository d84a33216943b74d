// HvtLayout.swift: the hvt boot protocol's memory layout: sizing, and the boot-time data at 0x10000 (spec §5), for every architecture.

import CSkiffABI
import SkiffCore

/// hvt layout constants common to every architecture. The per-architecture maps
/// (page tables, GDT) are in `SkiffArchX86_64.Layout` and `SkiffArchAArch64.Layout`.
public enum HvtLayout {
    /// `HVT_GUEST_MIN_BASE`: nothing is loaded below 1 MiB.
    public static let guestMinBase: UInt64 = 0x100000
    /// Architectural page size used for segment alignment checks.
    public static let pageSize: UInt64 = 0x1000
    /// `struct hvt_boot_info` lives here; its GPA is the entry argument.
    public static let bootInfo: UInt64 = 0x10000
    /// The manifest copy follows the 56-byte boot info directly.
    public static let manifest: UInt64 = 0x10038
    /// `HVT_CMDLINE_SIZE`, including the terminating NUL.
    public static let commandLineSize = 8192
    /// Memory is sized in 2 MiB units (the page size of the guest page tables).
    public static let memoryGranule: UInt64 = 0x200000
    /// The upper bound of guest memory (x86_64: 2048 × 2 MiB; aarch64 likewise 4 GiB).
    public static let maximumMemory: UInt64 = 4 << 30
    /// Room added on top of guest memory for the network ring when a net device is attached.
    public static let ringReservation: UInt64 = 0x200000
}

public enum MemorySizeError: Error, Equatable, Sendable {
    case tooLarge(UInt64)
    public var message: String {
        switch self {
        case .tooLarge(let b): return "guest memory size \(b) bytes exceeds the max size \(HvtLayout.maximumMemory) bytes"
        }
    }
}

/// Guest memory sizes for one run.
public struct MemorySize: Equatable, Sendable {
    /// Bytes the guest may use (`mem_size` in the boot info).
    public var guest: UInt64
    /// Bytes allocated and mapped (guest + ring, capped at 4 GiB).
    public var allocation: UInt64
    /// True if `--mem` was not a multiple of 2 MiB and was rounded down.
    public var adjusted: Bool

    /// Spec §5.1: round down to 2 MiB (at least 2 MiB), check the maximum, add the ring.
    public init(requestedBytes: UInt64, withRing: Bool) throws(MemorySizeError) {
        var m = requestedBytes & ~(HvtLayout.memoryGranule - 1)
        if m == 0 { m = HvtLayout.memoryGranule }
        adjusted = m != requestedBytes
        guard m <= HvtLayout.maximumMemory else { throw .tooLarge(m) }
        guest = m
        allocation = withRing ? min(m + HvtLayout.ringReservation, HvtLayout.maximumMemory) : m
        if withRing { guest = allocation - HvtLayout.ringReservation }
    }
}

/// The guest command line from the arguments after KERNEL (spec §4.3).
public struct CommandLineTooLong: Error, Equatable, Sendable {
    public var message: String { "Guest command line too long (max=\(HvtLayout.commandLineSize - 1) characters)" }
}

public func guestCommandLine(_ args: [String]) throws(CommandLineTooLong) -> [UInt8] {
    try guestCommandLine(args.map { Array($0.utf8) })
}

/// The same from raw argument bytes (arguments need not be UTF-8).
public func guestCommandLine(_ args: [[UInt8]]) throws(CommandLineTooLong) -> [UInt8] {
    var bytes: [UInt8] = []
    for (i, a) in args.enumerated() {
        if i > 0 { bytes.append(0x20) }
        bytes += a
    }
    guard bytes.count <= HvtLayout.commandLineSize - 1 else { throw CommandLineTooLong() }
    return bytes
}

/// Writes boot info, manifest copy and command line at 0x10000 (spec §5.3–5.4).
public struct BootInfoWriter {
    public var memSize: UInt64
    public var kernelEnd: UInt64
    public var cpuCycleFrequency: UInt64
    public var manifest: Manifest
    public var commandLine: [UInt8]
    public var hostFeatures: UInt32 = 0
    public var netRing: UInt64 = 0

    public init(memSize: UInt64, kernelEnd: UInt64, cpuCycleFrequency: UInt64, manifest: Manifest, commandLine: [UInt8]) {
        self.memSize = memSize
        self.kernelEnd = kernelEnd
        self.cpuCycleFrequency = cpuCycleFrequency
        self.manifest = manifest
        self.commandLine = commandLine
    }

    /// GPA of the command line: right after the manifest copy.
    public var commandLineAddress: UInt64 { HvtLayout.manifest + UInt64(manifest.bytes.count) }

    /// The whole block of bytes starting at `HvtLayout.bootInfo`.
    public var bytes: [UInt8] {
        var b: [UInt8] = []
        b.appendLE(memSize); b.appendLE(kernelEnd); b.appendLE(cpuCycleFrequency)
        b.appendLE(commandLineAddress); b.appendLE(HvtLayout.manifest)
        b.appendLE(hostFeatures); b.appendLE(UInt32(0)); b.appendLE(netRing)
        precondition(b.count == MemoryLayout<hvt_boot_info>.size)
        b += manifest.bytes
        b += commandLine
        b += [UInt8](repeating: 0, count: HvtLayout.commandLineSize - commandLine.count)
        return b
    }

    public func write(to memory: GuestMemory) throws(GuestAccessError) {
        try memory.write(bytes, at: GuestAddress(HvtLayout.bootInfo))
    }
}
