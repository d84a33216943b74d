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


def test_block_ring_one_gib(run_skiff, swift_guest, tmp_path):
    """1 GiB written, flushed, read back and verified byte by byte by the guest through the block ring."""
    size = 1 << 30
    img = tmp_path / "big.img"
    with open(img, "wb") as f:
        f.truncate(size)
    r = run_skiff("--mem=64", f"--block:storage={img}", "--", swift_guest("blkring"), timeout=300)
    expect_success(r)
    assert "accelerated=true requests=32768" in r.out, r.describe()
    # Spot-check the file from the host: 64 blocks spread over the image.
    with open(img, "rb") as f:
        for k in range(64):
            off = (k * 16769023) % (size - 512) & ~511
            f.seek(off)
            assert f.read(512) == _expected_at(off, 512), f"block at {off:#x}"


def _expected_at(off: int, n: int) -> bytes:
    return bytes((((o >> 9) * 7) + (o & 511)) & 0xFF for o in range(off, off + n))
