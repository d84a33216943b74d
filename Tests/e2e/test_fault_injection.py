"""test_fault_injection.py: host system calls made to fail under a running guest (issue 18), with strace.

`strace -f -e inject=SYSCALL:error=ERRNO:syscall=gettid:when=N -P PATH` makes the Nth call of SYSCALL on a
file descriptor that refers to PATH (a block image, /dev/net/tun, the ring eventfd
`anon_inode:[eventfd]`, the vCPU `anon_inode:kvm-vcpu:0`) fail with ERRNO, without touching the kernel.
`-f` follows `skiff run`'s exec of skiff-hvt and the ring I/O thread; `when` counts per thread, and only
the calls -P matches.

The seccomp filter stays on. strace's plain `error=` injection turns the call into system call -1, which
the allow-list does not contain, so the monitor dies of SIGSYS (status 159) at the first injected call;
`syscall=gettid` makes strace run gettid (allowed, harmless) in its place and then return ERRNO.

Each case checks the one-line message, the exit status, that the injection really happened (strace's
log shows `(INJECTED)`), and for block devices that every write the guest saw acknowledged (the probe
prints its `ret`) is in the image afterwards. `-k fault_injection` selects the file. Error strings are
the C library's: musl (skiff-hvt) and glibc (the in-process fallback) both accepted.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import helpers
from helpers import BUF, R_AGAIN, R_OK, expect_status

pytestmark = [pytest.mark.kvm]

STRACE = shutil.which("strace")
ERRNO_TEXT = {
    "EIO": ("I/O error", "Input/output error"),
    "ENOSPC": ("No space left on device",),
    "EFBIG": ("File too large",),
}


def strace_argv(log: Path, path: str, syscall: str, error: str, when: str) -> list[str]:
    if STRACE is None:
        pytest.skip("NO STRACE: strace (Debian package strace, scripts/setup) is not installed")
    return [STRACE, "-f", "-qq", "-o", str(log), "-P", path, "-e", f"trace={syscall}",
            "-e", f"inject={syscall}:error={error}:syscall=gettid:when={when}"]


def injected(log: Path) -> int:
    return log.read_text(errors="replace").count("(INJECTED)")


def expect_error_text(r: helpers.Result, prefix: str, errno_name: str) -> None:
    assert r.returncode == 1, "expected a monitor error (exit 1):\n" + r.describe()
    want = [prefix + t for t in ERRNO_TEXT[errno_name]]
    assert any(any(w in line for w in want) for line in r.stderr_lines), f"stderr has none of {want}:\n" + r.describe()
    assert len(r.stderr_lines) == 1, "more than one line on stderr:\n" + r.describe()


# ---------------------------------------------------------------------------
# Block devices

N_WRITES = 6


def write_program(n: int = N_WRITES, first_offset: int = 0, then: str = "ok") -> str:
    """BLOCK_WRITE k (k = 0..n-1): 512 bytes of 'A'+k at first_offset + 512 k, printing each ret."""
    return " ".join(f"buf 512 {0x41 + k:#x} fill 1 {first_offset + 512 * k:#x} buf 512 7 4 hc 32 ret print"
                    for k in range(n)) + " " + then


def acknowledged(r: helpers.Result) -> int:
    lines = r.stdout.split(b"\n")
    n = 0
    for line in lines:
        if line != b"0x0":
            break
        n += 1
    return n


def check_acknowledged(img: Path, r: helpers.Result, first_offset: int = 0) -> int:
    """Every acknowledged BLOCK_WRITE of write_program is in the file; returns how many there were."""
    n = acknowledged(r)
    data = img.read_bytes()
    for k in range(n):
        o = first_offset + 512 * k
        assert data[o:o + 512] == bytes([0x41 + k]) * 512, f"acknowledged write {k} is not in the image:\n" + r.describe()
    return n


def run_block(skiff, asm, img: Path, program: str, prefix: list[str], preexec=None) -> helpers.Result:
    argv = prefix + [str(skiff), "run", "--mem=64", f"--block:storage={img}", "--", str(asm["probe_blk"]),
                     *program.split()]
    t0 = time.monotonic()
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                       preexec_fn=preexec)
    assert time.monotonic() - t0 < 30
    return helpers.Result(argv, p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"))


@pytest.mark.parametrize("error", ["EIO", "ENOSPC"])
@pytest.mark.parametrize("when", [1, 3, N_WRITES])
def test_block_write_error(skiff, asm, tmp_path, error, when):
    """pwrite64 fails on the `when`th write: `Fatal error when writing: ...`, exit 1, the writes acknowledged
    before it are in the image, the failed one was not acknowledged."""
    img = helpers.zero_image(tmp_path / "disk.img", 64 * 1024)
    log = tmp_path / "strace.log"
    r = run_block(skiff, asm, img, write_program(), strace_argv(log, str(img), "pwrite64", error, str(when)))
    assert injected(log) == 1, log.read_text()[-2000:]
    expect_error_text(r, "Fatal error when writing: ", error)
    assert check_acknowledged(img, r) == when - 1, r.describe()
    assert b"SUCCESS" not in r.stdout


@pytest.mark.parametrize("error", ["EIO", "ENOSPC"])
def test_block_read_error(skiff, asm, tmp_path, error):
    """pread64 fails on the second read: `Fatal error when reading: ...`, exit 1; the earlier write stays."""
    img = helpers.zero_image(tmp_path / "disk.img", 64 * 1024)
    log = tmp_path / "strace.log"
    prog = write_program(2, then="") + " 1 0 buf 512 7 5 hc 32 ret print 1 512 buf 512 7 5 hc 32 ret print ok"
    r = run_block(skiff, asm, img, prog, strace_argv(log, str(img), "pread64", error, "2"))
    assert injected(log) == 1
    expect_error_text(r, "Fatal error when reading: ", error)
    assert r.stdout == b"0x0\n" * 3, r.describe()     # two writes and the first read acknowledged
    assert img.read_bytes()[:1024] == b"A" * 512 + b"B" * 512


@pytest.mark.parametrize("error", ["EIO", "ENOSPC"])
def test_final_flush_error_after_halt(skiff, asm, tmp_path, error):
    """The fdatasync at exit fails after HALT 0: `Fatal error when flushing block device 'storage': ...`,
    exit 1 (issue 18: it was ignored); every acknowledged write is in the image."""
    img = helpers.zero_image(tmp_path / "disk.img", 64 * 1024)
    log = tmp_path / "strace.log"
    r = run_block(skiff, asm, img, write_program(), strace_argv(log, str(img), "fdatasync", error, "1+"))
    assert injected(log) >= 1
    expect_error_text(r, "Fatal error when flushing block device 'storage': ", error)
    assert b"SUCCESS" in r.stdout
    assert check_acknowledged(img, r) == N_WRITES


def test_final_flush_error_after_an_abort_is_a_monitor_error(skiff, asm, tmp_path):
    """After HALT 255 a failed flush is still reported and the status is 1 (a monitor error outranks the
    guest's status, as for every monitor error)."""
    img = helpers.zero_image(tmp_path / "disk.img", 64 * 1024)
    log = tmp_path / "strace.log"
    r = run_block(skiff, asm, img, write_program(2, then="255 halt"), strace_argv(log, str(img), "fdatasync", "EIO", "1+"))
    expect_error_text(r, "Fatal error when flushing block device 'storage': ", "EIO")
    assert check_acknowledged(img, r) == 2


RING = BUF + 0x100000


def ring_program() -> str:
    """A block ring of 3 entries: WRITE 'R' at 0, FLUSH, WRITE 'S' at 512; prints served and each ret."""
    def entry(slot, op, offset, length):
        e = RING + 16 + 40 * slot
        return (f"{op | 1 << 32:#x} {e:#x} wr {offset:#x} {e + 8:#x} wr buf {e + 16:#x} wr {length:#x} {e + 24:#x} wr "
                f"7 {e + 32:#x} wr ")
    rets = " ".join(f"{RING + 16 + 40 * s + 32:#x} rdd print" for s in range(3))
    return (f"buf 512 0x52 fill {4 | 3 << 32:#x} {RING:#x} wr 0 {RING + 8:#x} wr "
            + entry(0, 2, 0, 512) + entry(1, 3, 0, 0) + entry(2, 2, 512, 512)
            + f"{RING:#x} 0x700000007 0 0 0 9 hc 8 ret print {rets} ok")


def test_ring_flush_error_is_eunspec_and_the_run_goes_on(skiff, asm, tmp_path):
    """fdatasync fails for a block-ring FLUSH: that entry gets EUNSPEC (docs/block-ring.md), the others OK;
    the final flush succeeds: exit 0."""
    img = helpers.zero_image(tmp_path / "disk.img", 64 * 1024)
    log = tmp_path / "strace.log"
    r = run_block(skiff, asm, img, ring_program(), strace_argv(log, str(img), "fdatasync", "EIO", "1"))
    assert injected(log) == 1
    expect_status(r, 0)
    assert r.stdout == b"0x3\n0x0\n0x3\n0x0\nSUCCESS\n", r.describe()
    assert img.read_bytes()[:512] == b"R" * 512


def test_ring_write_error_is_fatal(skiff, asm, tmp_path):
    """pwrite64 fails for the ring's second WRITE: exit 1 with the message; the first write is in the image."""
    img = helpers.zero_image(tmp_path / "disk.img", 64 * 1024)
    log = tmp_path / "strace.log"
    r = run_block(skiff, asm, img, ring_program(), strace_argv(log, str(img), "pwrite64", "EIO", "2"))
    assert injected(log) == 1
    expect_error_text(r, "Fatal error when writing: ", "EIO")
    assert img.read_bytes()[:512] == b"R" * 512


@pytest.mark.parametrize("syscall", ["pwrite64", "pread64", "fdatasync"])
def test_block_eintr_is_retried(skiff, asm, tmp_path, syscall):
    """EINTR on every other call is retried: the run ends as without it."""
    img = helpers.zero_image(tmp_path / "disk.img", 64 * 1024)
    log = tmp_path / "strace.log"
    prog = write_program(then="") + " 1 0 buf 512 7 5 hc 32 ret print ok"
    r = run_block(skiff, asm, img, prog, strace_argv(log, str(img), syscall, "EINTR", "1+2"))
    assert injected(log) >= 1
    expect_status(r, 0)
    assert r.stdout == b"0x0\n" * (N_WRITES + 1) + b"SUCCESS\n", r.describe()
    assert img.read_bytes()[:512 * N_WRITES] == b"".join(bytes([0x41 + k]) * 512 for k in range(N_WRITES))


def test_write_past_rlimit_fsize_is_efbig(skiff, asm, tmp_path):
    """Under `ulimit -f` (RLIMIT_FSIZE 32 KiB, the image 64 KiB) a write past the limit fails with EFBIG:
    `Fatal error when writing: File too large`, exit 1 (issue 18: SIGXFSZ killed the monitor, no message,
    no flush); the writes acknowledged before it are in the image."""
    img = helpers.zero_image(tmp_path / "disk.img", 64 * 1024)
    limit = 32 * 1024

    def preexec():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    prog = write_program(3, first_offset=limit - 1024)        # blocks at 31, 31.5 KiB: fine; 32 KiB: past it
    r = run_block(skiff, asm, img, prog, [], preexec=preexec)
    expect_error_text(r, "Fatal error when writing: ", "EFBIG")
    assert check_acknowledged(img, r, first_offset=limit - 1024) == 2, r.describe()


# ---------------------------------------------------------------------------
# KVM_RUN

def test_kvm_run_eintr_storm(skiff, asm, tmp_path):
    """Every other ioctl on the vCPU (KVM_RUN and the set-up requests) fails with EINTR: all retried or
    resumed, the guest's output and exit are unchanged, the block writes are in the image."""
    img = helpers.zero_image(tmp_path / "disk.img", 64 * 1024)
    log = tmp_path / "strace.log"
    prog = write_program(then="") + " 100 begin 0 0 0 0 0 1 hc 1 sub dup again drop ok"     # 100 WALLTIMEs
    r = run_block(skiff, asm, img, prog, strace_argv(log, "anon_inode:kvm-vcpu:0", "ioctl", "EINTR", "1+2"))
    n = injected(log)
    assert n >= 50, f"only {n} injected EINTRs:\n" + log.read_text()[-2000:]
    expect_status(r, 0)
    assert r.stdout == b"0x0\n" * N_WRITES + b"SUCCESS\n", r.describe()
    assert check_acknowledged(img, r) == N_WRITES


def test_sigterm_during_a_kvm_run_eintr_storm(skiff, asm, tmp_path):
    """A guest making hypercalls in a loop, every other vCPU ioctl interrupted: a SIGTERM sent to the tender
    (not to strace) still ends it with `Exiting on signal 15`, exit 1."""
    import os
    import signal
    log = tmp_path / "strace.log"
    argv = strace_argv(log, "anon_inode:kvm-vcpu:0", "ioctl", "EINTR", "1+2") + [
        str(skiff), "run", "--mem=64", str(asm["probe"]), "1", "print", "begin", "0", "0", "0", "0", "0", "1", "hc",
        "1", "again"]
    p = helpers.popen(argv)
    try:
        helpers.wait_for_output(p, b"0x1\n")
        time.sleep(0.3)
        tender = [pid for pid in helpers.session_members(p.pid) if pid != p.pid]
        assert len(tender) == 1, tender
        os.kill(tender[0], signal.SIGTERM)
        r = helpers.finish(p, timeout=10)
    finally:
        helpers.stop(p)
    assert injected(log) >= 10
    expect_error_text_plain(r, "Exiting on signal 15")


def expect_error_text_plain(r: helpers.Result, text: str) -> None:
    assert r.returncode == 1, r.describe()
    assert [line for line in r.stderr_lines if text in line] and len(r.stderr_lines) == 1, r.describe()


# ---------------------------------------------------------------------------
# Taps (root: a private network namespace) and the ring eventfd

def frame_program(at: str = "buf") -> str:
    f = b"\xff" * 6 + bytes.fromhex("020000000001") + helpers.ETHERTYPE.to_bytes(2, "big") + b"fault".ljust(46, b"f")
    f += bytes(-len(f) % 8)
    return " ".join(f"{int.from_bytes(f[i:i + 8], 'little'):#x} {at} {i} add wr" for i in range(0, len(f), 8)) + " "


def nentry(slot: int, op: int, handle: int, length: int, ident: int) -> str:
    e = f"mem {128 + 32 * slot} add"
    return f"{op | handle << 32:#x} {e} wr buf {e} 8 add wr {length | ident << 32:#x} {e} 16 add wr "


def ring_submit(n: int) -> str:
    return f"{n} mem wrd 0 0x600 outl mem 64 add {n} wait32 "


def run_net(tapns, skiff, asm, program: str, prefix: list[str]) -> helpers.Result:
    return helpers.run(tapns.exec_argv(prefix + [str(skiff), "run", "--mem=64", "--net:service0=tap0", "--",
                                                 str(asm["probe_net"]), *program.split()]), timeout=60)


@pytest.mark.root
@pytest.mark.parametrize("call,program,message", [
    ("write", "FRAME 1 buf 60 7 0 6 hc 24 ret print ok", "Fatal error when writing: "),
    ("read", "1 buf 2048 7 0 7 hc 24 ret print ok", "Fatal error when reading: "),
])
def test_tap_io_error(tapns, skiff, asm, tmp_path, call, program, message):
    """EIO on the first tap write (NET_WRITE) or read (NET_READ): one line, exit 1."""
    log = tmp_path / "strace.log"
    r = run_net(tapns, skiff, asm, program.replace("FRAME ", frame_program()),
                strace_argv(log, "/dev/net/tun", call, "EIO", "1"))
    assert injected(log) == 1
    expect_error_text(r, message, "EIO")


@pytest.mark.root
def test_tap_read_eagain_is_harmless(tapns, skiff, asm, tmp_path):
    """EAGAIN on every tap read: NET_READ says AGAIN, the run goes on."""
    log = tmp_path / "strace.log"
    r = run_net(tapns, skiff, asm, f"1 buf 2048 7 0 7 hc 24 ret {R_AGAIN} expect 1 buf 2048 7 0 7 hc 24 ret {R_AGAIN} expect ok",
                strace_argv(log, "/dev/net/tun", "read", "EAGAIN", "1+"))
    assert injected(log) == 2
    expect_status(r, 0)


@pytest.mark.root
def test_tap_eintr_is_retried(tapns, skiff, asm, tmp_path):
    log = tmp_path / "strace.log"
    r = run_net(tapns, skiff, asm, frame_program() + f"1 buf 60 7 0 6 hc 24 ret {R_OK} expect "
                f"1 buf 60 7 0 6 hc 24 ret {R_OK} expect ok",
                strace_argv(log, "/dev/net/tun", "write", "EINTR", "1+2"))
    assert injected(log) >= 1
    expect_status(r, 0)


@pytest.mark.root
def test_ring_tap_write_error(net_ring, tapns, skiff, asm, tmp_path):
    """The ring I/O thread's tap write fails: its error ends the run (exit 1, the message)."""
    log = tmp_path / "strace.log"
    r = run_net(tapns, skiff, asm, frame_program() + nentry(0, 1, 1, 60, 1) + ring_submit(1) + "spin",
                strace_argv(log, "/dev/net/tun", "write", "EIO", "1"))
    assert injected(log) == 1
    expect_error_text(r, "Fatal error when writing: ", "EIO")


@pytest.mark.root
def test_ring_tap_write_error_after_halt(net_ring, tapns, skiff, asm, tmp_path):
    """Issue 18: a ring write queued without a kick just before HALT is served in the final drain; when
    it fails the run exits 1 with the message (it exited 0, silently)."""
    log = tmp_path / "strace.log"
    r = run_net(tapns, skiff, asm, frame_program() + nentry(0, 1, 1, 60, 1) + "1 mem wrd 0 halt",
                strace_argv(log, "/dev/net/tun", "write", "EIO", "1+"))
    assert injected(log) == 1
    expect_error_text(r, "Fatal error when writing: ", "EIO")


@pytest.mark.root
def test_ring_tap_read_error(net_ring, tapns, skiff, asm, tmp_path):
    """The ring thread's tap read fails with EIO: a host I/O error, so exit 1 with
    `Fatal error when reading: ...` (it was a silent EINVAL commit)."""
    log = tmp_path / "strace.log"
    r = run_net(tapns, skiff, asm, nentry(0, 2, 1, 2048, 1) + ring_submit(1) + "mem 68 add 1 wait32 ok",
                strace_argv(log, "/dev/net/tun", "read", "EIO", "1"))
    assert injected(log) == 1
    expect_error_text(r, "Fatal error when reading: ", "EIO")
    assert b"SUCCESS" not in r.stdout


@pytest.mark.root
def test_ring_tap_read_eagain_is_harmless(net_ring, tapns, skiff, asm, tmp_path):
    log = tmp_path / "strace.log"
    r = run_net(tapns, skiff, asm, nentry(0, 2, 1, 2048, 7) + ring_submit(1) + "mem 68 add 1 wait32 "
                f"mem 32896 add rdd 7 expect mem 32900 add rdd {R_AGAIN} expect ok",
                strace_argv(log, "/dev/net/tun", "read", "EAGAIN", "1+"))
    assert injected(log) == 1
    expect_status(r, 0)


@pytest.mark.root
@pytest.mark.parametrize("error", ["EINTR", "EIO"])
def test_ring_eventfd_read_errors_are_harmless(net_ring, tapns, skiff, asm, tmp_path, error):
    """The ring thread's eventfd reads (it sleeps there once idle) fail every other time: EINTR is retried,
    another error only wakes the thread early; entries queued after a 300 ms POLL are still served."""
    log = tmp_path / "strace.log"
    prog = ("300000000 0 0 0 0 3 hc " + nentry(0, 1, 9, 60, 1) + ring_submit(1)
            + "200000000 0 0 0 0 3 hc " + nentry(1, 1, 9, 60, 2) + ring_submit(2) + "ok")
    r = run_net(tapns, skiff, asm, prog, strace_argv(log, "anon_inode:[eventfd]", "read", error, "1+2"))
    assert injected(log) >= 1, log.read_text()[-2000:]
    expect_status(r, 0)
