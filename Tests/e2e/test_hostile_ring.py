"""test_hostile_ring.py: guests that corrupt the net ring (spec §11) and the block ring (docs/block-ring.md)
in every way the layouts allow (issue 18), each with a bounded time to exit and a checked status.

Every run here must end within HOSTILE_WALL seconds, and a SIGTERM sent while the monitor is busy with a
hostile ring must end it within SIGTERM_BUDGET seconds (measured from the signal to the exit, `Exiting on
signal 15`, status 1). `-k hostile_ring` selects the file.

Net ring: probe_net with tap0 (conftest `tapns`, `net_ring`); ring entries are written with `wr` or the
probe's native `rfill` / `rflood` words (probe.S). Ring layout: ent_tail @0, com_head @4, ent_head @64,
com_tail @68, needs_kick @72, entries @128 (32 bytes: op u32, handle u32, data u64, len u32, id u32),
commits @32896 (16 bytes: id u32, ret i32, len u32).

Block ring: the ring is synchronous (served inside hypercall 9 while the vCPU waits), so a guest
"rewrites entries while the monitor drains them" by making an entry READ over later entries or over
the header. Large rings are built on the host, put in the block image and loaded by the guest with one
BLOCK_READ (an interpreted fill of 1024 entries would take seconds on PVM).
"""

from __future__ import annotations

import os
import signal
import struct
import time
from pathlib import Path

import pytest

import helpers
from helpers import (BUF, MIB, R_AGAIN, R_EINVAL, R_OK, expect_monitor_error, expect_status)

pytestmark = [pytest.mark.kvm]

HOSTILE_WALL = 5.0
SIGTERM_BUDGET = 0.100
#: A latency is measured up to this many times (a fresh run each time) and the best counts: on a shared
#: 2-core host a busy neighbour can delay the signal's delivery or the final fdatasync by tens of ms,
#: which says nothing about the work the monitor bounds. Every attempt's result is checked in full.
LATENCY_ATTEMPTS = int(os.environ.get("SKIFF_LATENCY_ATTEMPTS", "3"))


def best_latency(measure) -> float:
    """Runs `measure()` (a fresh run; checks its result; returns the latency in s) until one is within
    SIGTERM_BUDGET or LATENCY_ATTEMPTS ran; returns the best."""
    best = float("inf")
    for _ in range(LATENCY_ATTEMPTS):
        best = min(best, measure())
        if best < SIGTERM_BUDGET:
            break
    return best

# ---------------------------------------------------------------------------
# Net ring

ENT_TAIL, COM_HEAD, ENT_HEAD, COM_TAIL = 0, 4, 64, 68
ENTRIES, COMMITS = 128, 32896
NET_WRITE, NET_READ = 1, 2


def q0(op: int, handle: int) -> int:
    return op | handle << 32


def q2(length: int, ident: int) -> int:
    return length | ident << 32


def nentry(slot: int, op: int, handle: int, data: str, length: int, ident: int) -> str:
    e = f"mem {ENTRIES + 32 * slot} add"
    return f"{q0(op, handle):#x} {e} wr {data} {e} 8 add wr {q2(length, ident):#x} {e} 16 add wr "


def tail(n: int) -> str:
    """Publish ent_tail = n and kick."""
    return f"{n:#x} mem wrd 0 0x600 outl "


def wait_head(n: int) -> str:
    return f"mem {ENT_HEAD} add {n:#x} wait32 "


def timed(argv: list[str]) -> tuple[helpers.Result, float]:
    t0 = time.monotonic()
    r = helpers.run(argv, timeout=30)
    return r, time.monotonic() - t0


def net_argv(tapns, skiff, asm, program: str, guest: str = "probe_net", *options: str) -> list[str]:
    return tapns.exec_argv([str(skiff), "run", "--mem=64", "--net:service0=tap0", *options, "--", str(asm[guest]),
                            *program.split()])


