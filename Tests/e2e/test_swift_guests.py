"""test_swift_guests.py: the Embedded Swift conformance guests of Tests/guests (Solo5 tests.bats, spec §14).

Built with `skiff build` (skipped, loudly, while it is unavailable). Runs
follow Solo5's `hvt_run`: --mem=4096 unless a test says otherwise (the
network guests are in test_swift_net.py).
"""

from __future__ import annotations

import os
import re
import time

import pytest

import helpers
from helpers import expect_abort, expect_monitor_error, expect_status, expect_success

pytestmark = [pytest.mark.kvm, pytest.mark.swift]

MEM = "--mem=4096"


def test_hello(run_skiff, swift_guest):
    r = run_skiff(MEM, swift_guest("hello"), "Hello_Solo5")
    expect_success(r)
    assert "command line: [Hello_Solo5]" in r.out, r.describe()
    assert r.stderr == "", r.describe()


def test_hello_wrong_arguments_fail(run_skiff, swift_guest):
    r = run_skiff(MEM, swift_guest("hello"), "Hello", "", "Solo5")
    expect_status(r, 1)
    lines = r.stdout.decode().splitlines()
    assert "command line: [Hello  Solo5]" in lines, r.describe()
    # Skiff.arguments splits on spaces and drops empty pieces.
    assert [l for l in lines if l.startswith("arg[")] == ["arg[0]: [Hello]", "arg[1]: [Solo5]"], r.describe()


def test_hello_long_command_line(run_skiff, swift_guest):
    arg = "x" * 8191
    r = run_skiff(MEM, swift_guest("hello"), arg)
    expect_status(r, 1)
    assert f"command line: [{arg}]" in r.out


def test_quiet(run_skiff, swift_guest):
    r = run_skiff(MEM, "--", swift_guest("quiet"), "--solo5:quiet")
    expect_success(r)
    assert "Solo5:" not in r.out and "Skiff:" not in r.out, r.describe()
    assert r.stdout == b"SUCCESS\n" and r.stderr == "", r.describe()


def _output_block(lines: int) -> bytes:
    out = []
    for i in range(lines):
        out.append(f"line {i:03d}: " + "".join(chr(0x61 + (i + j) % 26) for j in range(64)) + "\n")
    return "".join(out).encode()


def test_output(run_skiff, swift_guest):
    r = run_skiff(MEM, swift_guest("output"), "Output_Solo5")
    expect_success(r)
    want = (b"output: Output_Solo5\n" + _output_block(56) + b"no newline yet, " + _output_block(874) + b"SUCCESS\n")
    assert r.stdout == want, f"{len(r.stdout)} bytes, want {len(want)}; first difference at " + str(
        next((i for i, (a, b) in enumerate(zip(r.stdout, want)) if a != b), min(len(r.stdout), len(want))))


def test_globals(run_skiff, swift_guest):
    r = run_skiff(MEM, swift_guest("globals"))
    expect_success(r)
    assert r.stdout == b"SUCCESS\n", r.describe()


def test_exception(run_skiff, swift_guest):
    r = run_skiff(MEM, swift_guest("exception"))
    expect_abort(r)
    assert "#PF" in r.out and "cr2=0x400000000" in r.out, r.describe()


def test_zeropage(run_skiff, swift_guest):
    r = run_skiff(MEM, swift_guest("zeropage"))
    expect_abort(r)
    assert "#PF" in r.out and "cr2=0x8" in r.out, r.describe()


def test_xnow(run_skiff, swift_guest):
    """Write into text. Upstream's Linux expectation is the tender's translation fault (exit 1); a Skiff
    guest's own page tables map text read-only, so it is a #PF inside the guest: ABORT (255)."""
    r = run_skiff(MEM, swift_guest("xnow"))
    expect_abort(r)
    assert "#PF" in r.out and "translation fault" not in r.out, r.describe()


def test_execute_data(run_skiff, swift_guest):
    """Execute from writable data: the NX bit (EFER.NXE in Skiff guests) gives a #PF on instruction fetch."""
    r = run_skiff(MEM, swift_guest("nxdata"))
    expect_abort(r)
    m = re.search(r"#PF ec=(0x[0-9a-f]+)", r.out)
    assert m and int(m.group(1), 16) & 0x10, "expected an instruction-fetch #PF (ec bit 4):\n" + r.describe()


