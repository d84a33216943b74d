"""test_c_shims.py: the C modules of the monitor compile against x86_64 and arm64 Linux headers (the tender builds for both)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import REPO

HEADERS = sorted((REPO / "Sources").glob("C*/include/*.h"))
SYSROOTS = {"x86_64-linux-gnu": None, "aarch64-linux-gnu": Path("/usr/aarch64-linux-gnu")}


def test_there_are_c_modules():
    names = {h.parent.parent.name for h in HEADERS}
    assert {"CSkiffABI", "CSkiffLinux", "CSkiffKVM"} <= names, names


@pytest.mark.parametrize("triple", sorted(SYSROOTS))
@pytest.mark.parametrize("header", HEADERS, ids=lambda h: f"{h.parent.parent.name}/{h.name}")
def test_header_compiles_for(header: Path, triple: str):
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("NO CLANG: clang is not in PATH")
    sysroot = SYSROOTS[triple]
    argv = [clang, "-target", triple, "-fsyntax-only", "-Wall", "-Werror", "-Wno-unused-const-variable", "-Wno-unused-function",
            "-x", "c", str(header)]
    if sysroot is not None:
        if not (sysroot / "include" / "linux" / "kvm.h").exists():
            pytest.skip(f"NO CROSS HEADERS: {sysroot}/include lacks linux/kvm.h (scripts/setup installs libc6-dev-arm64-cross)")
        argv[1:1] = ["--sysroot", str(sysroot)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