@pytest.fixture
def nring(net_ring, tapns, skiff, asm):
    """nring(program, guest=..., options=()) -> (Result, seconds): probe_net with tap0, ring I/O offered."""
    def _run(program: str, guest: str = "probe_net", options=()):
        r, dt = timed(net_argv(tapns, skiff, asm, program, guest, *options))
        assert dt < HOSTILE_WALL, f"the run took {dt:.2f} s (limit {HOSTILE_WALL} s):\n" + r.describe()
        return r, dt
    return _run


RING_MESSAGE = "Invalid guest net ring: {} entries pending"


@pytest.mark.parametrize("ent_tail,pending", [(0x80000000, 0x80000000), (0xFFFFFFFF, 0xFFFFFFFF), (1025, 1025),
                                              (0x7FFFFFFF, 0x7FFFFFFF)])
@pytest.mark.parametrize("then", ["spin", "0 halt", "nokick"])
def test_net_tail_far_ahead_is_a_guest_error(nring, ent_tail, pending, then):
    """ent_tail far ahead of ent_head (or 'behind' it: 2^32-1): one line, exit 1, at once -- whether the guest
    then spins (the thread stops the vCPU), halts (found by the thread or the final drain) or never kicks
    (found by the spinning thread, or by the final drain after HALT)."""
    if then == "nokick":
        prog = f"{ent_tail:#x} mem wrd 0 halt"
    else:
        prog = tail(ent_tail) + then
    r, _ = nring(prog)
    expect_monitor_error(r, RING_MESSAGE.format(pending))
    assert len(r.stderr_lines) == 1, r.describe()


def test_net_tail_at_the_slot_limit_is_served(nring):
    """1024 pending entries (the ring full) is legal: all served (bad handle: dropped), exit 0."""
    r, _ = nring(f"{q0(NET_WRITE, 9):#x} buf {q2(64, 1):#x} 1024 rfill " + tail(1024) + wait_head(1024) + "ok")
    expect_status(r, 0)


def test_net_tail_going_backwards_is_a_guest_error(nring):
    """Two entries served, then ent_tail moved back to 1: 2^32-1 pending, a guest error."""
    r, _ = nring(nentry(0, NET_WRITE, 9, "buf", 64, 1) + nentry(1, NET_WRITE, 9, "buf", 64, 2) + tail(2)
                 + wait_head(2) + tail(1) + "spin")
    expect_monitor_error(r, RING_MESSAGE.format(0xFFFFFFFF), "ent_tail 1, ent_head 2")


def test_net_head_and_commit_tail_overwritten_by_the_guest(nring):
    """The thread keeps its own ent_head (the guest's writes to it are ignored and overwritten) and puts the
    next commit at the guest-written com_tail, masked into the commit ring."""
    prog = (nentry(0, NET_WRITE, 9, "buf", 64, 1) + tail(1) + wait_head(1)
            + f"0x7777 mem {ENT_HEAD} add wrd 0xFFFFFFFF mem {COM_TAIL} add wrd "
            + nentry(1, NET_READ, 9, "buf", 64, 0x42) + tail(2)
            + f"mem {COM_TAIL} add 0 wait32 " + wait_head(2)
            + f"mem {COMMITS + 16 * 1023} add rdd 0x42 expect mem {COMMITS + 16 * 1023 + 4} add rdd {R_EINVAL} expect ok")
    r, _ = nring(prog)
    expect_status(r, 0)
    assert b"SUCCESS" in r.stdout, r.describe()


