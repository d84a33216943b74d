// KVM.swift: the Linux KVM backend: /dev/kvm, one VM with one memory slot, and the x86_64 vCPU.
//
// One of the few files with raw pointers: the `kvm_run` mapping and the ioctl
// argument structs. Exits are decoded into `VCPUExit` here and nothing of
// `kvm_run` leaves this file.

#if os(Linux)
import Glibc
import CSkiffLinux
import SkiffCore
import SkiffX86_64

func errnoString(_ e: Int32 = errno) -> String { String(cString: strerror(e)) }

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
func kvmIoctl(_ fd: Int32, _ req: UInt, _ ptr: UnsafeMutableRawPointer, _ name: StaticString) throws(BackendError) -> Int32 {
    while true {
        let r = cskiff_ioctl_ptr(fd, req, ptr)
        if r >= 0 { return r }
        if errno == EINTR { continue }
        throw BackendError("KVM: ioctl (\(name)) failed: \(errnoString())")
    }
}

/// The pending termination signal, set by the signal handler (0 = none).
nonisolated(unsafe) var pendingSignalNumber: Int32 = 0
/// The running vCPU's `kvm_run`, so the signal handler can set `immediate_exit`.
nonisolated(unsafe) var signalTargetRun: UnsafeMutablePointer<kvm_run>? = nil

/// An open `/dev/kvm` and one VM on it.
public final class KVMVirtualMachine {
    public let kvmFD: Int32
    public let vmFD: Int32
    public let memory: GuestMemory

    /// Opens /dev/kvm, checks the API, creates the VM and registers `memory` as slot 0 at GPA 0.
    public init(memory: GuestMemory) throws(BackendError) {
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
        #if arch(x86_64)
        try kvmIoctl(vfd, CSKIFF_KVM_SET_TSS_ADDR, 0xfffb_d000, "KVM_SET_TSS_ADDR")
        #endif
        var region = kvm_userspace_memory_region(
            slot: 0, flags: 0, guest_phys_addr: 0, memory_size: memory.allocationSize,
            userspace_addr: UInt64(memory.hostAddressForHypervisor))
        try kvmIoctl(vfd, CSKIFF_KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION")
    }

    deinit {
        close(vmFD)
        close(kvmFD)
    }

    /// `KVM_CHECK_EXTENSION` on the VM.
    public func hasCapability(_ cap: Int32) -> Bool {
        ((try? kvmIoctl(vmFD, CSKIFF_KVM_CHECK_EXTENSION, UInt(cap), "KVM_CHECK_EXTENSION")) ?? 0) > 0
    }

    /// TSC frequency in Hz (spec §6.5). The corresponding ioctl is `KVM_GET_TSC_KHZ`.
    public func tscFrequency() throws(BackendError) -> UInt64 {
        guard hasCapability(KVM_CAP_GET_TSC_KHZ) else {
            throw BackendError("KVM: host does not support KVM_CAP_GET_TSC_KHZ")
        }
        let r = cskiff_ioctl(vmFD, CSKIFF_KVM_GET_TSC_KHZ, 0)
        if r < 0 && errno == EIO { throw BackendError("KVM: host TSC is unstable, cannot continue") }
        guard r > 0 else { throw BackendError("KVM: ioctl (KVM_GET_TSC_KHZ) failed: \(errnoString())") }
        return UInt64(r) * 1000
    }

    /// Registers `eventFD` to be signalled on a 4-byte write to I/O port `port` (`KVM_IOEVENTFD`).
    public func registerPortEvent(port: UInt64, eventFD: Int32) throws(BackendError) {
        var ioe = kvm_ioeventfd()
        ioe.addr = port
        ioe.len = 4
        ioe.fd = eventFD
        ioe.flags = UInt32(CSKIFF_KVM_IOEVENTFD_FLAG_PIO)
        try kvmIoctl(vmFD, CSKIFF_KVM_IOEVENTFD, &ioe, "KVM_IOEVENTFD")
    }

    /// Creates vCPU 0 in the x86_64 boot state.
    public func makeX86VCPU(state: BootCPUState) throws(BackendError) -> KVMX86VCPU {
        try KVMX86VCPU(vm: self, state: state)
    }
}

/// Installs SIGINT/SIGTERM handlers that stop `KVM_RUN` (via `immediate_exit`) and record the signal.
public func installTerminationHandlers() {
    var sa = sigaction()
    sa.__sigaction_handler.sa_handler = { sig in
        pendingSignalNumber = sig
        if let run = signalTargetRun { run.pointee.immediate_exit = 1 }
    }
    sigemptyset(&sa.sa_mask)
    sa.sa_flags = 0  // no SA_RESTART: KVM_RUN must return EINTR
    sigaction(SIGINT, &sa, nil)
    sigaction(SIGTERM, &sa, nil)
    // SIGUSR1 only interrupts KVM_RUN (sent by `KVMX86VCPU.kick` from I/O threads).
    var kick = sigaction()
    kick.__sigaction_handler.sa_handler = { _ in
        if let run = signalTargetRun { run.pointee.immediate_exit = 1 }
    }
    sigemptyset(&kick.sa_mask)
    kick.sa_flags = 0
    sigaction(SIGUSR1, &kick, nil)
}

/// The termination signal received so far, if any.
public func pendingTerminationSignal() -> Int32? { pendingSignalNumber == 0 ? nil : pendingSignalNumber }

/// vCPU 0 of an x86_64 KVM VM.
public final class KVMX86VCPU: VirtualCPU {
    let fd: Int32
    // SAFETY: `run` maps `runSize` bytes of the vCPU fd (MAP_SHARED) for the
    // lifetime of this object; KVM writes it only while KVM_RUN is in progress
    // on this thread.
    let runState: UnsafeMutablePointer<kvm_run>
    let runSize: Int
    let memorySize: UInt64
    public let programCounterName = "rip"
    /// Ports whose 4-byte OUTs are ignored (benchmark floor).
    public var ignoredPorts: [UInt32] = []
    /// Hypercall numbers decoded from ports 0x500 + n: hvt's, or more when an extension is offered.
    public var hypercallLimit: UInt32 = Hypercall.limit

