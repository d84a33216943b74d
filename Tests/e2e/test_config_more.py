"""test_config_more.py: bad configuration not covered by test_config_errors.py (issue 4, docs/security.md).

A busy tap (the same tap given twice, or held by another running monitor),
`--mem` below what the image needs, unreadable files, and "nothing
half-started": after a configuration error the monitor exits at once, leaves
no process behind and no tap held, so the same tap can be attached right away.

Unreadable files: root bypasses file permissions through CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH, so the monitor is started with both removed from its
capability bounding set (helpers.drop_dac_override). Then a mode-000 file
is refused exactly as it would be for an ordinary user, whoever runs the suite.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

import helpers
from helpers import expect_monitor_error, expect_status

MIB = 1 << 20
PROMPT = 3.0  # seconds: a configuration error ends the run long before this


def run_timed(argv: list[str], **popen) -> tuple[helpers.Result, float, list[int]]:
    """Runs argv in its own session; returns the result, the wall time, and the session's survivors."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True, **popen)
    try:
        so, se = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    elapsed = time.monotonic() - t0
    left = helpers.session_members(p.pid)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return helpers.Result([str(a) for a in argv], p.returncode, so, se.decode("utf-8", "replace")), elapsed, left


def expect_clean_refusal(r: helpers.Result, elapsed: float, left: list[int], phrase: str, lines: int = 1) -> None:
    expect_monitor_error(r, phrase)
    assert len(r.stderr_lines) == lines, f"expected {lines} line(s) on stderr:\n" + r.describe()
    assert r.stdout == b"", "the guest ran:\n" + r.describe()
    assert elapsed < PROMPT, f"the refusal took {elapsed:.2f} s\n" + r.describe()
    assert not left, f"processes left in the monitor's session: {left}\n" + r.describe()


# ---------------------------------------------------------------------------
# Busy taps (root, private namespace)

BUSY = "Could not attach interface: tap0: Device or resource busy"


def tap_is_free(ns: helpers.NetNS, skiff, asm) -> None:
    """No one holds tap0: no carrier, and a new monitor attaches it at once."""
    assert not ns.has_carrier("tap0"), "tap0 still has a carrier: something holds it open"
    r = helpers.run(ns.exec_argv([str(skiff), "run", "--mem=64", "--net:service0=tap0", str(asm["probe_net"]), "ok"]))
    expect_status(r, 0)


@pytest.mark.root
def test_same_tap_given_twice(skiff, asm, tapns):
    """Two devices on one tap: the second TUNSETIFF fails with EBUSY (one line, exit 1); the first is closed."""
    r, elapsed, left = run_timed(tapns.exec_argv([str(skiff), "run", "--mem=64", "--net:service0=tap0",
                                                  "--net:service1=tap0", str(asm["probe_net2"]), "ok"]))
    expect_clean_refusal(r, elapsed, left, BUSY)
    tap_is_free(tapns, skiff, asm)


@pytest.mark.root
@pytest.mark.kvm
def test_tap_held_by_another_monitor(skiff, asm, tapns):
    """A second monitor on a tap a running one holds is refused; the running one is not disturbed."""
    first = helpers.popen(tapns.exec_argv([str(skiff), "run", "--mem=64", "--net:service0=tap0",
                                           str(asm["probe_net"]), "1", "print", "spin"]))
    try:
        helpers.wait_for_output(first, b"0x1\n")
        r, elapsed, left = run_timed(tapns.exec_argv([str(skiff), "run", "--mem=64", "--net:service0=tap0",
                                                      str(asm["probe_net"]), "ok"]))
        expect_clean_refusal(r, elapsed, left, BUSY)
        assert first.poll() is None, "the first monitor ended"
        assert tapns.has_carrier("tap0"), "the first monitor lost its tap"
        first.send_signal(signal.SIGTERM)
        r1 = helpers.finish(first, timeout=10)
    finally:
        helpers.stop(first)
    expect_monitor_error(r1, "Exiting on signal 15")
    tap_is_free(tapns, skiff, asm)