@pytest.mark.parametrize("op,data,length,outcome", [
    (NET_READ, "buf", 0, ("commit", R_AGAIN)),                   # a read of 0 bytes: nothing read
    (NET_WRITE, "buf", 0, ("error", "Fatal error when writing: Invalid argument")),   # the tap refuses it
    (NET_WRITE, "buf", 0xFFFFFFFF, ("error", "Invalid guest access")),
    (NET_READ, "buf", 0xFFFFFFFF, ("error", "Invalid guest access")),
    (NET_WRITE, "mem 128 add", 64, ("error", "Invalid guest access")),      # a buffer inside the ring itself
    (NET_READ, "mem 64 sub", 64, ("error", "Invalid guest access")),        # ends exactly at mem_size
    (NET_WRITE, "0xFFFFFFFFFFFFFFC0", 64, ("error", "Invalid guest access")),   # wraps past 2^64
])
def test_net_entry_lengths_and_buffers(nring, op, data, length, outcome):
    prog = nentry(0, op, 1, data, length, 9) + tail(1) + wait_head(1)
    if outcome[0] == "commit":
        prog += f"mem {COMMITS} add rdd 9 expect mem {COMMITS + 4} add rdd {outcome[1]} expect ok"
    else:
        prog += "ok"
    r, _ = nring(prog)
    if outcome[0] == "commit":
        expect_status(r, 0)
    else:
        expect_monitor_error(r, outcome[1])
        assert b"SUCCESS" not in r.stdout, r.describe()


@pytest.mark.parametrize("publish", ["1 mem wrd ", tail(1)])
def test_net_short_frame_queued_before_halt_is_an_error(nring, publish):
    """Issue 18: a 10-byte ring write queued (without a kick, or kicked) just before HALT reaches the tap in
    the thread or in the final drain; the tap refuses it, and that error is the run's: exit 1, one line (it
    exited 0 silently)."""
    r, _ = nring(nentry(0, NET_WRITE, 1, "buf", 10, 1) + publish + "0 halt")
    expect_monitor_error(r, "Fatal error when writing: Invalid argument")
    assert len(r.stderr_lines) == 1, r.describe()


@pytest.mark.parametrize("op,handle,commit", [
    (NET_WRITE, 9, None), (NET_WRITE, 0, None), (NET_WRITE, 0xFFFFFFFF, None), (NET_WRITE, 1 + 1, None),
    (NET_READ, 0, R_EINVAL), (NET_READ, 0xFFFFFFFF, R_EINVAL),
    (0, 1, None), (3, 1, None), (0xFFFFFFFF, 1, None),           # unknown operations: retired, no commit
])
def test_net_bad_handles_and_ops_are_retired(nring, op, handle, commit):
    prog = (f"0xAAAAAAAA mem {COMMITS} add wrd " + nentry(0, op, handle, "buf", 64, 5) + tail(1) + wait_head(1)
            + (f"mem {COMMITS + 4} add rdd {commit} expect mem {COMMITS} add rdd 5 expect " if commit is not None
               else f"mem {COMMITS} add rdd 0xAAAAAAAA expect mem {COM_TAIL} add rdd 0 expect ")
            + "ok")
    r, _ = nring(prog)
    expect_status(r, 0)


def test_net_non_net_handle_is_retired(tapns, net_ring, skiff, asm, tmp_path):
    """probe_blknet: handle 1 is the block device; ring writes on it are dropped, reads get EINVAL."""
    img = helpers.zero_image(tmp_path / "disk.img", 4096)
    prog = (nentry(0, NET_WRITE, 1, "buf", 64, 1) + nentry(1, NET_READ, 1, "buf", 64, 2) + tail(2) + wait_head(2)
            + f"mem {COMMITS} add rdd 2 expect mem {COMMITS + 4} add rdd {R_EINVAL} expect ok")
    r, dt = timed(net_argv(tapns, skiff, asm, prog, "probe_blknet", f"--block:storage={img}"))
    expect_status(r, 0)
    assert dt < HOSTILE_WALL
    assert img.read_bytes() == bytes(4096)


