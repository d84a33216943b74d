"""test_tender.py: skiff-hvt, the per-VM tender: static and small, solo5-hvt's names, used by `skiff run`, and its arm64 build."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

import helpers
from helpers import REPO, FIXTURES_DIR

TENDER = REPO / ".build-static" / "release" / "skiff-hvt"
TENDER_ARM64 = REPO / ".build-aarch64" / "release" / "skiff-hvt"


def elf_facts(path: Path) -> dict:
    """e_machine, and whether the file asks for a dynamic loader (PT_INTERP) or has PT_DYNAMIC."""
    b = path.read_bytes()
    assert b[:4] == b"\x7fELF", f"{path} is not an ELF file"
    machine = struct.unpack_from("<H", b, 18)[0]
    phoff, = struct.unpack_from("<Q", b, 32)
    phnum, = struct.unpack_from("<H", b, 56)
    types = {struct.unpack_from("<I", b, phoff + 56 * i)[0] for i in range(phnum)}
    return {"machine": machine, "interp": 3 in types, "dynamic": 2 in types, "size": len(b)}


def need(path: Path):
    if not path.exists():
        pytest.skip(f"NO TENDER BUILD: {path} missing (scripts/build makes it)")


@pytest.fixture(scope="module")
def tender_dir(tmp_path_factory) -> Path:
    """The x86_64 tender under its three names, in a directory of its own."""
    need(TENDER)
    d = tmp_path_factory.mktemp("tender")
    for name in ("skiff-hvt", "solo5-hvt", "solo5-hvt-debug"):
        shutil.copy2(TENDER, d / name)
    return d


def test_tender_is_static_and_small():
    need(TENDER)
    f = elf_facts(TENDER)
    assert f["machine"] == 62
    assert not f["interp"] and not f["dynamic"], "skiff-hvt must be a static executable"
    assert f["size"] <= 512 * 1024, f"skiff-hvt is {f['size']} bytes (target: at most 512 KiB)"


@pytest.mark.kvm
@pytest.mark.parametrize("name", ["skiff-hvt", "solo5-hvt", "solo5-hvt-debug"])
def test_tender_names(tender_dir, swift_guest, name):
    exe = tender_dir / name
    r = helpers.run([str(exe), "--mem=64", str(swift_guest("hello")), "Hello_Solo5"])
    assert r.returncode == 0, r.out
    assert b"SUCCESS" in r.stdout
    bad = helpers.run([str(exe), "--frob", "x.hvt"])
    assert bad.returncode == 1
    assert bad.stderr.splitlines()[0] == f"{name}: Invalid option: `--frob'"
    assert f"usage: {name} [OPTIONS]" in bad.stderr
    v = helpers.run([str(exe), "--version"])
    assert v.returncode == 0 and v.stdout.decode().startswith(f"{name} ") and b"ABI version 2" in v.stdout


@pytest.mark.kvm
def test_skiff_run_execs_the_tender(tmp_path, swift_guest, skiff):
    """`skiff run` of an hvt image replaces itself with the skiff-hvt beside it (messages still say skiff)."""
    need(TENDER)
    shutil.copy2(skiff, tmp_path / "skiff")
    shutil.copy2(TENDER, tmp_path / "skiff-hvt")
    guest = swift_guest("time")   # runs long enough to look at the process
    p = subprocess.Popen([str(tmp_path / "skiff"), "run", "--mem=64", str(guest)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        exe = ""
        for _ in range(100):
            try:
                exe = os.readlink(f"/proc/{p.pid}/exe")
            except OSError:
                break
            if exe.endswith("skiff-hvt"):
                break
            time.sleep(0.02)
        out, err = p.communicate(timeout=helpers.RUN_TIMEOUT)
    finally:
        p.kill()
    assert exe == str(tmp_path / "skiff-hvt"), exe
    assert p.returncode == 0, err
    bad = helpers.run([str(tmp_path / "skiff"), "run", "--frob", str(guest)])
    assert bad.returncode == 1 and bad.stderr.startswith("skiff: Invalid option: `--frob'"), bad.stderr
    assert "usage: skiff run [OPTIONS]" in bad.stderr


def qemu_aarch64() -> str:
    q = shutil.which("qemu-aarch64")
    if q is None:
        pytest.skip("NO QEMU USER: qemu-aarch64 missing (scripts/setup installs qemu-user)")
    return q


def test_arm64_tender_is_static_aarch64():
    need(TENDER_ARM64)
    f = elf_facts(TENDER_ARM64)
    assert f["machine"] == 183
    assert not f["interp"] and not f["dynamic"]


def test_arm64_tender_runs_and_fails_without_kvm_with_one_line():
    need(TENDER_ARM64)
    q = qemu_aarch64()
    v = helpers.run([q, str(TENDER_ARM64), "--version"])
    assert v.returncode == 0 and v.stdout.startswith(b"skiff-hvt ") and b"ABI version 2" in v.stdout
    # An x86_64 image: the header check names the machine.
    x86 = helpers.run([q, str(TENDER_ARM64), str(FIXTURES_DIR / "ok_baseline.elf")])
    assert x86.returncode == 1
    assert x86.stderr.strip().splitlines() == [
        f"skiff-hvt: {FIXTURES_DIR / 'ok_baseline.elf'}: invalid or unsupported executable (wrong e_machine 62)"]
    # A valid aarch64 hvt image: checked, then the VM cannot be made here: qemu-user does not pass KVM
    # ioctls through (or there is no /dev/kvm). One line, status 1. (It runs in test_nested_arm64.py.)
    a64 = helpers.run([q, str(TENDER_ARM64), "--mem=8", str(FIXTURES_DIR / "hdr_machine_aarch64.elf")])
    assert a64.returncode == 1
    lines = a64.stderr.strip().splitlines()
    assert len(lines) == 1 and (lines[0] == "skiff-hvt: KVM: unsupported API version -1"
                                or lines[0].startswith("skiff-hvt: Could not open: /dev/kvm: ")), lines
