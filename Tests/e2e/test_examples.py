"""test_examples.py: Examples/clock and Examples/blockcheck on hvt (Examples/netecho: test_swift_net.py and test_conformance.py)."""

from __future__ import annotations

import datetime
import re
import time

import pytest

from helpers import expect_monitor_error, expect_status, expect_success

pytestmark = [pytest.mark.kvm, pytest.mark.swift]

TICK = re.compile(r"^clock: tick (\d+)/(\d+): (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC, "
                  r"monotonic \+(\d+)\.(\d{3}) s \(slept (\d+) ms\)$")


def test_clock(run_skiff, example):
    t0 = time.monotonic()
    r = run_skiff("--mem=32", example("clock"), "3", "200")
    elapsed = time.monotonic() - t0
    expect_status(r, 0)
    lines = r.stdout.decode().splitlines()
    assert lines[0].startswith("clock: start: "), r.describe()
    ticks = [TICK.match(l) for l in lines[1:]]
    assert len(ticks) == 3 and all(ticks), r.describe()
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    previous = 0.0
    for i, m in enumerate(ticks, 1):
        assert (int(m.group(1)), int(m.group(2))) == (i, 3)
        wall = datetime.datetime.strptime(m.group(3), "%Y-%m-%d %H:%M:%S.%f")
        assert abs((now - wall).total_seconds()) < 30, f"guest wall clock {wall} vs host {now}"
        mono = int(m.group(4)) + int(m.group(5)) / 1000
        assert mono >= previous + 0.19, f"monotonic time did not advance by a sleep: {lines}"
        previous = mono
        assert 190 <= int(m.group(6)) <= 1000, f"a 200 ms sleep measured {m.group(6)} ms"
    assert elapsed >= 0.6


def test_clock_usage(run_skiff, example):
    r = run_skiff("--mem=32", example("clock"), "soon")
    expect_status(r, 2)
    assert b"usage: clock" in r.stdout


def _check_blockcheck_image(data: bytes, block_size: int, seed: int):
    for i in range(len(data) // block_size):
        b = data[i * block_size:(i + 1) * block_size]
        assert b[:24] == b"SKIFFBLK" + i.to_bytes(8, "little") + seed.to_bytes(8, "little"), f"block {i} header"
    # Spot-check the body of a few blocks.
    for i in sorted({0, 1, len(data) // block_size - 1} & set(range(len(data) // block_size))):
        body = data[i * block_size + 24:(i + 1) * block_size]
        assert body == bytes((i * 131 + seed + j) & 0xFF for j in range(24, block_size)), f"block {i} body"


@pytest.mark.parametrize("sector", [512, 4096])
def test_blockcheck(run_skiff, example, tmp_path, sector):
    img = tmp_path / "disk.img"
    img.write_bytes(b"\xee" * (4 << 20))
    r = run_skiff("--mem=64", f"--block:storage={img}", f"--block-sector-size:storage={sector}", "--",
                  example("blockcheck"), "12345")
    expect_success(r)
    assert f"verified {(4 << 20) // sector} blocks" in r.out, r.describe()
    _check_blockcheck_image(img.read_bytes(), sector, 12345)


def test_blockcheck_one_block_device(run_skiff, example, tmp_path):
    img = tmp_path / "disk.img"
    img.write_bytes(bytes(512))
    r = run_skiff("--mem=64", f"--block:storage={img}", example("blockcheck"), "7")
    expect_success(r)
    _check_blockcheck_image(img.read_bytes(), 512, 7)


def test_blockcheck_needs_its_device(run_skiff, example):
    expect_monitor_error(run_skiff("--mem=64", example("blockcheck")),
                         "Device 'storage' of type BLOCK_BASIC declared but not attached.")