@pytest.mark.parametrize("what,q0v,publish", [
    ("bad handle", q0(NET_WRITE, 9), tail(1024)),
    ("unknown op", q0(7, 1), tail(1024)),
    ("read, bad handle", q0(NET_READ, 9), tail(1024)),
    ("bad handle, no kick", q0(NET_WRITE, 9), "1024 mem wrd "),
    ("64-byte frames to the tap, no kick", q0(NET_WRITE, 1), "1024 mem wrd "),
])
def test_net_full_ring_then_halt(nring, what, q0v, publish):
    """Issue 18: pending entries with a bad handle or an unknown op delayed the exit by 3-19 s. A full
    ring (1024 entries) queued (kicked or not) just before HALT: served in one bounded final pass."""
    r, dt = nring(f"0x11 buf 64 0x55 fill {q0v:#x} buf {q2(64, 3):#x} 1024 rfill " + publish + "0 halt")
    expect_status(r, 0)
    assert dt < 2, f"{what}: {dt:.2f} s"


@pytest.mark.parametrize("what,off,a,b", [
    ("bad handles, ring kept full", 0, q0(NET_WRITE, 9), q0(NET_WRITE, 9)),
    ("ops rewritten write/read while served", 0, q0(NET_WRITE, 1), q0(NET_READ, 1)),
    ("handles rewritten 1/9 while served", 0, q0(NET_WRITE, 1), q0(NET_WRITE, 9)),
    ("lengths rewritten 64/1514 while served", 16, q2(64, 1), q2(1514, 2)),
    ("ops rewritten write/unknown while served", 0, q0(NET_WRITE, 1), q0(0xFFFF, 1)),
])
def test_net_flood_rewrite_and_halt(nring, what, off, a, b):
    """The guest keeps the ring full (ent_tail = its view of ent_head + 1024, kicked every round) for 2000
    rounds while rewriting the entries the thread is about to serve, then halts mid-flood: exit 0, bounded."""
    r, dt = nring(f"{q0(NET_WRITE, 1):#x} buf {q2(64, 1):#x} 1024 rfill 0x11 buf 64 0x55 fill "
                  f"{off} {a:#x} {b:#x} 2000 rflood 0 halt")
    expect_status(r, 0)


def test_net_flood_rewriting_lengths_to_zero(nring):
    """Lengths flipped between 64 and 0 while served: a 0-byte frame is refused by the tap, so the run may end
    with that error (exit 1, one line) or, if the thread never saw a 0, with the guest's 0; never hang."""
    r, _ = nring(f"{q0(NET_WRITE, 1):#x} buf {q2(64, 1):#x} 1024 rfill 0x11 buf 64 0x55 fill "
                 f"16 {q2(64, 1):#x} {q2(0, 2):#x} 2000 rflood 0 halt")
    if r.returncode != 0:
        expect_monitor_error(r, "Fatal error when writing: Invalid argument")
        assert len(r.stderr_lines) == 1, r.describe()


def wait_exit(p, t0: float, limit: float = 10) -> float:
    """Seconds from t0 until `p` exits. A blocking waitpid (Popen.wait without a timeout): Popen.wait(timeout)
    polls with sleeps that grow to 50 ms, which would overstate the latency by up to 2x. A timer kills the
    process group after `limit` s (the test then fails on the latency)."""
    import os
    import threading
    watchdog = threading.Timer(limit, lambda: os.killpg(p.pid, signal.SIGKILL))
    watchdog.start()
    try:
        p.wait()
    finally:
        watchdog.cancel()
    return time.monotonic() - t0


def signal_latency(p, marker: bytes, busy: float = 0.5, sig: int = signal.SIGTERM) -> tuple[helpers.Result, float]:
    """Waits for `marker`, lets the monitor work for `busy` s, sends `sig` and measures signal -> exit."""
    helpers.wait_for_output(p, marker)
    time.sleep(busy)
    assert p.poll() is None, "the monitor exited before the signal"
    t0 = time.monotonic()
    p.send_signal(sig)
    dt = wait_exit(p, t0)
    r = helpers.finish(p, timeout=10)
    return r, dt


LATENCIES: dict[str, float] = {}


