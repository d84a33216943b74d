/*
 * CSkiffLinux.h: the Linux system interface (libc, tun, seccomp) the Swift monitor cannot import directly.
 *
 * ioctl is variadic and request numbers are function-like macros (_IOW...),
 * so both are re-exported here as plain functions and constants. Architecture-
 * independent: it compiles against x86_64 and arm64 Linux headers. KVM's
 * interface is in CSkiffKVM.
 */
#ifndef CSKIFF_LINUX_H
#define CSKIFF_LINUX_H
#include <poll.h>

#include <linux/if_tun.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/audit.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
/* The rest of the C library the tender uses: in Embedded Swift builds this
 * module is how Swift sees libc (there is no Glibc/Musl overlay there). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* What an overlay would add: errno (a macro), open (variadic), MAP_FAILED (a cast), sigaction's handler (a union). */
static inline int cskiff_errno(void) { return errno; }
static inline void cskiff_set_errno(int e) { errno = e; }
static inline int cskiff_open(const char *path, int flags, unsigned int mode) { return open(path, flags, mode); }
static inline int cskiff_openat(int dirfd, const char *path, int flags, unsigned int mode) { return openat(dirfd, path, flags, mode); }
static inline void *cskiff_map_failed(void) { return MAP_FAILED; }
/* Installs `handler` for `sig` with `flags` (e.g. SA_RESTART) and an empty mask; saves the old action in `old` if given. */
static inline int cskiff_set_signal(int sig, void (*handler)(int), int flags, struct sigaction *old) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, old);
}
static inline __attribute__((noreturn)) void cskiff_exit(int status) { exit(status); }
/* File types from st_mode (the S_IF* constants import with different types per libc). */
static inline int cskiff_is_regular(unsigned int mode) { return S_ISREG(mode); }
static inline int cskiff_is_directory(unsigned int mode) { return S_ISDIR(mode); }
/* Threads: pthread_t is an integer in glibc and a pointer in musl; Swift sees only this struct. */
typedef struct { pthread_t id; } cskiff_thread;
/* The new thread starts with every signal blocked, so SIGINT/SIGTERM (and the SIGUSR1 kick) always reach the
 * vCPU thread, whose KVM_RUN they must interrupt; an I/O thread would only set immediate_exit for later. */
static inline int cskiff_thread_create(cskiff_thread *t, void *(*fn)(void *), void *arg) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int r = pthread_create(&t->id, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}
static inline int cskiff_thread_join(cskiff_thread t) { return pthread_join(t.id, NULL); }
static inline cskiff_thread cskiff_thread_self(void) { cskiff_thread t = { pthread_self() }; return t; }
static inline int cskiff_thread_kill(cskiff_thread t, int sig) { return pthread_kill(t.id, sig); }
/* socket(2) types are an enum in glibc and macros in musl. */
static const int CSKIFF_SOCK_DGRAM_CLOEXEC = SOCK_DGRAM | SOCK_CLOEXEC;
static inline void cskiff_ignore_signal(int sig) { signal(sig, SIG_IGN); }
extern char **environ;
static inline char **cskiff_environ(void) { return environ; }

static inline int cskiff_ioctl(int fd, unsigned long req, unsigned long arg) {
    return ioctl(fd, req, arg);
}
static inline int cskiff_ioctl_ptr(int fd, unsigned long req, void *arg) {
    return ioctl(fd, req, arg);
}

/* read/write/pread/pwrite by names that no Swift method shadows (GuestMemory has its own read/write). */
static inline long cskiff_read(int fd, void *buf, unsigned long n) { return read(fd, buf, n); }
static inline long cskiff_write(int fd, const void *buf, unsigned long n) { return write(fd, buf, n); }
static inline long cskiff_pread(int fd, void *buf, unsigned long n, long off) { return pread(fd, buf, n, off); }
static inline long cskiff_pwrite(int fd, const void *buf, unsigned long n, long off) { return pwrite(fd, buf, n, off); }
/* 1 if the n bytes at p are all zero: 64-byte blocks OR-ed word by word (musl's memcmp goes a byte
 * at a time; this vectorises), then the tail. */
static inline int cskiff_is_zero(const void *p, unsigned long n) {
    const unsigned char *b = (const unsigned char *)p;
    unsigned long i = 0;
    for (; i + 64 <= n; i += 64) {
        uint64_t w[8], acc = 0;
        __builtin_memcpy(w, b + i, 64);
        for (int k = 0; k < 8; k++) acc |= w[k];
        if (acc) return 0;
    }
    for (; i < n; i++) if (b[i]) return 0;
    return 1;
}

static const unsigned long CSKIFF_TUNSETIFF = TUNSETIFF;
static const unsigned long CSKIFF_SIOCGIFMTU = SIOCGIFMTU;
static const unsigned long CSKIFF_SIOCGIFFLAGS = SIOCGIFFLAGS;

/* struct ifreq has unions Swift imports awkwardly: small helpers. */
static inline void cskiff_ifreq_set_name(struct ifreq *ifr, const char *name) {
    memset(ifr, 0, sizeof(*ifr));
    strncpy(ifr->ifr_name, name, IFNAMSIZ - 1);
}
static inline void cskiff_ifreq_set_flags(struct ifreq *ifr, short flags) { ifr->ifr_flags = flags; }
static inline short cskiff_ifreq_flags(const struct ifreq *ifr) { return ifr->ifr_flags; }
static inline int cskiff_ifreq_mtu(const struct ifreq *ifr) { return ifr->ifr_mtu; }
static inline const char *cskiff_ifreq_name(const struct ifreq *ifr) { return ifr->ifr_name; }

