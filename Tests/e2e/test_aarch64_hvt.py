"""test_aarch64_hvt.py: `skiff build --arch aarch64 --platform hvt` images, checked without an arm64 KVM.

The hvt-aarch64 target (the conformance suite under skiff-hvt inside the
nested arm64 KVM machine, targets.py) runs these images; this file checks,
without any KVM, for every Example and every conformance guest (Tests/guests):

* the build succeeds and gives an EM_AARCH64 ELF with one PT_NOTE each for
  the Solo5 ABI1 note (target hvt, version 2) and the MFT1 manifest, W^X
  page-aligned PT_LOADs, the entry at 0x100000;
* `skiff inspect` reads it as an aarch64 hvt unikernel with its manifest;
* the arm64 tender (.build-aarch64/release/skiff-hvt) under qemu-user gets
  past every image, manifest and device check and loads it: the run ends at
  the vCPU (today the one line "hvt guests are not supported on aarch64 yet";
  with a KVM backend, a KVM error, since qemu-user has no arm64 /dev/kvm);
* `skiff run` on an x86_64 host hands it to the tender, which refuses the
  machine in one line;
* `--platform`/`--arch` errors are one line;
* the guest's page tables (arch/aarch64/mmu.c with the hvt layout) walked on
  the host (Guest/tests/mmu_hvt_test.c);
* (the guests themselves run on arm64 KVM under the arm64 tender in
  test_nested_arm64.py).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import struct
from pathlib import Path

import pytest

import helpers
from helpers import REPO, expect_monitor_error

pytestmark = [pytest.mark.swift]

BUILD_ARGS = ("--arch", "aarch64", "--platform", "hvt")

def skiff_builds(example: Path) -> bool:
    """Whether `skiff build` builds this Example: a package with dependencies besides Skiff (Examples/greeter)
    is built by `swift build --swift-sdk` instead (test_install.py)."""
    manifest = example / "Package.swift"
    return not manifest.exists() or manifest.read_text().count(".package(") <= 1


#: name -> source directory: every Example `skiff build` builds and every conformance guest.
SOURCES = {
    **{f"example_{p.name}": p for p in sorted(helpers.EXAMPLES_DIR.iterdir()) if p.is_dir() and skiff_builds(p)},
    **{p.name: p for p in sorted(helpers.SWIFT_GUESTS_DIR.iterdir()) if p.is_dir()},
}

ARM64_TENDER = Path(os.environ.get("SKIFF_HVT_AARCH64") or REPO / ".build-aarch64" / "release" / "skiff-hvt")
QEMU_USER = os.environ.get("SKIFF_QEMU_USER") or shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
NOT_YET = "hvt guests are not supported on aarch64 yet (this tender has no aarch64 KVM vCPU)"

PT_LOAD, PT_INTERP, PT_NOTE = 1, 3, 4


@pytest.fixture(scope="session")
def a64hvt(skiff, tmp_path_factory) -> helpers.SwiftBuilder:
    b = helpers.SwiftBuilder(skiff, tmp_path_factory.mktemp("hvt-aarch64"), BUILD_ARGS, ".hvt")
    b.build_all(SOURCES.values())
    return b


def elf_facts(path: Path) -> dict:
    """ELF header fields, program headers and the Solo5 notes (first note of each PT_NOTE)."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, f"{path} is not an ELF64 LSB file"
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    e_entry, e_phoff = struct.unpack_from("<QQ", data, 24)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    phdrs, notes = [], []
    for i in range(e_phnum):
        p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz, p_align = struct.unpack_from(
            "<IIQQQQQQ", data, e_phoff + i * e_phentsize)
        phdrs.append(dict(type=p_type, flags=p_flags, offset=p_offset, vaddr=p_vaddr,
                          filesz=p_filesz, memsz=p_memsz, align=p_align))
        if p_type == PT_NOTE and p_filesz >= 20:
            namesz, descsz, ntype = struct.unpack_from("<III", data, p_offset)
            name = data[p_offset + 12:p_offset + 12 + namesz]
            desc_at = p_offset + 12 + ((namesz + 3) & ~3)
            notes.append(dict(name=name, type=ntype, desc=data[desc_at:desc_at + descsz]))
    return dict(type=e_type, machine=e_machine, entry=e_entry, phdrs=phdrs, notes=notes)