@pytest.mark.parametrize("what,fill,flood", [
    ("64-byte frames to the tap", f"{q0(NET_WRITE, 1):#x} buf {q2(64, 1):#x}", f"0 {q0(NET_WRITE, 1):#x} {q0(NET_WRITE, 1):#x}"),
    ("64 KiB frames to the tap", f"{q0(NET_WRITE, 1):#x} buf {q2(65536, 1):#x}", f"0 {q0(NET_WRITE, 1):#x} {q0(NET_WRITE, 1):#x}"),
    ("bad handles", f"{q0(NET_WRITE, 9):#x} buf {q2(64, 1):#x}", f"0 {q0(NET_WRITE, 9):#x} {q0(NET_WRITE, 9):#x}"),
    ("reads and writes rewritten", f"{q0(NET_WRITE, 1):#x} buf {q2(64, 1):#x}", f"0 {q0(NET_WRITE, 1):#x} {q0(NET_READ, 1):#x}"),
])
def test_sigterm_during_a_net_flood(net_ring, tapns, skiff, asm, what, fill, flood):
    """A guest flooding the ring forever: SIGTERM ends the run within 100 ms (issue 18: only SIGKILL did)."""
    prog = f"0x11 buf 0x10000 0x55 fill {fill} 1024 rfill 1 print {flood} 0 rflood"

    def measure() -> float:
        p = helpers.popen(net_argv(tapns, skiff, asm, prog))
        try:
            r, dt = signal_latency(p, b"0x1\n")
        finally:
            helpers.stop(p)
        expect_monitor_error(r, "Exiting on signal 15")
        return dt

    dt = best_latency(measure)
    LATENCIES[f"net flood, {what}"] = dt
    print(f"\nSIGTERM -> exit, net flood of {what}: {dt * 1000:.1f} ms")
    assert dt < SIGTERM_BUDGET, f"SIGTERM -> exit took {dt * 1000:.1f} ms (best of {LATENCY_ATTEMPTS})"


def test_sigterm_with_an_impossible_ring_pending(net_ring, tapns, skiff, asm):
    """The issue-18 guest: billions pending, no kick, then spinning; SIGTERM (if the thread has not already
    ended the run) ends it within 100 ms."""
    def measure() -> float:
        p = helpers.popen(net_argv(tapns, skiff, asm, "1 print 0x80000000 mem wrd spin"))
        try:
            helpers.wait_for_output(p, b"0x1\n")
            time.sleep(0.3)
            t0 = time.monotonic()
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            dt = wait_exit(p, t0)
            r = helpers.finish(p, timeout=10)
        finally:
            helpers.stop(p)
        assert r.returncode == 1, r.describe()
        assert any(RING_MESSAGE.format(0x80000000) in line or "Exiting on signal 15" in line
                   for line in r.stderr_lines), r.describe()
        return dt

    dt = best_latency(measure)
    assert dt < SIGTERM_BUDGET, f"{dt * 1000:.1f} ms (best of {LATENCY_ATTEMPTS})"


def test_halt_mid_flood_exit_latency(net_ring, tapns, skiff, asm):
    """HALT -> exit with up to 1024 frames of 64 KiB queued just before HALT, without a kick (the thread or the
    final drain serves them once). Measured from the guest's last output, before it queues them."""
    prog = (f"0x11 buf 0x10000 0x55 fill {q0(NET_WRITE, 1):#x} buf {q2(65536, 1):#x} 1024 rfill "
            f"0 {q0(NET_WRITE, 1):#x} {q0(NET_WRITE, 1):#x} 50 rflood 1 print mem 64 add rdd 1024 add mem wrd "
            "0 halt")
    def measure() -> float:
        p = helpers.popen(net_argv(tapns, skiff, asm, prog))
        try:
            helpers.wait_for_output(p, b"0x1\n")
            dt = wait_exit(p, time.monotonic())
            r = helpers.finish(p, timeout=10)
        finally:
            helpers.stop(p)
        expect_status(r, 0)
        return dt

    dt = best_latency(measure)
    LATENCIES["net HALT with 1024 x 64 KiB queued"] = dt
    print(f"\nHALT -> exit, 1024 x 64 KiB frames queued: {dt * 1000:.1f} ms")
    assert dt < SIGTERM_BUDGET, f"HALT -> exit took {dt * 1000:.1f} ms (best of {LATENCY_ATTEMPTS})"


