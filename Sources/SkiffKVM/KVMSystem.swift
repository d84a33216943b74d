// KVMSystem.swift: the Linux KVM backend's generic part: /dev/kvm, one VM with one memory slot, vCPU file descriptors and their kvm_run.
//
// The backend's only file with raw pointers: the `kvm_run` mapping and the
// ioctl argument structs. Exits are decoded into `VCPUExit` by the
// architecture's vCPU file (KVMVCPU+x86_64.swift); nothing of `kvm_run`
// leaves the backend.

import CSkiffLinux
import CSkiffKVM
import SkiffCore

/// Retries EINTR; returns the ioctl result or throws with the request's name.
@discardableResult
func kvmIoctl(_ fd: Int32, _ req: UInt, _ arg: UInt = 0, _ name: StaticString) throws(BackendError) -> Int32 {
    while true {
        let r = cskiff_ioctl(fd, req, arg)
        if r >= 0 { return r }
        if errno == EINTR { continue }
        throw BackendError("KVM: ioctl (\(name)) failed: \(errnoString())")
    }
}

@discardableResult
// SAFETY: callers pass `&value` of the struct the request expects; KVM copies it during the call.
func kvmIoctl(_ fd: Int32, _ req: UInt, _ ptr: UnsafeMutableRawPointer, _ name: StaticString) throws(BackendError) -> Int32 {
    while true {
        // SAFETY: `ptr` points at the argument struct the request expects, alive for the call (callers pass `&value`).
        let r = cskiff_ioctl_ptr(fd, req, ptr)
        if r >= 0 { return r }
        if errno == EINTR { continue }
        throw BackendError("KVM: ioctl (\(name)) failed: \(errnoString())")
    }
}

/// An open `/dev/kvm` and one VM on it.
public final class KVMVirtualMachine {
    public let kvmFD: Int32
    public let vmFD: Int32
    public let memory: GuestMemory
    /// The in-kernel interrupt controller's device fd (aarch64 Linux-Image machine), or -1.
    var gicFD: Int32 = -1

    /// Where `memory` starts in guest-physical space (hvt: 0; the arm64 Linux machine: 0x40000000).
    public let physicalBase: UInt64

    /// Opens /dev/kvm, checks the API, creates the VM and registers `memory` as slot 0 at `physicalBase`.
    public init(memory: GuestMemory, physicalBase: UInt64 = 0) throws(BackendError) {
        self.physicalBase = physicalBase
        let kfd = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        guard kfd >= 0 else { throw BackendError("Could not open: /dev/kvm: \(errnoString())") }
        kvmFD = kfd
        self.memory = memory
        let version = (try? kvmIoctl(kfd, CSKIFF_KVM_GET_API_VERSION, 0, "KVM_GET_API_VERSION")) ?? -1
        guard version == 12 else { close(kfd); throw BackendError("KVM: unsupported API version \(version)") }
        guard (try? kvmIoctl(kfd, CSKIFF_KVM_CHECK_EXTENSION, UInt(KVM_CAP_USER_MEMORY), "KVM_CHECK_EXTENSION")) == 1 else {
            close(kfd); throw BackendError("KVM: host does not support KVM_CAP_USER_MEMORY")
        }
        let vfd: Int32
        do { vfd = try kvmIoctl(kfd, CSKIFF_KVM_CREATE_VM, 0, "KVM_CREATE_VM") } catch { close(kfd); throw error }
        vmFD = vfd
        try prepareArchitecture()
        var region = kvm_userspace_memory_region(
            slot: 0, flags: 0, guest_phys_addr: physicalBase, memory_size: memory.allocationSize,
            userspace_addr: UInt64(memory.hostAddressForHypervisor))
        try kvmIoctl(vfd, CSKIFF_KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION")
    }

    deinit {
        if gicFD >= 0 { close(gicFD) }
        close(vmFD)
        close(kvmFD)
    }

    /// `KVM_CHECK_EXTENSION` on the VM.
    public func hasCapability(_ cap: Int32) -> Bool {
        ((try? kvmIoctl(vmFD, CSKIFF_KVM_CHECK_EXTENSION, UInt(cap), "KVM_CHECK_EXTENSION")) ?? 0) > 0
    }

    /// True if the host can signal an eventfd on a guest doorbell write (`KVM_CAP_IOEVENTFD`).
    public var supportsDoorbells: Bool { hasCapability(KVM_CAP_IOEVENTFD) }

    /// Registers `eventFD` to be signalled on a 4-byte write to `address` (`KVM_IOEVENTFD`;
    /// `flags` selects port I/O on x86).
    func registerIOEvent(address: UInt64, flags: UInt32, eventFD: Int32) throws(BackendError) {
        var ioe = kvm_ioeventfd()
        ioe.addr = address
        ioe.len = 4
        ioe.fd = eventFD
        ioe.flags = flags
        try kvmIoctl(vmFD, CSKIFF_KVM_IOEVENTFD, &ioe, "KVM_IOEVENTFD")
    }
}

/// A vCPU's file descriptor and its shared `kvm_run` page.
final class KVMRunState {
    let fd: Int32
    // SAFETY: `run` maps `size` bytes of the vCPU fd (MAP_SHARED) for the
    // lifetime of this object; KVM writes it only while KVM_RUN is in progress
    // on the owning thread; other threads and signal handlers only set
    // `immediate_exit`.
    let run: UnsafeMutablePointer<kvm_run>
    let size: Int