@pytest.mark.root
@pytest.mark.parametrize("case", ["second_tap_missing", "same_tap_twice", "block_not_attached", "tap_down"])
def test_tap_released_after_a_later_error(skiff, asm, tapns, tmp_path, case):
    """tap0 is opened first, then the configuration fails: nothing is left half-started."""
    if case == "tap_down":
        tapns.ip("tuntap", "add", "tapd", "mode", "tap")
    argv, phrase, lines = {
        "second_tap_missing": (["--net:service0=tap0", "--net:service1=skiffnotap1", asm["probe_net2"]],
                               "Could not attach interface: skiffnotap1", 1),
        "same_tap_twice": (["--net:service0=tap0", "--net:service1=tap0", asm["probe_net2"]], BUSY, 1),
        "block_not_attached": (["--net:service0=tap0", asm["probe_blknet"]],
                               "Device 'storage' of type BLOCK_BASIC declared but not attached.", 2),
        "tap_down": (["--net:service0=tap0", "--net:service1=tapd", asm["probe_net2"]],
                     "Could not attach interface: tapd", 1),
    }[case]
    r, elapsed, left = run_timed(tapns.exec_argv([str(skiff), "run", "--mem=64", *map(str, argv), "ok"]))
    expect_clean_refusal(r, elapsed, left, phrase, lines)
    tap_is_free(tapns, skiff, asm)


# ---------------------------------------------------------------------------
# Nothing half-started, without devices that need root

@pytest.mark.parametrize("case", [
    "missing_kernel", "kernel_is_directory", "bad_elf", "mem_too_large", "mem_below_image", "missing_block_image",
    "block_not_aligned", "bad_sector_size", "not_declared", "not_attached", "given_twice", "missing_tap",
])
def test_config_errors_leave_nothing_behind(skiff, asm, tmp_path, case):
    img = tmp_path / "disk.img"
    img.write_bytes(bytes(4096))
    odd = tmp_path / "odd.img"
    odd.write_bytes(bytes(1000))
    args, phrase, lines = {
        "missing_kernel": ([tmp_path / "nope.hvt"], "Could not open", 1),
        "kernel_is_directory": ([tmp_path], "Is a directory", 1),
        "bad_elf": ([helpers.FIXTURES_DIR / "seg_wx.elf"], "requests WRITE and EXEC permissions", 1),
        "mem_too_large": (["--mem=8192", asm["probe"]], "exceeds the max size", 1),
        "mem_below_image": (["--mem=4", asm["probe_big"]], "program file segment falls outside of valid range", 1),
        "missing_block_image": ([f"--block:storage={tmp_path / 'none.img'}", asm["probe_blk"]],
                                "Could not open block device", 1),
        "block_not_aligned": ([f"--block:storage={odd}", asm["probe_blk"]], "must be block aligned", 1),
        "bad_sector_size": ([f"--block:storage={img}", "--block-sector-size:storage=100", asm["probe_blk"]],
                            "Block size must be a multiple of 2", None),
        "not_declared": ([f"--block:other={img}", asm["probe_blk"]], "Resource not declared in manifest: 'other'", 1),
        "not_attached": ([asm["probe_blk"]], "declared but not attached", 2),
        "given_twice": ([f"--block:storage={img}", f"--block:storage={img}", asm["probe_blk"]], "storage", None),
        "missing_tap": (["--net:service0=skiffnotap0", asm["probe_net"]], "Could not attach interface: skiffnotap0", 1),
    }[case]
    r, elapsed, left = run_timed([str(skiff), "run", *map(str, args), "ok"])
    if lines is None:   # option errors are followed by the usage text
        expect_monitor_error(r, phrase)
        assert elapsed < PROMPT and not left and r.stdout == b"", r.describe()
    else:
        expect_clean_refusal(r, elapsed, left, phrase, lines)


# ---------------------------------------------------------------------------
# --mem below the image

@pytest.mark.parametrize("mem,limit", [(2, 0x200000), (4, 0x400000)])
def test_mem_below_the_image(run_skiff, asm, mem, limit):
    """probe_big's data segment (3 MiB of file data) ends past 4 MiB."""
    r = run_skiff(f"--mem={mem}", asm["probe_big"], "ok")
    expect_monitor_error(r, f"phdr[2] program file segment falls outside of valid range "
                            f"(p_vaddr + p_filesz > {limit:#x} (mem_size))")
    assert len(r.stderr_lines) == 1 and r.stdout == b"", r.describe()