# ---------------------------------------------------------------------------
# Block ring

BRING = BUF + 0x400000 + 0x10000        # the ring in guest memory (past the 4 MiB data buffer at buf)
B_READ, B_WRITE, B_FLUSH = 1, 2, 3
RING_AREA = 64 * 1024                    # the ring bytes live in the last 64 KiB of the image
DATA_CAP = 8 * MIB


def bring(size: int, head: int, tail_: int, entries) -> bytes:
    """struct skiff_block_ring: header and `entries` ((op, handle, offset, data, len) per slot)."""
    b = struct.pack("<IIII", size, head, tail_, 0)
    for op, handle, offset, data, length in entries:
        b += struct.pack("<IIQQQII", op, handle, offset, data, length, 7, 0)
    assert len(b) <= RING_AREA
    return b


def block_image(tmp_path: Path, ring: bytes, extra_ring: bytes = b"") -> Path:
    """An image: DATA_CAP bytes of helpers.pattern, then the ring area (ring, then extra_ring at +48 KiB)."""
    img = tmp_path / "ring.img"
    area = ring.ljust(48 * 1024, b"\0") + extra_ring
    img.write_bytes(helpers.pattern(DATA_CAP) + area.ljust(RING_AREA, b"\0"))
    return img


def load_ring(n: int = RING_AREA) -> str:
    """BLOCK_READ the ring area of the image into guest memory at BRING."""
    return f"1 {DATA_CAP:#x} {BRING:#x} {n:#x} 7 5 hc 32 ret {R_OK} expect "


def ring_call() -> str:
    return f"{BRING:#x} 0x700000007 0 0 0 9 hc "


def bret(slot: int) -> str:
    return f"{BRING + 16 + 40 * slot + 32:#x} rdd "


def brun(skiff, asm, img: Path, program: str, guest: str = "probe_blk") -> tuple[helpers.Result, float]:
    r, dt = timed([str(skiff), "run", "--mem=64", f"--block:storage={img}", "--", str(asm[guest]), *program.split()])
    assert dt < HOSTILE_WALL, f"the run took {dt:.2f} s:\n" + r.describe()
    return r, dt


@pytest.mark.parametrize("what,entry", [
    ("unknown op 0", (0, 1, 0, BUF, 512)), ("unknown op 4", (4, 1, 0, BUF, 512)),
    ("unknown op 2^32-1", (0xFFFFFFFF, 1, 0, BUF, 512)),
    ("handle 0", (B_WRITE, 0, 0, BUF, 512)), ("handle 2", (B_WRITE, 2, 0, BUF, 512)),
    ("handle 2^32-1", (B_WRITE, 0xFFFFFFFF, 0, BUF, 512)), ("flush on handle 9", (B_FLUSH, 9, 0, 0, 0)),
    ("length 0", (B_WRITE, 1, 0, BUF, 0)), ("length 513", (B_WRITE, 1, 0, BUF, 513)),
    ("length 4 MiB + 512", (B_WRITE, 1, 0, BUF, 4 * MIB + 512)), ("length 2^64-512", (B_WRITE, 1, 0, BUF, (1 << 64) - 512)),
    ("offset at capacity", (B_WRITE, 1, DATA_CAP + RING_AREA, BUF, 512)),
    ("offset + length past capacity", (B_WRITE, 1, DATA_CAP + RING_AREA - 512, BUF, 1024)),
    ("offset wraps", (B_WRITE, 1, (1 << 64) - 512, BUF, 1024)),
])
def test_block_full_ring_of_bad_entries(skiff, asm, tmp_path, what, entry):
    """1024 identical bad entries (the largest ring): each gets EINVAL, all are served, nothing is written."""
    img = block_image(tmp_path, bring(1024, 1024, 0, [entry] * 1024))
    before = img.read_bytes()
    r, _ = brun(skiff, asm, img, load_ring(16 + 40 * 1024) + ring_call()
                + f"12 ret {R_OK} expect 8 ret 1024 expect {bret(0)}{R_EINVAL} expect {bret(1023)}{R_EINVAL} expect "
                f"{BRING + 8:#x} rdd 1024 expect ok")
    expect_status(r, 0)
    assert img.read_bytes() == before, what


