"""test_sandbox.py: the monitor confines itself with a seccomp allow-list before the guest runs (issue 4, docs/security.md).

`Sources/SkiffMonitor/Sandbox.swift` builds the filter from the configuration
(block and net devices add their system calls) and installs it with
PR_SET_NO_NEW_PRIVS and TSYNC after the VM, the devices and the ring I/O
thread exist. While a guest runs, every thread of the monitor must show
`Seccomp: 2` (filter mode) and `NoNewPrivs: 1` in /proc. `--no-sandbox`
leaves the monitor unconfined and says so on stderr. The test hook
SKIFF_TEST_FORBIDDEN_SYSCALL=1 makes the monitor call getppid() (not on the
list) right after installing the filter: the kernel kills the process with
SIGSYS (status 159 in a shell), before the guest's first instruction.

The guests spin (or sleep in POLL) after printing a marker, so the test
knows they run; SIGTERM ends them (exit 1, "Exiting on signal 15").
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

import helpers
from helpers import BOOT_INFO, R_OK, RAWFRAME, expect_monitor_error, expect_status

pytestmark = pytest.mark.kvm

NO_SANDBOX_WARNING = "skiff: WARNING: --no-sandbox: the monitor runs without its seccomp filter (debugging only)"


def confinement(pid: int) -> dict[int, tuple[str, str]]:
    """tid -> (Seccomp, NoNewPrivs) for every thread of `pid` (KVM's own worker threads included)."""
    out = {}
    for tid in helpers.threads(pid):
        st = helpers.proc_status(pid, tid)
        out[tid] = (st.get("Seccomp"), st.get("NoNewPrivs"))
    return out


def monitor_threads(pid: int) -> list[int]:
    """The monitor's own threads (KVM adds kernel workers such as kvm-nx-lpage-recovery to the process)."""
    return [t for t in helpers.threads(pid) if helpers.proc_status(pid, t)["Name"] == helpers.proc_status(pid)["Name"]]


def run_and_inspect(argv: list[str], marker: bytes = b"0x1\n", sig: int = signal.SIGTERM):
    """Starts the monitor, waits for the guest's marker, returns (/proc confinement, Result after `sig`)."""
    p = helpers.popen(argv)
    try:
        helpers.wait_for_output(p, marker)
        seen = confinement(p.pid)
        p.send_signal(sig)
        r = helpers.finish(p, timeout=10)
    finally:
        helpers.stop(p)
    return seen, r


def image(tmp_path: Path, size: int = 65536) -> Path:
    img = tmp_path / "disk.img"
    img.write_bytes(bytes(size))
    return img


# ---------------------------------------------------------------------------
# The filter is on while the guest runs, off with --no-sandbox

@pytest.mark.parametrize("guest,devices", [("probe", ()), ("probe_blk", ("block",))])
def test_filter_active_while_guest_runs(skiff, asm, tmp_path, guest, devices):
    opts = [f"--block:storage={image(tmp_path)}"] if "block" in devices else []
    seen, r = run_and_inspect([str(skiff), "run", "--mem=64", *opts, str(asm[guest]), "1", "print", "spin"])
    assert seen and all(v == ("2", "1") for v in seen.values()), \
        f"(Seccomp, NoNewPrivs) per thread while the guest ran: {seen}\n" + r.describe()
    expect_monitor_error(r, "Exiting on signal 15")
    assert NO_SANDBOX_WARNING not in r.stderr, r.describe()


def test_no_sandbox_runs_unconfined_and_says_so(skiff, asm):
    seen, r = run_and_inspect([str(skiff), "run", "--no-sandbox", "--mem=64", str(asm["probe"]), "1", "print", "spin"])
    assert seen and all(v == ("0", "0") for v in seen.values()), \
        f"(Seccomp, NoNewPrivs) per thread with --no-sandbox: {seen}\n" + r.describe()
    expect_monitor_error(r, "Exiting on signal 15")
    assert r.stderr_lines.count(NO_SANDBOX_WARNING) == 1, r.describe()


def test_no_sandbox_guest_still_halts_normally(run_skiff, asm):
    r = run_skiff("--no-sandbox", "--mem=64", asm["probe"], "ok")
    expect_status(r, 0)
    assert b"SUCCESS" in r.stdout and NO_SANDBOX_WARNING in r.stderr_lines, r.describe()


# ---------------------------------------------------------------------------
# A forbidden system call kills the monitor

def forbidden_env() -> dict:
    return {**os.environ, "SKIFF_TEST_FORBIDDEN_SYSCALL": "1"}


@pytest.mark.parametrize("guest", ["probe", "probe_blk"])
def test_forbidden_syscall_kills_the_monitor(skiff, asm, tmp_path, guest):
    """Killed by SIGSYS (-31 seen from Python) right after the filter is installed: the guest never runs."""
    opts = [f"--block:storage={image(tmp_path)}"] if guest == "probe_blk" else []
    r = helpers.run([str(skiff), "run", "--mem=64", *opts, str(asm[guest]), "1", "print", "0", "halt"],
                    env=forbidden_env())
    assert r.returncode == -signal.SIGSYS, "expected death by SIGSYS:\n" + r.describe()
    assert r.stdout == b"", "the guest ran before the filter was tested:\n" + r.describe()


def test_forbidden_syscall_status_in_a_shell_is_159(skiff, asm):
    cmd = f'"{skiff}" run --mem=64 "{asm["probe"]}" 1 print 0 halt; exit $?'
    r = helpers.run(["sh", "-c", cmd], env=forbidden_env())
    assert r.returncode == 128 + signal.SIGSYS == 159, r.describe()
    assert r.stdout == b"", r.describe()


def test_forbidden_syscall_hook_needs_the_sandbox(run_skiff, skiff, asm):
    """With --no-sandbox there is no filter, and the hook does nothing: the guest runs."""
    r = helpers.run([str(skiff), "run", "--no-sandbox", "--mem=64", str(asm["probe"]), "ok"], env=forbidden_env())
    expect_status(r, 0)
    assert b"SUCCESS" in r.stdout, r.describe()


# ---------------------------------------------------------------------------
# Sandboxed runs still work with devices

def block_ring_entry(ring: int, slot: int, op: int, offset: int, data: int, length: int) -> str:
    e = ring + 16 + 40 * slot
    return (f"{op | 1 << 32:#x} {e:#x} wr {offset:#x} {e + 8:#x} wr {data:#x} {e + 16:#x} wr "
            f"{length:#x} {e + 24:#x} wr 7 {e + 32:#x} wr ")


def test_sandboxed_block_round_trip(probe, tmp_path):
    """BLOCK_WRITE, BLOCK_READ and the block ring (write, FLUSH = fdatasync, read) under the filter, then HALT."""
    img = image(tmp_path)
    ring = helpers.BUF + 0x100000
    prog = ("buf 4096 0x3c fill 1 8192 buf 4096 7 4 hc 32 ret 0 expect "
            "1 8192 buf 0x1000 add 4096 7 5 hc 32 ret 0 expect "
            "buf buf 0x1000 add 4096 memeq 1 expect "
            # block ring: write 512 x 0x5a at 0, flush, read it back into buf+0x2000
            "buf 0x3000 add 512 0x5a fill "
            f"0x300000004 {ring:#x} wr 0 {ring + 8:#x} wr "            # size 4, head 3, tail 0
            + block_ring_entry(ring, 0, 2, 0, helpers.BUF + 0x3000, 512)
            + block_ring_entry(ring, 1, 3, 0, 0, 0)
            + block_ring_entry(ring, 2, 1, 0, helpers.BUF + 0x2000, 512)
            + f"{ring:#x} 0x700000007 0 0 0 9 hc 12 ret 0 expect 8 ret 3 expect "
            f"{ring + 16 + 32:#x} rdd 0 expect {ring + 56 + 32:#x} rdd 0 expect {ring + 96 + 32:#x} rdd 0 expect "
            "buf 0x2000 add buf 0x3000 add 512 memeq 1 expect ok")
    r = probe(prog, f"--block:storage={img}", guest="probe_blk")
    expect_status(r, 0)
    assert b"SUCCESS" in r.stdout, r.describe()
    data = img.read_bytes()
    assert data[:512] == b"\x5a" * 512 and data[8192:12288] == b"\x3c" * 4096, "the writes are not in the image"


ETH_IN, ETH_OUT, ETH_RING = 0x88B5, 0x88B6, 0x88B7


def frame(ethertype: int, payload: bytes) -> bytes:
    return b"\xff" * 6 + bytes.fromhex("020000000001") + ethertype.to_bytes(2, "big") + payload.ljust(46, b".")


def store(data: bytes, at: int) -> str:
    data = data + bytes(-len(data) % 8)
    return " ".join(f"{int.from_bytes(data[i:i + 8], 'little'):#x} {at + i:#x} wr" for i in range(0, len(data), 8))


@pytest.mark.root
def test_sandboxed_net_poll_read_write_and_ring(skiff, asm, netns, tmp_path):
    """One sandboxed run with a block and a net device: the filter is on while the guest sleeps in POLL;
    a frame sent to the tap wakes it, NET_READ gets it, NET_WRITE and a ring write send two frames back."""
    netns.add_tap("tap0", "10.77.0.1/24")
    img = image(tmp_path)
    features = helpers.run(netns.exec_argv([str(skiff), "run", "--mem=64", "--net:service0=tap0",
                                            f"--block:storage={img}", str(asm["probe_blknet"]),
                                            f"{BOOT_INFO + 40:#x}", "rdd", "print"]))
    expect_status(features, 0)
    ring_offered = int(features.stdout.decode(), 16) & 1
    f_in = frame(ETH_IN, b"to the sandboxed guest")
    f_out = frame(ETH_OUT, b"NET_WRITE from the sandboxed guest")
    f_ring = frame(ETH_RING, b"ring write from the sandboxed guest")
    out_at, ring_at = helpers.BUF + 0x1000, helpers.BUF + 0x2000
    prog = ("1 print 20000000000 0 0 0 0 3 hc 16 ret 1 expect "           # POLL until the frame arrives
            f"2 buf 2048 7 0 7 hc 24 ret {R_OK} expect buf {len(f_in)} puts "  # NET_READ (handle 2), echo to stdout
            f"{store(f_out, out_at)} 2 {out_at:#x} {len(f_out)} 7 0 6 hc 24 ret {R_OK} expect "
            f"buf 512 0x77 fill 1 0 buf 512 7 4 hc 32 ret {R_OK} expect ")       # and a block write
    if ring_offered:
        e = "mem 128 add"
        prog += (f"{store(f_ring, ring_at)} {1 | 2 << 32:#x} {e} wr {ring_at:#x} {e} 8 add wr "
                 f"{len(f_ring) | 9 << 32:#x} {e} 16 add wr 1 mem wrd 0 0x600 outl mem 64 add 1 wait32 ")
    prog += "ok"
    caps = {t: helpers.popen(netns.exec_argv([sys.executable, RAWFRAME, "capture", "tap0", f"{t:x}", "30"]))
            for t in ([ETH_OUT, ETH_RING] if ring_offered else [ETH_OUT])}
    p = None
    try:
        for c in caps.values():
            assert c.stdout.readline().strip() == b"ready"
        p = helpers.popen(netns.exec_argv([str(skiff), "run", "--mem=64", "--net:service0=tap0",
                                           f"--block:storage={img}", str(asm["probe_blknet"]), *prog.split()]))
        helpers.wait_for_output(p, b"0x1\n")
        time.sleep(0.1)
        seen = confinement(p.pid)
        assert len(seen) >= 1 and all(v == ("2", "1") for v in seen.values()), \
            f"(Seccomp, NoNewPrivs) per thread: {seen}"
        if ring_offered:
            assert len(monitor_threads(p.pid)) == 2, f"expected the vCPU thread and the ring I/O thread: {seen}"
        s = helpers.run(netns.exec_argv([sys.executable, RAWFRAME, "send", "tap0", f_in.hex()]))
        assert s.returncode == 0, s.describe()
        r = helpers.finish(p, timeout=30)
        got = {t: helpers.finish(c, timeout=40) for t, c in caps.items()}
    finally:
        for c in caps.values():
            helpers.stop(c)
        if p is not None:
            helpers.stop(p)
    expect_status(r, 0)
    assert r.stdout == f_in + b"SUCCESS\n", r.describe()
    assert got[ETH_OUT].returncode == 0 and f_out.hex() in got[ETH_OUT].stdout.decode(), got[ETH_OUT].describe()
    if ring_offered:
        assert got[ETH_RING].returncode == 0 and f_ring.hex() in got[ETH_RING].stdout.decode(), got[ETH_RING].describe()
    assert img.read_bytes()[:512] == b"\x77" * 512