@pytest.mark.parametrize("name", SOURCES)
def test_image_is_an_aarch64_hvt_elf(a64hvt, name):
    f = elf_facts(a64hvt.build(SOURCES[name]))
    assert f["type"] == 2 and f["machine"] == 183 and f["entry"] == 0x100000
    assert f["phdrs"][0]["type"] == PT_INTERP
    abi = [n for n in f["notes"] if n["name"] == b"Solo5\0" and n["type"] == 0x31494241]
    mft = [n for n in f["notes"] if n["name"] == b"Solo5\0" and n["type"] == 0x3154464D]
    assert len(abi) == 1 and struct.unpack_from("<II", abi[0]["desc"]) == (1, 2), "ABI1: hvt, version 2"
    assert len(mft) == 1 and struct.unpack_from("<I", mft[0]["desc"], 4)[0] == 1, "MFT1 version 1"
    end = 0
    for p in (p for p in f["phdrs"] if p["type"] == PT_LOAD):
        assert p["flags"] & 3 != 3, f"W+X segment {p}"
        assert p["vaddr"] % 0x1000 == 0 and p["vaddr"] >= max(end, 0x100000), f"segment out of order {p}"
        end = (p["vaddr"] + p["memsz"] + 0xfff) & ~0xfff
    assert [p["flags"] for p in f["phdrs"] if p["type"] == PT_LOAD] == [5, 4, 6, 6, 6]


@pytest.mark.parametrize("name", SOURCES)
def test_inspect_shows_an_aarch64_hvt_unikernel(a64hvt, skiff, name):
    image = a64hvt.build(SOURCES[name])
    r = helpers.run([str(skiff), "inspect", str(image)])
    assert r.returncode == 0, r.describe()
    assert r.stdout.decode().splitlines()[:2] == [f"{image}: aarch64 hvt unikernel, ABI version 2", "entry: 0x100000"]
    j = json.loads(helpers.run([str(skiff), "inspect", "--json", str(image)]).stdout)
    assert j["machine"] == "aarch64" and j["abi"] == {"type": "solo5.abi", "target": "hvt", "version": 2}
    manifest = SOURCES[name] / "manifest.json"
    declared = json.loads(manifest.read_text())["devices"] if manifest.exists() else []
    assert [(d["name"], d["type"]) for d in j["manifest"]["devices"]] == [(d["name"], d["type"]) for d in declared]


def _tender_missing() -> str | None:
    if not QEMU_USER:
        return "qemu-aarch64 (qemu-user) not found"
    if not ARM64_TENDER.exists():
        return f"{ARM64_TENDER} not built (scripts/build-embedded aarch64)"
    return None


def _declares_net(source: Path) -> bool:
    """True for guests whose manifest declares a network device (netecho, http, udp-echo, net*)."""
    manifest = source / "manifest.json"
    return manifest.exists() and "NET_BASIC" in manifest.read_text()


@pytest.mark.parametrize("name", [n for n in SOURCES if not (n.startswith("net") or _declares_net(SOURCES[n]))])
def test_arm64_tender_loads_it(a64hvt, tmp_path, name):
    """Every check of the arm64 tender before the vCPU passes: ELF header, notes, manifest, options,
    devices attached (block images), memory, segments loaded. Net guests need a tap: not here."""
    if why := _tender_missing():
        pytest.skip(why)
    image = a64hvt.build(SOURCES[name])
    devices = json.loads(helpers.run([str(a64hvt.skiff), "inspect", "--json", str(image)]).stdout)["manifest"]["devices"]
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(1 << 16))
    options = [f"--block:{d['name']}={disk}" for d in devices if d["type"] == "BLOCK_BASIC"]
    r = helpers.run([QEMU_USER, str(ARM64_TENDER), "--mem=64", *options, str(image), "arg"])
    assert r.returncode == 1, r.describe()
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.describe()
    assert lines[0] == f"skiff-hvt: {NOT_YET}" or "kvm" in lines[0].lower(), \
        "the tender stopped before the vCPU:\n" + r.describe()