def test_block_non_block_handle(skiff, asm, tmp_path, tapns):
    """probe_blknet: handle 2 is the net device: EINVAL in the block ring."""
    img = block_image(tmp_path, bring(2, 2, 0, [(B_WRITE, 2, 0, BUF, 512), (B_FLUSH, 2, 0, 0, 0)]))
    before = img.read_bytes()
    argv = tapns.exec_argv([str(skiff), "run", "--mem=64", f"--block:storage={img}", "--net:service0=tap0", "--",
                            str(asm["probe_blknet"]),
                            *(load_ring(4096) + ring_call() + f"{bret(0)}{R_EINVAL} expect {bret(1)}{R_EINVAL} expect ok").split()])
    r, dt = timed(argv)
    expect_status(r, 0)
    assert img.read_bytes() == before


@pytest.mark.parametrize("what,entry", [
    ("buffer past the end of memory", (B_WRITE, 1, 0, 64 * MIB - 256, 512)),
    ("buffer ending exactly at mem_size", (B_READ, 1, 0, 64 * MIB - 512, 512)),
    ("buffer wrapping past 2^64", (B_READ, 1, 0, (1 << 64) - 256, 512)),
    ("4 MiB buffer past the end", (B_WRITE, 1, 0, 62 * MIB, 4 * MIB)),
])
def test_block_entry_buffer_outside_memory_is_fatal_after_earlier_entries(skiff, asm, tmp_path, what, entry):
    """Entry 0 (a good write) is served and stays in the file; entry 1's buffer is outside memory: exit 1."""
    img = block_image(tmp_path, bring(4, 2, 0, [(B_WRITE, 1, 4096, BUF, 512), entry]))
    r, _ = brun(skiff, asm, img, "buf 512 0x61 fill " + load_ring(4096) + ring_call() + "ok")
    expect_monitor_error(r, "Invalid guest access")
    data = img.read_bytes()
    assert data[4096:4608] == b"a" * 512, "the acknowledged write before the fault is lost"
    assert data[:4096] == helpers.pattern(DATA_CAP)[:4096]


def test_block_entry_rewrites_later_entries(skiff, asm, tmp_path):
    """Entry 0 READs over entries 1-2 (and only them) while the ring is being served: each entry is copied
    when it is reached, so the rewritten entries are what is served; the count stays the header's."""
    new = bring(4, 0, 0, [(0, 0, 0, 0, 0), (B_WRITE, 1, 8192, BUF, 512), (0x77, 1, 0, BUF, 512)])[16 + 40:16 + 120]
    entry0 = (B_READ, 1, DATA_CAP + 48 * 1024, BRING + 16 + 40, 512)    # 512 bytes: entries 1..2 and beyond
    old = [entry0, (B_WRITE, 1, 0, BUF, 512), (B_WRITE, 1, 512, BUF, 512)]
    img = block_image(tmp_path, bring(4, 3, 0, old), extra_ring=new.ljust(512, b"\0"))
    r, _ = brun(skiff, asm, img, "buf 512 0x62 fill " + load_ring(4096) + ring_call()
                + f"12 ret {R_OK} expect 8 ret 3 expect {bret(0)}{R_OK} expect {bret(1)}{R_OK} expect "
                f"{bret(2)}{R_EINVAL} expect ok")
    expect_status(r, 0)
    data = img.read_bytes()
    p = helpers.pattern(DATA_CAP)
    assert data[8192:8704] == b"b" * 512, "the rewritten entry 1 was not served"
    assert data[:1024] == p[:1024], "the original entries 1-2 were served"