/* Starts args[0] (a path) with args and this process's environment, as posix_spawn would, but the child is killed
 * (SIGKILL) when its parent dies, even of SIGKILL: PR_SET_PDEATHSIG can only be set by the child itself,
 * between fork and exec, which posix_spawn has no hook for. `args` is `len` bytes of NUL-terminated
 * strings, one after the other (so Swift passes a byte array, no pointers). If the parent died before
 * the prctl (getppid() is no longer it), the child exits 127 without running anything. Bit i of
 * `devnull_fds` (i = 0, 1, 2) makes fd i /dev/null (read for 0, write else). Returns the child's pid,
 * or -errno: fork's, or the child's (prctl, open, exec) sent back through a close-on-exec pipe, the
 * child then reaped. Between fork and exec the child calls only async-signal-safe functions. The
 * death signal follows the calling thread: call it from the thread that waits for the child. */
static inline pid_t cskiff_spawn_dying_with_parent(const char *args, size_t len, int devnull_fds) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += args[i] == 0;
    if (n == 0 || args[len - 1] != 0) return -EINVAL;
    char **argv = malloc((n + 1) * sizeof *argv);
    if (!argv) return -ENOMEM;
    for (size_t i = 0, k = 0; k < n; i += strlen(args + i) + 1) argv[k++] = (char *)(args + i);
    argv[n] = NULL;
    int p[2];
    if (pipe(p) != 0) { int e = errno; free(argv); return -e; }
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        int e = 0;
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) e = errno;
        else if (getppid() != parent) _exit(127);
        for (int fd = 0; fd < 3 && e == 0; fd++) {
            if (!(devnull_fds & (1 << fd))) continue;
            int null = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
            if (null < 0) e = errno;
            else if (null != fd) {
                if (dup2(null, fd) < 0) e = errno;
                close(null);
            }
        }
        if (e == 0) {
            execve(argv[0], argv, environ);
            e = errno;
        }
        while (write(p[1], &e, sizeof e) < 0 && errno == EINTR) {}
        _exit(127);
    }
    int e = pid < 0 ? errno : 0;
    free(argv);
    close(p[1]);
    if (pid < 0) { close(p[0]); return -e; }
    ssize_t got;
    while ((got = read(p[0], &e, sizeof e)) < 0 && errno == EINTR) {}
    close(p[0]);
    if (got == (ssize_t)sizeof e) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        return -e;
    }
    return pid;
}

#include <sys/random.h>
static inline long cskiff_getrandom(void *buf, unsigned long n) { return getrandom(buf, n, 0); }

/* ppoll is a GNU extension: <poll.h> declares it only with _GNU_SOURCE, which
 * must not be defined here (it changes glibc's types, e.g. fd_set, and the
 * module then conflicts with SwiftGlibc). Declare it as glibc does. */
extern int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout, const sigset_t *sigmask);
static inline int cskiff_ppoll(struct pollfd *fds, unsigned long n, const struct timespec *ts) {
    return ppoll(fds, (nfds_t)n, ts, NULL);
}

/* The host's page size (mprotect granularity; _SC_PAGESIZE is an enum in glibc, a macro in musl). */
static inline long cskiff_page_size(void) { return sysconf(_SC_PAGESIZE); }
/* Makes instructions written to [p, p+n) visible to instruction fetch (a debugger's breakpoint;
 * a no-op on x86, DC CVAU + IC IVAU on arm64). */
static inline void cskiff_sync_icache_range(void *p, unsigned long n) {
    __builtin___clear_cache((char *)p, (char *)p + n);
}

/* TCP for the gdb stub: a socket listening on 127.0.0.1:port (SO_REUSEADDR, close-on-exec, backlog 1),
 * or -1 with errno set. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
static inline int cskiff_tcp_listen_loopback(unsigned short port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}
/* One connection from a listening socket (close-on-exec, TCP_NODELAY: the remote protocol is
 * request/reply, small packets), or -1 with errno set (EINTR included: the caller decides). */
static inline int cskiff_tcp_accept(int listener) {
    int fd = accept(listener, NULL, NULL);   /* accept4 is a GNU extension (see ppoll below) */
    if (fd < 0) return -1;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}
/* The port a listening socket is bound to (after port 0: the kernel's choice), or -1. */
static inline int cskiff_tcp_local_port(int fd) {
    struct sockaddr_in a;
    socklen_t n = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &n) != 0) return -1;
    return ntohs(a.sin_port);
}

/* Atomics on guest-shared memory (the net ring), which Swift cannot express on raw pointers. */
static inline uint32_t cskiff_load_acquire_u32(const void *p) { return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE); }
static inline void cskiff_store_release_u32(void *p, uint32_t v) { __atomic_store_n((uint32_t *)p, v, __ATOMIC_RELEASE); }
static inline void cskiff_full_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void cskiff_cpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* seccomp: install a prepared BPF program. */
static inline int cskiff_seccomp_install(struct sock_filter *filter, unsigned short len, int tsync) {
    struct sock_fprog prog = { .len = len, .filter = filter };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                        tsync ? SECCOMP_FILTER_FLAG_TSYNC : 0, &prog);
}
static const uint32_t CSKIFF_AUDIT_ARCH_X86_64 = AUDIT_ARCH_X86_64;
static const uint32_t CSKIFF_AUDIT_ARCH_AARCH64 = AUDIT_ARCH_AARCH64;

#endif /* CSKIFF_LINUX_H */