    init(vm: KVMVirtualMachine, state: BootCPUState) throws(BackendError) {
        memorySize = vm.memory.allocationSize
        fd = try kvmIoctl(vm.vmFD, CSKIFF_KVM_CREATE_VCPU, 0, "KVM_CREATE_VCPU")
        let size = try kvmIoctl(vm.kvmFD, CSKIFF_KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE")
        guard let p = mmap(nil, Int(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            close(fd); throw BackendError("KVM: mmap of the vCPU failed: \(errnoString())")
        }
        runSize = Int(size)
        runState = p.assumingMemoryBound(to: kvm_run.self)
        try setCPUID(vm: vm)
        try setState(state)
    }

    deinit {
        if signalTargetRun == runState { signalTargetRun = nil }
        munmap(runState, runSize)
        close(fd)
    }

    /// Installs KVM's supported CPUID table unmodified (spec §6.4).
    private func setCPUID(vm: KVMVirtualMachine) throws(BackendError) {
        let n = 100
        let bytes = MemoryLayout<kvm_cpuid2>.size + n * MemoryLayout<kvm_cpuid_entry2>.stride
        let buf = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 8)
        defer { buf.deallocate() }
        memset(buf, 0, bytes)
        buf.assumingMemoryBound(to: kvm_cpuid2.self).pointee.nent = UInt32(n)
        try kvmIoctl(vm.kvmFD, CSKIFF_KVM_GET_SUPPORTED_CPUID, buf, "GET_SUPPORTED_CPUID")
        try kvmIoctl(fd, CSKIFF_KVM_SET_CPUID2, buf, "SET_CPUID2")
    }

    private func setState(_ s: BootCPUState) throws(BackendError) {
        var sregs = kvm_sregs()
        try kvmIoctl(fd, CSKIFF_KVM_GET_SREGS, &sregs, "KVM_GET_SREGS")
        func seg(_ g: Segment) -> kvm_segment {
            var k = kvm_segment()
            k.base = g.base; k.limit = g.limit; k.selector = g.selector; k.type = g.type
            k.present = g.present ? 1 : 0; k.dpl = g.dpl; k.db = g.db ? 1 : 0; k.s = g.s ? 1 : 0
            k.l = g.l ? 1 : 0; k.g = g.g ? 1 : 0; k.unusable = g.unusable ? 1 : 0
            return k
        }
        sregs.cs = seg(s.cs)
        sregs.ds = seg(s.data); sregs.es = seg(s.data); sregs.fs = seg(s.data)
        sregs.gs = seg(s.data); sregs.ss = seg(s.data)
        sregs.tr = seg(s.tr)
        sregs.ldt.unusable = 1
        sregs.gdt.base = s.gdtBase; sregs.gdt.limit = s.gdtLimit
        sregs.idt.base = 0; sregs.idt.limit = 0
        sregs.cr0 = s.cr0; sregs.cr3 = s.cr3; sregs.cr4 = s.cr4; sregs.efer = s.efer
        sregs.cr2 = 0; sregs.cr8 = 0
        try kvmIoctl(fd, CSKIFF_KVM_SET_SREGS, &sregs, "KVM_SET_SREGS")
        var regs = kvm_regs()
        regs.rip = s.rip; regs.rsp = s.rsp; regs.rdi = s.rdi; regs.rflags = s.rflags
        try kvmIoctl(fd, CSKIFF_KVM_SET_REGS, &regs, "KVM_SET_REGS")
    }

    public func programCounter() -> UInt64 {
        var regs = kvm_regs()
        guard cskiff_ioctl_ptr(fd, CSKIFF_KVM_GET_REGS, &regs) == 0 else { return 0 }
        return regs.rip
    }

    private var ownerThread = pthread_self()

    /// Makes SIGINT/SIGTERM interrupt this vCPU; call on the thread that runs it.
    public func becomeSignalTarget() {
        ownerThread = pthread_self()
        signalTargetRun = runState
        // A signal that arrived during set-up (before there was a target) still
        // stops the first KVM_RUN: the handler sets immediate_exit from now on,
        // and this covers the ones recorded before.
        if pendingSignalNumber != 0 { runState.pointee.immediate_exit = 1 }
    }

    /// Forces the running `KVM_RUN` to return (from another thread).
    public func kick() {
        runState.pointee.immediate_exit = 1
        pthread_kill(ownerThread, SIGUSR1)
    }

    public func run() throws(BackendError) -> VCPUExit {
        if cskiff_ioctl(fd, CSKIFF_KVM_RUN, 0) < 0 {
            let e = errno
            switch e {
            case EINTR, EAGAIN:
                runState.pointee.immediate_exit = 0
                return .interrupted
            case EFAULT:
                return .protectionFault(address: nil)
            default:
                throw BackendError("KVM: ioctl (KVM_RUN) failed: \(errnoString(e))")
            }
        }
        let r = runState.pointee
        switch Int32(r.exit_reason) {
        case KVM_EXIT_IO:
            let io = r.io
            let port = UInt32(io.port)
            let isOut = io.direction == UInt8(KVM_EXIT_IO_OUT)
            if isOut, io.size == 4, !ignoredPorts.isEmpty, ignoredPorts.contains(port) { return .ignored }
            guard isOut, io.size == 4, io.count == 1,
                  port >= HypercallPorts.base, port < HypercallPorts.base + hypercallLimit else {
                return .invalidPortAccess(port: port, size: Int(io.size), isWrite: isOut)
            }
            let value = UnsafeRawPointer(cskiff_run_io_data(runState)).loadUnaligned(as: UInt32.self)
            return .hypercall(number: port - HypercallPorts.base, argument: GuestAddress(UInt64(value)))
        case KVM_EXIT_MMIO:
            let a = r.mmio.phys_addr
            if a < memorySize { return .protectionFault(address: a) }
            return .mmio(address: a, isWrite: r.mmio.is_write != 0)
        case KVM_EXIT_HLT: return .hlt
        case KVM_EXIT_SHUTDOWN: return .shutdown
        case KVM_EXIT_FAIL_ENTRY: return .failedEntry(reason: r.fail_entry.hardware_entry_failure_reason)
        case KVM_EXIT_INTERNAL_ERROR: return .internalError(suberror: r.internal.suberror)
        case KVM_EXIT_INTR: return .interrupted
        default: return .unhandled(reason: r.exit_reason)
        }
    }
}

/// x86_64 hypercall transport: hypercall N is a 4-byte OUT to port 0x500 + N.
public enum HypercallPorts {
    public static let base: UInt32 = 0x500
    public static let ringKick: UInt32 = 0x600
}
#endif