    init(vm: KVMVirtualMachine, id: UInt = 0) throws(BackendError) {
        fd = try kvmIoctl(vm.vmFD, CSKIFF_KVM_CREATE_VCPU, id, "KVM_CREATE_VCPU")
        let size = try kvmIoctl(vm.kvmFD, CSKIFF_KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE")
        guard let p = mmap(nil, Int(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            close(fd); throw BackendError("KVM: mmap of the vCPU failed: \(errnoString())")
        }
        self.size = Int(size)
        // SAFETY: the mapping is KVM's `struct kvm_run` for this vCPU, `size` bytes (≥ its layout).
        run = p.assumingMemoryBound(to: kvm_run.self)
    }

    deinit {
        if signalTargetRun == run { signalTargetRun = nil }
        munmap(run, size)
        close(fd)
    }

    /// One `KVM_RUN`: nil when the guest exited (read `exit`), else the errno.
    func enter() -> Int32? {
        cskiff_ioctl(fd, CSKIFF_KVM_RUN, 0) < 0 ? errno : nil
    }

    /// A copy of the exit information of the last `KVM_RUN`.
    // SAFETY: read on the vCPU thread after KVM_RUN returned: KVM is not writing it.
    var exit: kvm_run { run.pointee }
    /// The 4 bytes of an OUT exit's data.
    var ioValue: UInt32 { cskiff_run_io_u32(run) }
    /// The first 4 bytes of an MMIO exit's data.
    var mmioValue: UInt32 { cskiff_run_mmio_u32(run) }

    // SAFETY: a single byte KVM reads at entry; any thread may set it (KVM's documented use).
    func setImmediateExit(_ on: Bool) { run.pointee.immediate_exit = on ? 1 : 0 }

    /// Makes SIGINT/SIGTERM interrupt this vCPU; a signal that arrived during set-up stops the first `KVM_RUN`.
    func becomeSignalTarget() {
        signalTargetRun = run
        // SAFETY: as setImmediateExit: one byte of the live mapping.
        if pendingSignalNumber != 0 { run.pointee.immediate_exit = 1 }
    }

    /// The exits every architecture decodes alike; nil for the architecture's own.
    static func decodeCommonExit(_ r: kvm_run, memoryBase: UInt64 = 0, memorySize: UInt64, pcName: String,
                                 pc: () -> UInt64) -> VCPUExit? {
        /// A fault whose message names the program counter (`rip=0x…` / `pc=0x…`).
        func fault(_ kind: GuestFault.Kind, _ text: (_ at: String) -> String) -> VCPUExit {
            let p = pc()
            return .fault(GuestFault(kind: kind, message: "KVM: " + text("\(pcName)=\(hex(p))"), programCounter: p))
        }
        let unhandled = "unhandled exit: exit_reason=\(hex(r.exit_reason))"
        switch Int32(r.exit_reason) {
        case KVM_EXIT_MMIO:
            let a = r.mmio.phys_addr
            if a >= memoryBase, a - memoryBase < memorySize { return fault(.protection) { "host/guest translation fault: \($0)" } }
            let dir = r.mmio.is_write != 0 ? "write" : "read"
            return fault(.unexpectedMMIO) { "\(unhandled), \($0) (MMIO \(dir) at \(hex(a)) outside guest memory)" }
        case KVM_EXIT_HLT: return fault(.halted) { "\(unhandled), \($0) (HLT)" }
        case KVM_EXIT_SHUTDOWN: return fault(.shutdown) { "\(unhandled), \($0) (triple fault)" }
        case KVM_EXIT_FAIL_ENTRY:
            return .fault(GuestFault(kind: .entryFailure,
                                     message: "KVM: entry failure: hw_entry_failure_reason=\(hex(r.fail_entry.hardware_entry_failure_reason))"))
        case KVM_EXIT_INTERNAL_ERROR: return fault(.internalError) { "internal error exit: suberror=\(hex(r.internal.suberror)), \($0)" }
        case KVM_EXIT_INTR: return .interrupted
        default: return nil
        }
    }

    /// A `KVM_RUN` failure: interrupted, a protection fault (hardware KVM's EFAULT), or a backend error.
    func decodeRunError(_ e: Int32, pcName: String, pc: () -> UInt64) throws(BackendError) -> VCPUExit {
        switch e {
        case EINTR, EAGAIN:
            setImmediateExit(false)
            return .interrupted
        case EFAULT:
            let p = pc()
            return .fault(GuestFault(kind: .protection, message: "KVM: host/guest translation fault: \(pcName)=\(hex(p))", programCounter: p))
        default:
            throw BackendError("KVM: ioctl (KVM_RUN) failed: \(errnoString(e))")
        }
    }

    /// The fault for an exit nobody decoded.
    static func unhandled(_ r: kvm_run, pcName: String, pc: UInt64) -> VCPUExit {
        .fault(GuestFault(kind: .unhandled, message: "KVM: unhandled exit: exit_reason=\(hex(r.exit_reason)), \(pcName)=\(hex(pc))",
                          programCounter: pc))
    }
}

/// What every architecture's vCPU has: its kvm_run, the thread that runs it, the decode limits.
/// `KVMVCPU` (KVMVCPU+ARCH.swift) adds the architecture's state and exit decoding.
public class KVMVCPUBase {
    let state: KVMRunState
    let thread = VCPUThread()
    let memorySize: UInt64
    let memoryBase: UInt64
    /// Guest memory, for the debugging paths that read guest tables (KVMVCPU+debug_ARCH.swift).
    let guestMemory: GuestMemory
    /// The VM's fd, for the capability questions only a debugger asks (the VM outlives every run of its vCPU).
    private let vmFD: Int32
    /// Hardware breakpoints and watchpoints KVM offers a debugger (arm64: KVM_CAP_GUEST_DEBUG_HW_BPS/WPS);
    /// asked on first use, so a run without a debugger makes no such ioctls.
    lazy var debugSlots: (breakpoints: Int, watchpoints: Int) = (capability(KVM_CAP_GUEST_DEBUG_HW_BPS),
                                                                  capability(KVM_CAP_GUEST_DEBUG_HW_WPS))
    /// Ports whose 4-byte OUTs are ignored (x86's benchmark floor; unused elsewhere).
    public var ignoredPorts: [UInt32] = []
    /// Hypercall numbers decoded: hvt's, or more when an extension is offered.
    public var hypercallLimit: UInt32 = Hypercall.limit

    init(vm: KVMVirtualMachine) throws(BackendError) {
        memorySize = vm.memory.allocationSize
        memoryBase = vm.physicalBase
        guestMemory = vm.memory
        vmFD = vm.vmFD
        state = try KVMRunState(vm: vm)
    }

    /// `KVM_CHECK_EXTENSION` on the VM: the capability's value (0 when absent).
    private func capability(_ cap: Int32) -> Int {
        Int((try? kvmIoctl(vmFD, CSKIFF_KVM_CHECK_EXTENSION, UInt(cap), "KVM_CHECK_EXTENSION")) ?? 0)
    }

    /// Makes SIGINT/SIGTERM interrupt this vCPU; call on the thread that runs it.
    public func becomeSignalTarget() {
        thread.claim()
        state.becomeSignalTarget()
    }

    /// Forces the running `KVM_RUN` to return (from another thread).
    public func kick() {
        state.setImmediateExit(true)
        thread.kick()
    }
}