@pytest.mark.kvm
def test_mem_just_above_the_image(run_skiff, asm):
    syms = helpers.elf_symbols(asm["probe_big"])
    r = run_skiff("--mem=6", asm["probe_big"], f"{syms['big_end'] - 1:#x}", "rdb", "0xa5", "expect",
                  f"{syms['big_start']:#x}", "rdb", "0xa5", "expect", "ok")
    expect_status(r, 0)


def test_mem_below_a_segment_at_the_top(run_skiff):
    """A fixture whose data segment ends exactly at 512 MiB: any smaller --mem refuses it."""
    r = run_skiff("--mem=510", helpers.FIXTURES_DIR / "ok_segment_ends_at_mem_top.elf")
    expect_monitor_error(r, "program file segment falls outside of valid range")


# ---------------------------------------------------------------------------
# Unreadable files (permissions enforced even for root: DAC capabilities dropped)

def run_without_dac(argv: list[str]) -> tuple[helpers.Result, float, list[int]]:
    return run_timed(argv, preexec_fn=helpers.drop_dac_override)


def test_unreadable_block_image(skiff, asm, tmp_path):
    img = tmp_path / "disk.img"
    img.write_bytes(bytes(4096))
    img.chmod(0)
    r, elapsed, left = run_without_dac([str(skiff), "run", f"--block:storage={img}", str(asm["probe_blk"]), "ok"])
    expect_clean_refusal(r, elapsed, left, f"Could not open block device: {img}: Permission denied")


def test_read_only_block_image(skiff, asm, tmp_path):
    """The monitor opens images read-write: a read-only (0444) image is refused, not attached read-only."""
    img = tmp_path / "disk.img"
    img.write_bytes(bytes(4096))
    img.chmod(0o444)
    r, elapsed, left = run_without_dac([str(skiff), "run", f"--block:storage={img}", str(asm["probe_blk"]), "ok"])
    expect_clean_refusal(r, elapsed, left, f"Could not open block device: {img}: Permission denied")


def test_block_image_in_a_directory_without_search_permission(skiff, asm, tmp_path):
    d = tmp_path / "locked"
    d.mkdir()
    img = d / "disk.img"
    img.write_bytes(bytes(4096))
    d.chmod(0)
    try:
        r, elapsed, left = run_without_dac([str(skiff), "run", f"--block:storage={img}", str(asm["probe_blk"]), "ok"])
    finally:
        d.chmod(0o755)
    expect_clean_refusal(r, elapsed, left, f"Could not open block device: {img}: Permission denied")


def test_unreadable_kernel(skiff, asm, tmp_path):
    k = tmp_path / "probe.hvt"
    k.write_bytes(asm["probe"].read_bytes())
    k.chmod(0)
    r, elapsed, left = run_without_dac([str(skiff), "run", str(k), "ok"])
    expect_clean_refusal(r, elapsed, left, f"{k}: Could not open: Permission denied")


# ---------------------------------------------------------------------------
# Interfaces that are not taps; special files

@pytest.mark.root
@pytest.mark.parametrize("kind", ["tun", "veth"])
def test_interface_that_is_not_a_tap(skiff, asm, netns, kind):
    if kind == "tun":
        netns.ip("tuntap", "add", "notap0", "mode", "tun")
    else:
        netns.ip("link", "add", "notap0", "type", "veth", "peer", "name", "notap1")
    netns.ip("link", "set", "notap0", "up")
    r, elapsed, left = run_timed(netns.exec_argv([str(skiff), "run", "--mem=64", "--net:service0=notap0",
                                                  str(asm["probe_net"]), "ok"]))
    expect_clean_refusal(r, elapsed, left, "Could not attach interface: notap0: Invalid argument")


def test_block_image_that_is_a_fifo(skiff, asm, tmp_path):
    fifo = tmp_path / "disk.fifo"
    os.mkfifo(fifo)
    r, elapsed, left = run_timed([str(skiff), "run", f"--block:storage={fifo}", str(asm["probe_blk"]), "ok"])
    expect_clean_refusal(r, elapsed, left, f"{fifo}: Could not determine capacity")


@pytest.mark.parametrize("command", ["run", "inspect"])
def test_kernel_that_is_a_fifo(skiff, tmp_path, command):
    fifo = tmp_path / "kernel.fifo"
    os.mkfifo(fifo)
    r = helpers.run([str(skiff), command, str(fifo)], timeout=3)
    expect_monitor_error(r, "not a regular file")
