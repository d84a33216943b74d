"""test_durability.py: no lost writes: a block write acknowledged to the guest is in the image however `skiff run` ends.

The guest (probe_blk) writes two blocks (the first and the last of the
image), checks that each BLOCK_WRITE returned OK, and then ends the run in
one of the ways below. The test then reads the image file. pwrite() happens
before the acknowledgement, so the bytes are in the file (page cache) on
every way out; `fdatasync` on every way out of `Monitor.run` makes them
durable as well. Where `strace` is installed, a second test checks that
fdatasync(fd) follows the last pwrite64(fd) on each path (and skips, with the
reason, where it is not).

Ways out: HALT 0, HALT 255 with a trap-frame cookie (abort), a triple fault,
a write to read-only text (translation fault), an invalid hypercall number,
an invalid port, a hypercall argument outside guest memory, a HALT cookie
outside guest memory, SIGTERM and SIGINT while the guest spins.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time

import pytest

import helpers
from helpers import expect_monitor_error, expect_status

pytestmark = pytest.mark.kvm

CAPACITY = 64 * 1024
FIRST, LAST = b"F" * 512, b"L" * 512

#: The guest's writes: block 0 = 'F' x 512, the last block = 'L' x 512, each acknowledged with OK.
WRITES = ("buf 512 0x46 fill 1 0 buf 512 7 4 hc 32 ret 0 expect "
          f"buf 512 0x4c fill 1 {CAPACITY - 512} buf 512 7 4 hc 32 ret 0 expect ")

#: name -> (probe words after the writes, expected exit status, expected stderr phrase or None)
ENDINGS = {
    "halt": ("0 halt", 0, None),
    "abort": ("buf 255 haltc", 255, None),
    "triple_fault": ("ud2", 1, "exit_reason=0x8"),
    "translation_fault": ("0 0x100000 wr", 1, "translation fault"),
    "invalid_hypercall": ("argblk 0x500 outl", 1, "Invalid guest hypercall: num=0"),
    "invalid_port": ("argblk 0x50f outl", 1, "Invalid guest port access: port=0x50f"),
    "invalid_guest_access": ("mem 16 puts", 1, "Invalid guest access"),
    "bad_halt_cookie": ("mem 0 haltc", 1, "Invalid guest access"),
}

SIGNALS = {"sigterm": signal.SIGTERM, "sigint": signal.SIGINT}


@pytest.fixture
def image(tmp_path):
    img = tmp_path / "disk.img"
    img.write_bytes(bytes(CAPACITY))
    return img


def check_image(img) -> None:
    data = img.read_bytes()
    assert len(data) == CAPACITY, f"the image changed size: {len(data)}"
    assert data[:512] == FIRST, "the acknowledged write to block 0 is not in the image"
    assert data[-512:] == LAST, "the acknowledged write to the last block is not in the image"
    assert data[512:-512] == bytes(CAPACITY - 1024), "other blocks changed"


def check_ending(r: helpers.Result, status: int, phrase: str | None) -> None:
    if phrase is None:
        expect_status(r, status)
    else:
        expect_monitor_error(r, phrase)


def spin_and_signal(argv: list[str], sig: int) -> helpers.Result:
    """Runs a guest that writes, prints 0x1 and spins; sends `sig` once 0x1 is out."""
    p = helpers.popen(argv)
    try:
        helpers.wait_for_output(p, b"0x1\n")
        time.sleep(0.1)
        assert p.poll() is None, "the spinning guest exited by itself"
        p.send_signal(sig)
        return helpers.finish(p, timeout=10)
    finally:
        helpers.stop(p)


@pytest.mark.parametrize("ending", ENDINGS)
def test_acknowledged_writes_survive(blk_run, image, ending):
    words, status, phrase = ENDINGS[ending]
    r = blk_run(WRITES + words)
    check_ending(r, status, phrase)
    check_image(image)


@pytest.mark.parametrize("sig", SIGNALS)
def test_acknowledged_writes_survive_a_signal(skiff, asm, image, sig):
    r = spin_and_signal([str(skiff), "run", "--mem=64", f"--block:storage={image}", str(asm["probe_blk"]),
                         *(WRITES + "1 print spin").split()], SIGNALS[sig])
    expect_monitor_error(r, f"Exiting on signal {int(SIGNALS[sig])}")
    check_image(image)


@pytest.fixture
def blk_run(probe, image):
    return lambda program: probe(program, f"--block:storage={image}", guest="probe_blk")


# ---------------------------------------------------------------------------
# fdatasync after the last write, on every path (strace)

@pytest.fixture
def strace():
    path = shutil.which("strace")
    if path is None:
        pytest.skip("NO STRACE: `strace` is not installed (Debian package strace): "
                    "fdatasync on every exit path is not checked (the image contents still are)")
    return path


def traced_calls(log) -> list[tuple[str, int]]:
    """(syscall, fd) for each pwrite64 / fdatasync / fsync in an `strace -f -o LOG` file, in order."""
    calls = []
    for line in log.read_text().splitlines():
        m = re.match(r"^\d+\s+(pwrite64|fdatasync|fsync)\((\d+)", line)
        if m:
            calls.append((m.group(1), int(m.group(2))))
    return calls


def check_synced(log, r: helpers.Result) -> None:
    calls = traced_calls(log)
    writes = [i for i, (c, _) in enumerate(calls) if c == "pwrite64"]
    assert len(writes) == 2, f"expected the guest's 2 pwrite64 calls, got {calls}\n" + r.describe()
    fd = calls[writes[-1]][1]
    assert any(c in ("fdatasync", "fsync") and f == fd for c, f in calls[writes[-1] + 1:]), \
        f"no fdatasync({fd}) after the last pwrite64({fd}): {calls}\n" + r.describe()


def traced_argv(strace, log, skiff, asm, image, program: str) -> list[str]:
    return [strace, "-f", "-qq", "-o", str(log), "-e", "trace=pwrite64,fdatasync,fsync",
            str(skiff), "run", "--mem=64", f"--block:storage={image}", str(asm["probe_blk"]), *program.split()]


@pytest.mark.parametrize("ending", ENDINGS)
def test_fdatasync_on_every_exit_path(strace, skiff, asm, image, tmp_path, ending):
    words, status, phrase = ENDINGS[ending]
    log = tmp_path / "strace.log"
    r = helpers.run(traced_argv(strace, log, skiff, asm, image, WRITES + words))
    check_ending(r, status, phrase)
    check_synced(log, r)


@pytest.mark.parametrize("sig", SIGNALS)
def test_fdatasync_after_a_signal(strace, skiff, asm, image, tmp_path, sig):
    log = tmp_path / "strace.log"
    p = helpers.popen(traced_argv(strace, log, skiff, asm, image, WRITES + "1 print spin"))
    try:
        helpers.wait_for_output(p, b"0x1\n")
        time.sleep(0.1)
        # Signal the monitor (strace's child), not strace.
        children = open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()
        assert len(children) == 1, f"strace's children: {children}"
        os.kill(int(children[0]), SIGNALS[sig])
        r = helpers.finish(p, timeout=10)
    finally:
        helpers.stop(p)
    expect_monitor_error(r, f"Exiting on signal {int(SIGNALS[sig])}")
    check_synced(log, r)
    check_image(image)


# ---------------------------------------------------------------------------
# Known gap

def test_puts_to_a_closed_stdout_is_a_clean_monitor_error(skiff, asm, image):
    r_fd, w_fd = os.pipe()
    os.close(r_fd)
    try:
        p = subprocess.run([str(skiff), "run", "--mem=64", f"--block:storage={image}", str(asm["probe_blk"]),
                            *(WRITES + "buf 16 puts 0 halt").split()],
                           stdin=subprocess.DEVNULL, stdout=w_fd, stderr=subprocess.PIPE, timeout=30)
    finally:
        os.close(w_fd)
    check_image(image)
    r = helpers.Result(p.args, p.returncode, b"", p.stderr.decode("utf-8", "replace"))
    expect_monitor_error(r, "Fatal error when writing to the console")
