// Sandbox.swift: confine the monitor with a seccomp-BPF allow-list derived from the run's configuration.
//
// Installed after the VM, its devices and any I/O thread exist and before the
// guest's first instruction. A forbidden system call kills the whole process
// with SIGSYS (status 159 in a shell).

import CSkiffLinux
import SkiffHost

/// The system calls a run needs: the run loop's and the runtime's, plus what the modules ask for.
public struct SandboxPolicy: Equatable, Sendable {
    /// The allowed system call numbers, sorted, without duplicates.
    public var syscalls: [Int32]

    /// The run loop's and runtime's calls plus `moduleSyscalls` (from `MonitorModule.syscalls`).
    public init(moduleSyscalls: [Int]) {
        var s: [Int32] = [
            SYS_ioctl,          // KVM_RUN, KVM_GET_REGS (diagnostics)
            SYS_write,          // diagnostics
            SYS_exit_group, SYS_exit,
            SYS_rt_sigreturn, SYS_rt_sigprocmask,  // termination signals
            SYS_futex,          // Swift runtime locks
            SYS_sched_yield,    // HostLock (device models shared with an I/O thread)
            SYS_mmap, SYS_munmap, SYS_mremap, SYS_madvise, SYS_brk, SYS_mprotect,  // allocator
            SYS_close,
            SYS_getpid, SYS_gettid, SYS_tgkill,  // abort() on a runtime trap (glibc)
            SYS_tkill,          // musl: pthread_kill (the I/O thread kicks the vCPU) and raise()
        ]
        for n in moduleSyscalls.map({ Int32($0) }) where !s.contains(n) { s.append(n) }
        syscalls = s
    }

    /// The BPF program: check the architecture, allow the listed numbers, kill otherwise.
    public var program: [sock_filter] {
        func stmt(_ code: Int32, _ k: UInt32) -> sock_filter { sock_filter(code: UInt16(code), jt: 0, jf: 0, k: k) }
        func jump(_ code: Int32, _ k: UInt32, _ jt: UInt8, _ jf: UInt8) -> sock_filter {
            sock_filter(code: UInt16(code), jt: jt, jf: jf, k: k)
        }
        #if arch(x86_64)
        let arch = CSKIFF_AUDIT_ARCH_X86_64
        #else
        let arch = CSKIFF_AUDIT_ARCH_AARCH64
        #endif
        let kill = UInt32(SECCOMP_RET_KILL_PROCESS)
        let allow = UInt32(SECCOMP_RET_ALLOW)
        var p: [sock_filter] = [
            stmt(BPF_LD | BPF_W | BPF_ABS, 4),            // seccomp_data.arch
            jump(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
            stmt(BPF_RET | BPF_K, kill),
            stmt(BPF_LD | BPF_W | BPF_ABS, 0),            // seccomp_data.nr
        ]
        for (i, nr) in syscalls.enumerated() {
            // On a match jump to the final ALLOW: skip the remaining tests and the KILL.
            let remaining = UInt8(syscalls.count - i - 1)
            p.append(jump(BPF_JMP | BPF_JEQ | BPF_K, UInt32(nr), remaining + 1, 0))
        }
        p.append(stmt(BPF_RET | BPF_K, kill))
        p.append(stmt(BPF_RET | BPF_K, allow))
        return p
    }

    /// Installs the filter for every thread of the process (`PR_SET_NO_NEW_PRIVS`, TSYNC).
    public func install() -> Bool { Host.installSeccomp(program) }
}