def test_block_entry_rewrites_the_header(skiff, asm, tmp_path):
    """Entry 0 READs over the header (size 0, head = tail + 1000): the header was copied once, so exactly the
    3 original entries are served and tail = the original head."""
    hdr = struct.pack("<IIII", 0, 1000, 0, 0)
    entry0 = (B_READ, 1, DATA_CAP + 48 * 1024, BRING, 512)
    img = block_image(tmp_path, bring(4, 3, 0, [entry0, (0x77, 1, 0, BUF, 512), (0x77, 1, 0, BUF, 512)]),
                      extra_ring=hdr.ljust(512, b"\0"))
    r, _ = brun(skiff, asm, img, load_ring(4096) + ring_call()
                + f"12 ret {R_OK} expect 8 ret 3 expect {BRING + 8:#x} rdd 3 expect {BRING + 4:#x} rdd 1000 expect ok")
    expect_status(r, 0)


def flood_image(tmp_path: Path, entry_len: int = 4 * MIB) -> Path:
    """A ring of 1024 writes of `entry_len` bytes from buf, spread over the data area."""
    n = DATA_CAP // entry_len
    entries = [(B_WRITE, 1, (i % n) * entry_len, BUF, entry_len) for i in range(1024)]
    return block_image(tmp_path, bring(1024, 1024, 0, entries))


def test_sigterm_during_a_block_ring_flood(skiff, asm, tmp_path):
    """Every hypercall serves 1024 writes of 4 MiB (4 GiB), forever (tail reset each round): SIGTERM ends the run
    within 100 ms, not after the hypercall in progress; every entry acknowledged is in the file."""
    img = flood_image(tmp_path)
    prog = ("buf 0x400000 0x63 fill " + load_ring(16 + 40 * 1024) + "1 print "
            f"begin 0 {BRING + 8:#x} wrd {ring_call()} 1 again")
    def measure() -> float:
        p = helpers.popen([str(skiff), "run", "--mem=64", f"--block:storage={img}", "--", str(asm["probe_blk"]),
                           *prog.split()])
        try:
            r, dt = signal_latency(p, b"0x1\n", busy=1.0)
        finally:
            helpers.stop(p)
        expect_monitor_error(r, "Exiting on signal 15")
        assert img.read_bytes()[:4 * MIB] == b"c" * (4 * MIB), "the first round's acknowledged writes"
        return dt

    dt = best_latency(measure)
    LATENCIES["block ring flood, 1024 x 4 MiB writes"] = dt
    print(f"\nSIGTERM -> exit, block ring flood: {dt * 1000:.1f} ms")
    assert dt < SIGTERM_BUDGET, f"SIGTERM -> exit took {dt * 1000:.1f} ms (best of {LATENCY_ATTEMPTS})"


def test_block_ring_flood_then_halt(skiff, asm, tmp_path):
    """One full ring of 1024 x 64 KiB writes, then HALT: exit 0 promptly, all of it in the file."""
    img = flood_image(tmp_path, 64 * 1024)
    prog = "buf 0x10000 0x64 fill " + load_ring(16 + 40 * 1024) + ring_call() + "8 ret 1024 expect 1 print 0 halt"
    p = helpers.popen([str(skiff), "run", "--mem=64", f"--block:storage={img}", "--", str(asm["probe_blk"]),
                       *prog.split()])
    try:
        helpers.wait_for_output(p, b"0x1\n", timeout=HOSTILE_WALL)
        dt = wait_exit(p, time.monotonic())
        r = helpers.finish(p, timeout=10)
    finally:
        helpers.stop(p)
    LATENCIES["block ring HALT after 1024 x 64 KiB"] = dt
    print(f"\nHALT -> exit after a block ring flood: {dt * 1000:.1f} ms")
    expect_status(r, 0)
    assert dt < 1.0, f"HALT -> exit took {dt * 1000:.1f} ms (it includes the fdatasync of 8 MiB just written)"
    assert img.read_bytes()[:DATA_CAP] == b"d" * DATA_CAP