def test_ssp(run_skiff, swift_guest):
    r = run_skiff(MEM, swift_guest("ssp"))
    expect_abort(r)
    assert "Stack corruption detected" in r.out, r.describe()


def test_fpu(run_skiff, swift_guest):
    r = run_skiff(MEM, swift_guest("fpu"), "3", "4")
    expect_success(r)


def test_time(run_skiff, swift_guest):
    t0 = time.monotonic()
    r = run_skiff(MEM, swift_guest("time"))
    elapsed = time.monotonic() - t0
    expect_success(r)
    assert elapsed >= 1.6, f"two 1 s sleeps took {elapsed:.2f} s of host time"


def _blk_image(tmp_path, size=4 << 20):
    img = tmp_path / "storage.img"
    img.write_bytes(bytes(size))
    return img


def _check_blk_pattern(img, block_size):
    data = img.read_bytes()
    blocks = len(data) // block_size
    checked = list(range(0, blocks, 10)) + [blocks - 1]
    for i in checked:
        b = data[i * block_size:(i + 1) * block_size]
        want = bytes((i + j) & 0xFF for j in range(block_size))
        want = i.to_bytes(8, "little") + want[8:]
        assert b == want, f"block {i} differs on the host"
    # A block the guest never wrote stays zero.
    assert data[block_size:2 * block_size] == bytes(block_size)


@pytest.mark.parametrize("sector", [512, 4096])
def test_blk(run_skiff, swift_guest, tmp_path, sector):
    img = _blk_image(tmp_path)
    r = run_skiff(MEM, f"--block:storage={img}", f"--block-sector-size:storage={sector}", "--",
                  swift_guest("blk"))
    expect_success(r)
    assert f"block size {sector}," in r.out, r.describe()
    _check_blk_pattern(img, sector)


def test_blk_not_attached(run_skiff, swift_guest):
    expect_monitor_error(run_skiff(MEM, swift_guest("blk")),
                         "Device 'storage' of type BLOCK_BASIC declared but not attached.")


def test_blk_misaligned_image(run_skiff, swift_guest, tmp_path):
    img = _blk_image(tmp_path, 6 * 1024)
    expect_monitor_error(run_skiff(MEM, f"--block:storage={img}", "--block-sector-size:storage=4096",
                                   swift_guest("blk")), "Backing storage size must be block aligned")


def test_mft_maxdevices(run_skiff, swift_guest, tmp_path):
    images = []
    for i in range(63):
        img = tmp_path / f"storage{i}.img"
        img.write_bytes(bytes(4096))
        images.append(img)
    r = run_skiff(MEM, *(f"--block:storage{i}={img}" for i, img in enumerate(images)), "--",
                  swift_guest("mft_maxdevices"))
    expect_success(r)
    assert images[0].read_bytes()[:5] == b"first"
    assert images[62].read_bytes()[-512:-508] == b"last"


def test_image_does_not_run_on_the_host(swift_guest):
    """Solo5's "noexec host": the image's PT_INTERP names a nonexistent interpreter, so the host
    kernel refuses to exec it (the shell reports 127 and "No such file or directory")."""
    path = swift_guest("hello")
    os.chmod(path, 0o755)
    r = helpers.run(["/bin/sh", "-c", '"$0" Hello_Solo5', str(path)], timeout=30)
    assert r.returncode == 127, r.describe()
    assert "No such file or directory" in r.stderr or "not found" in r.stderr, r.describe()


@pytest.mark.parametrize("mode", ["index", "overflow", "oom", "fatal"])
def test_swift_runtime_traps_abort(run_skiff, swift_guest, mode):
    r = run_skiff("--mem=16", swift_guest("trap"), mode)
    expect_abort(r)
    assert f"trap: {mode}" in r.out and "FAILURE" not in r.out, r.describe()


@pytest.mark.xfail(strict=True, reason="runtime: the message of fatalError() is not printed (Embedded Swift -O "
                   "drops it); the abort line only says '#UD'")
def test_fatal_error_message_is_printed(run_skiff, swift_guest):
    r = run_skiff("--mem=16", swift_guest("trap"), "fatal")
    expect_abort(r)
    assert "fatalError called" in r.out, r.describe()


def test_stack_overflow(run_skiff, swift_guest):
    r = run_skiff("--mem=64", swift_guest("stackoverflow"))
    expect_abort(r)
    assert "#PF" in r.out and "stack overflow" in r.out, r.describe()
