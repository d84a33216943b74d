"""test_elf_fixtures.py: every image of Tests/Fixtures/elf through `skiff run` (spec §2–3).

Rejections must exit 1 with the expected phrase on one line of stderr.
Accepted images are not checked beyond "not refused by the loader": their
code is `hlt` (an unhandled exit) and some declare devices that are not
attached, so they may fail later, but never with a loader message. The
verdicts assume the default 512 MiB, so no --mem is passed.

`skiff run` is a front-end for both architectures: an EM_AARCH64 image is
handed to the aarch64 runner instead of being refused by the x86_64 loader,
so for such files only "exit 1, not run as x86_64" is checked.
"""

from __future__ import annotations

import csv

import pytest

from helpers import FIXTURES_DIR, expect_monitor_error


def _rows():
    with open(FIXTURES_DIR / "expected.tsv", newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["arch"] in ("any", "x86_64")]
    return rows


ROWS = _rows()


def is_aarch64(path) -> bool:
    data = path.read_bytes()
    return len(data) >= 20 and data[:4] == b"\x7fELF" and int.from_bytes(data[18:20], "little") == 183
LOADER_PHRASES = sorted({r["substring"] for r in ROWS if r["expect"] == "reject" and r["substring"]})


@pytest.mark.parametrize("row", [r for r in ROWS if r["expect"] == "reject"], ids=lambda r: r["file"])
def test_rejected(run_skiff, row):
    path = FIXTURES_DIR / row["file"]
    r = run_skiff(path)
    if is_aarch64(path):
        expect_monitor_error(r)
    elif row["substring"]:
        expect_monitor_error(r, row["substring"])
    else:
        expect_monitor_error(r)
        assert r.stderr.strip(), "rejected without a message:\n" + r.describe()
    assert "unhandled exit" not in r.stderr, "the image ran:\n" + r.describe()


@pytest.mark.parametrize("row", [r for r in ROWS if r["expect"] == "ok"], ids=lambda r: r["file"])
def test_accepted(run_skiff, row):
    r = run_skiff(FIXTURES_DIR / row["file"], timeout=30)
    assert r.returncode >= 0, "the monitor died of a signal:\n" + r.describe()
    for phrase in LOADER_PHRASES + ["Solo5 manifest is invalid", f"{row['file']}: Could not open"]:
        assert phrase not in r.stderr, f"accepted image refused ({phrase!r}):\n" + r.describe()


def test_attach_check_of_accepted_fixtures(run_skiff, tmp_path):
    """Spec §4.5 on the fixtures that pass loading: which declared devices still need attaching."""
    img = tmp_path / "disk.img"
    img.write_bytes(bytes(4096))
    r = run_skiff(FIXTURES_DIR / "ok_mft_unknown_type.elf")
    expect_monitor_error(r, "of type <undefined type> declared but not attached.",
                         "All declared devices must be attached. See --help for syntax.")
    # Two entries named storage: the option attaches one, the other stays unattached.
    r = run_skiff(f"--block:storage={img}", FIXTURES_DIR / "ok_mft_duplicate_names.elf")
    expect_monitor_error(r, "Device 'storage' of type BLOCK_BASIC declared but not attached.")
    r = run_skiff(f"--block:storage={img}", FIXTURES_DIR / "ok_two_devices.elf")
    expect_monitor_error(r, "Device 'service0' of type NET_BASIC declared but not attached.")


@pytest.mark.kvm
def test_fixture_with_63_devices_attached_runs(run_skiff, tmp_path):
    images = []
    for i in range(63):
        images.append(tmp_path / f"s{i}.img")
        images[-1].write_bytes(bytes(512))
    r = run_skiff(*(f"--block:storage{i}={p}" for i, p in enumerate(images)), FIXTURES_DIR / "ok_63_block_devices.elf")
    # The fixture's code is `hlt`: getting there means every device attached.
    expect_monitor_error(r, "exit_reason=0x5")


@pytest.mark.kvm
def test_fixture_reserved_type_needs_no_attach(run_skiff):
    expect_monitor_error(run_skiff(FIXTURES_DIR / "ok_mft_reserved_type_in_entry1.elf"), "exit_reason=0x5")
