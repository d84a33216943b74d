"""test_inspect.py: `skiff inspect [--json] KERNEL` on test guests, fixtures and built Swift guests (no KVM needed)."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

import helpers
from helpers import FIXTURES_DIR, SWIFT_GUESTS_DIR


def inspect(skiff, *args):
    return helpers.run([str(skiff), "inspect", *map(str, args)])


def inspect_json(skiff, path):
    r = inspect(skiff, "--json", path)
    assert r.returncode == 0, r.describe()
    try:
        return json.loads(r.stdout)
    except json.JSONDecodeError as e:
        raise AssertionError(f"not JSON ({e}):\n" + r.describe())


@pytest.mark.parametrize("guest,devices", [
    ("probe", []),
    ("probe_blk", [("storage", "BLOCK_BASIC")]),
    ("probe_net", [("service0", "NET_BASIC")]),
    ("probe_blknet", [("storage", "BLOCK_BASIC"), ("service0", "NET_BASIC")]),
    ("probe_maxdev", [(f"storage{i}", "BLOCK_BASIC") for i in range(63)]),
])
def test_inspect_json_of_asm_guests(skiff, asm, guest, devices):
    j = inspect_json(skiff, asm[guest])
    assert j["abi"] == {"type": "solo5.abi", "target": "hvt", "version": 2}
    assert j["machine"] == "x86_64" and j["entry"] == "0x100000"
    assert j["manifest"]["type"] == "solo5.manifest" and j["manifest"]["version"] == 1
    assert [(d["name"], d["type"]) for d in j["manifest"]["devices"]] == devices


def test_inspect_text(skiff, asm):
    r = inspect(skiff, asm["probe_blknet"])
    assert r.returncode == 0, r.describe()
    lines = r.stdout.decode().splitlines()
    assert "ABI version 2" in lines[0] and "devices: 2" in lines
    assert any("BLOCK_BASIC" in l and "storage" in l for l in lines)
    assert any("NET_BASIC" in l and "service0" in l for l in lines)


def test_inspect_json_escapes_the_file_name(skiff, asm, tmp_path):
    odd = tmp_path / 'a "quoted" \\ name\t.hvt'
    shutil.copy(asm["probe"], odd)
    assert inspect_json(skiff, odd)["file"] == str(odd)


def test_inspect_unknown_device_type(skiff):
    j = inspect_json(skiff, FIXTURES_DIR / "ok_mft_unknown_type.elf")
    assert len(j["manifest"]["devices"]) == 1


def test_inspect_errors(skiff, tmp_path):
    r = inspect(skiff)
    assert r.returncode == 1, r.describe()
    r = inspect(skiff, tmp_path / "missing.hvt")
    assert r.returncode == 1 and "Could not open" in r.stderr, r.describe()


def _reject_rows():
    with open(FIXTURES_DIR / "expected.tsv", newline="") as f:
        return [r for r in csv.DictReader(f, delimiter="\t")
                if r["expect"] == "reject" and r["arch"] in ("any", "x86_64") and r["substring"]
                and not r["file"].startswith(("entry_", "seg_", "order_entry", "order_phdr"))
                and not _is_aarch64(FIXTURES_DIR / r["file"])]


def _is_aarch64(path) -> bool:
    data = path.read_bytes()[:20]
    return len(data) == 20 and data[:4] == b"\x7fELF" and int.from_bytes(data[18:20], "little") == 183


@pytest.mark.parametrize("row", _reject_rows(), ids=lambda r: r["file"])
def test_inspect_refuses_bad_notes_like_run(skiff, row):
    """Header, note and manifest errors (not the load-time checks, which need a memory size)."""
    r = inspect(skiff, FIXTURES_DIR / row["file"])
    assert r.returncode == 1 and row["substring"] in r.stderr, r.describe()


def _guest_dirs_with_manifest():
    return sorted(p.name for p in SWIFT_GUESTS_DIR.iterdir() if (p / "manifest.json").exists())


@pytest.mark.swift
@pytest.mark.parametrize("name", _guest_dirs_with_manifest())
def test_built_manifest_matches_manifest_json(skiff, swift_guest, name):
    """skiff build turns manifest.json into the MFT1 note: same devices, same order."""
    declared = json.loads((SWIFT_GUESTS_DIR / name / "manifest.json").read_text())["devices"]
    j = inspect_json(skiff, swift_guest(name))
    assert j["manifest"]["devices"] == [{"name": d["name"], "type": d["type"]} for d in declared]


# ---------------------------------------------------------------------------
# `skiff inspect --dtb`: the device tree skiff-hvt writes for an arm64 Image (docs/boot-aarch64-linux.md)

@pytest.fixture(scope="module")
def virt_blk(builders):
    """Tests/guests/blk as a virt-platform arm64 Image (declares `storage`)."""
    return builders["virt-aarch64"].build(SWIFT_GUESTS_DIR / "blk")


def test_inspect_dtb_source_compiles_to_the_monitors_blob(skiff, virt_blk, tmp_path):
    """The DTS `--dtb` prints is what dtc compiles, byte for byte, into the blob the monitor writes (`--binary`)."""
    dtc = shutil.which("dtc")
    if dtc is None:
        pytest.skip("NO DTC: dtc (Debian package device-tree-compiler, scripts/setup) is not installed")
    disk = helpers.zero_image(tmp_path / "d.img", 1 << 20)
    opts = ["--mem=128", f"--block:storage={disk}", virt_blk, "a", "b"]
    src = inspect(skiff, "--dtb", *opts)
    assert src.returncode == 0 and src.stderr == "", src.describe()
    assert 'bootargs = "skiff.block=storage -- a b";' in src.out, src.describe()
    assert "reg = <0x0 0x40000000 0x0 0x8000000>;" in src.out and "virtio_mmio@a000000 {" in src.out, src.describe()
    blob = helpers.run([str(skiff), "inspect", "--dtb", "--binary", *map(str, opts)])
    assert blob.returncode == 0 and blob.stdout[:4] == b"\xd0\x0d\xfe\xed", blob.describe()
    (tmp_path / "t.dts").write_text(src.out)
    r = helpers.run([dtc, "-q", "-I", "dts", "-O", "dtb", "-o", str(tmp_path / "t.dtb"), str(tmp_path / "t.dts")])
    assert r.returncode == 0, r.describe()
    assert (tmp_path / "t.dtb").read_bytes() == blob.stdout


def test_inspect_dtb_refusals_are_the_monitors(skiff, virt_blk, asm):
    """A device the image does not declare, and anything that is not an arm64 Image: one line, status 1."""
    r = inspect(skiff, "--dtb", "--block:nosuch=/dev/null", virt_blk)
    assert r.returncode == 1 and len(r.stderr_lines) == 1 and "nosuch" in r.stderr, r.describe()
    r = inspect(skiff, "--dtb", asm["probe"])
    assert r.returncode == 1 and "not an arm64 Image" in r.stderr and len(r.stderr_lines) == 1, r.describe()
