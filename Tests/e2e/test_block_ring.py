"""test_block_ring.py: Skiff's block ring extension (docs/block-ring.md) end to end with a Swift guest."""

from __future__ import annotations

import pytest

from helpers import expect_success

pytestmark = [pytest.mark.kvm, pytest.mark.swift]


def _expected(size: int, sector: int) -> bytes:
    return bytes(((o >> 9) * 7 + (o & 511)) & 0xFF for o in range(size))


@pytest.mark.parametrize("sector", [512, 4096])
def test_block_ring_round_trip(run_skiff, swift_guest, tmp_path, sector):
    size = 3 * 1024 * 1024 + 8192  # not a multiple of the 64 KiB requests: the last one is short
    img = tmp_path / "disk.img"
    img.write_bytes(bytes(size))
    r = run_skiff("--mem=64", f"--block:storage={img}", f"--block-sector-size:storage={sector}", "--",
                  swift_guest("blkring"))
    expect_success(r)
    assert "accelerated=true" in r.out, r.describe()
    assert img.read_bytes() == _expected(size, sector), "image content after the batched writes"


def test_block_ring_hypercall_needs_a_block_device(probe):
    # Without --block the extension is not offered: port 0x509 is an invalid port, as upstream.
    r = probe("argblk 0x509 outl")
    assert r.returncode == 1 and "Invalid guest port access: port=0x509" in r.stderr, r.describe()