def test_x86_64_tender_refuses_it_in_one_line(a64hvt, run_skiff):
    """`skiff run` sends an aarch64 hvt ELF to the tender (not to QEMU); on x86_64 it names the machine."""
    if platform.machine() != "x86_64":
        pytest.skip("x86_64 host only")
    image = a64hvt.build(SOURCES["example_hello"])
    r = run_skiff(image)
    expect_monitor_error(r, "wrong e_machine 183")
    assert len(r.stderr.strip().splitlines()) == 1, r.describe()


@pytest.mark.parametrize("args, message", [
    (("--arch", "x86_64", "--platform", "virt"),
     "--arch x86_64 --platform virt is not a supported pair (supported: --arch x86_64 --platform hvt, "
     "--arch aarch64 --platform virt, --arch aarch64 --platform hvt, --arch x86_64 --platform xen, "
     "--arch aarch64 --platform xen)"),
    (("--arch", "aarch64", "--platform", "firecracker"),
     "--platform firecracker is not supported (supported: hvt, virt, xen)"),
    (("--arch", "riscv64", "--platform", "hvt"), "--arch riscv64 is not supported (supported: x86_64, aarch64)"),
])
def test_platform_errors_are_one_line(skiff, tmp_path, args, message):
    r = helpers.run([str(skiff), "build", *args, str(helpers.EXAMPLES_DIR / "hello"), "-o", str(tmp_path / "x")])
    assert r.returncode == 1, r.describe()
    errors = [l for l in r.stderr.splitlines() if l.startswith("skiff build:")]
    assert errors == [f"skiff build: {message}"], r.describe()
    assert not (tmp_path / "x").exists()


def test_guest_page_tables_on_the_host(tmp_path):
    """Guest/tests/mmu_hvt_test.c: arch/aarch64/mmu.c with the hvt aarch64 layout, built for the host and
    walked like the MMU with the tender's TCR_EL1: every range of docs/boot-aarch64-hvt.md's map."""
    clang = shutil.which("clang") or shutil.which("cc")
    if not clang:
        pytest.skip("NO CLANG: a host C compiler is needed to build Guest/tests/mmu_hvt_test.c")
    g = REPO / "Guest"
    symbols = {"__skiff_image_start": "0x100000", "__skiff_text_end": "0x1089d8", "__skiff_rodata_start": "0x109000",
               "__skiff_data_start": "0x10a000", "__skiff_guard": "0x113000", "__skiff_stack_bottom": "0x114000",
               "__skiff_image_end": "0x227000", "__skiff_pt_end": "__skiff_pt_start+0x40000"}
    out = tmp_path / "mmu_hvt_test"
    includes = [f"-I{g / d}" for d in ("tests/host", "platform/hvt/aarch64", "arch/aarch64", "common", "include")]
    cmd = [clang, "-O1", "-fno-pic", "-no-pie", "-std=c11", "-Wall", "-Werror", *includes,
           f"-I{REPO / 'Sources/CSkiffABI/include'}", str(g / "tests/mmu_hvt_test.c"), str(g / "arch/aarch64/mmu.c"),
           "-Wl," + ",".join(f"--defsym={k}={v}" for k, v in symbols.items()), "-o", str(out)]
    r = helpers.run(cmd, timeout=120)
    assert r.returncode == 0, "building mmu_hvt_test failed:\n" + r.describe()
    r = helpers.run([str(out)])
    assert r.returncode == 0 and r.stdout.decode().strip() == "ok", r.describe()
