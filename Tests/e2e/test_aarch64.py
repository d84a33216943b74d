"""test_aarch64.py: what only the virt-aarch64 target has: `skiff build --arch aarch64` images under qemu-system-aarch64 (TCG).

The conformance guests (Tests/guests) run on this target, and its CPU x GIC
matrix, in test_conformance.py (targets.py: virt-aarch64). Here: the
Examples on the matrix (`-cpu cortex-a57|max` x `gic-version=2|3`,
SKIFF_QEMU_CPU / SKIFF_QEMU_GIC, read by Sources/SkiffQEMU/QEMURunner.swift),
the EL2 entry path (virtualization=on), the image format, the DTB reader,
and QEMU command lines written by hand. Every test skips, loudly, when
qemu-system-aarch64 is missing (Debian: qemu-system-arm). No KVM needed.

Builds are the slow part (~3 s each): every image used is built once per
session, in parallel, by the virt-aarch64 target's builder (conftest
`builders`), which test_conformance.py shares.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest

import helpers
import targets
from helpers import expect_abort, expect_monitor_error, expect_status, expect_success

pytestmark = [pytest.mark.swift, pytest.mark.qemu]

VIRT = targets.BY_NAME["virt-aarch64"]
QEMU = targets.QEMU

#: The CPU x GIC variants the matrix tests run on.
MATRIX = [pytest.param(v, id=v.id) for v in VIRT.variants["matrix"]]

#: QEMU options of a hand-written command line that needs nothing `scripts/setup` does not install: without
#: -nodefaults (or -nic none), QEMU adds a PCI NIC and looks for its ROM, efi-virtio.rom (Debian ipxe-qemu,
#: a recommends of qemu-system-arm). With -nodefaults the serial port must be named.
QEMU_PLAIN = ["-nodefaults", "-nic", "none", "-display", "none", "-serial", "stdio"]

#: Everything the tests below build: name -> source directory.
IMAGES = {
    "hello_example": helpers.EXAMPLES_DIR / "hello",
    "clock": helpers.EXAMPLES_DIR / "clock",
    "blockcheck": helpers.EXAMPLES_DIR / "blockcheck",
    **{g: helpers.SWIFT_GUESTS_DIR / g for g in ["hello", "zeropage", "time", "blk"]},
}


class A64Images:
    """IMAGES built with the virt-aarch64 target's builder (all at once, in parallel) on first use."""

    def __init__(self, builder: helpers.SwiftBuilder):
        self.builder = builder

    def __getitem__(self, name: str) -> Path:
        self.builder.build_all(IMAGES.values())
        return self.builder.build(IMAGES[name])


@pytest.fixture(scope="session")
def a64(builders) -> A64Images:
    return A64Images(builders[VIRT.name])


def qemu_env(variant: targets.Variant = VIRT.variants["default"][0], machine=None) -> dict:
    env = VIRT.run_env(variant)
    if machine:
        env["SKIFF_QEMU_MACHINE"] = machine
    return env


def gic(g: str, cpu: str = "cortex-a57") -> targets.Variant:
    return targets.Variant(f"{cpu}-gicv{g}", {"SKIFF_QEMU_CPU": cpu, "SKIFF_QEMU_GIC": g})


def run(skiff, *args, variant=VIRT.variants["default"][0], machine=None, timeout=helpers.RUN_TIMEOUT) -> helpers.Result:
    return helpers.run([str(skiff), "run", *map(str, args)], timeout=timeout, env=qemu_env(variant, machine))


# ---------------------------------------------------------------------------
# The "done when": hello prints its arguments and exits 0.

@pytest.mark.parametrize("variant", MATRIX)
def test_hello_example(skiff, a64, variant):
    r = run(skiff, a64["hello_example"], "x", "y", variant=variant)
    expect_status(r, 0)
    assert r.stdout == b"hello: x y\n", r.describe()
    assert r.stderr == "", r.describe()


@pytest.mark.parametrize("g", ["2", "3"])
def test_hello_from_el2(skiff, a64, g):
    """virtualization=on: QEMU enters at EL2 and PSCI uses smc; boot.S drops to EL1."""
    r = run(skiff, a64["hello_example"], "el2", machine="virtualization=on", variant=gic(g))
    expect_status(r, 0)
    assert r.stdout == b"hello: el2\n", r.describe()


def test_abort_and_timer_from_el2(skiff, a64):
    """After the EL2 -> EL1 drop: exceptions reach our vectors, the timer wakes WFI, semihosting exits."""
    expect_abort(run(skiff, a64["zeropage"], machine="virtualization=on", variant=gic("3", "max")))
    expect_success(run(skiff, a64["time"], machine="virtualization=on", variant=gic("2")))


def test_hello_elf_form(skiff, a64):
    """OUT.elf runs too: QEMU's ELF loader passes x0 = 0 and puts the DTB at RAM base."""
    r = run(skiff, str(a64["hello_example"]) + ".elf", "elf")
    expect_status(r, 0)
    assert r.stdout == b"hello: elf\n", r.describe()


@pytest.mark.parametrize("mem", [16, 1024, 5000])
def test_memory_sizes(skiff, a64, mem):
    """The DTB moves with -m (Image boot: RAM base + min(RAM/2, 128 MiB)); RAM above 4 GiB is mapped."""
    r = run(skiff, f"--mem={mem}", a64["hello_example"], str(mem))
    expect_status(r, 0)
    assert r.stdout == f"hello: {mem}\n".encode(), r.describe()


def test_command_line_assembly(skiff, a64):
    """Same rules as hvt: single spaces, an empty argument gives two spaces, options after KERNEL are the guest's."""
    r = run(skiff, "--", a64["hello"], "Hello", "", "--mem=9", "skiff.block=x", "--", "\u2603")
    expect_status(r, 1)
    assert "command line: [Hello  --mem=9 skiff.block=x -- \u2603]" in r.stdout.decode(), r.describe()


def test_image_format(a64):
    """The raw Image: arm64 header (text_offset 0x200000, magic) + SKIFFIMG block; equal to llvm-objcopy's output."""
    img = a64["hello_example"]
    data = img.read_bytes()
    text_offset, image_size = struct.unpack_from("<QQ", data, 8)
    assert data[0x38:0x3C] == b"ARM\x64" and text_offset == 0x200000 and image_size >= len(data)
    assert data[0x40:0x48] == b"SKIFFIMG" and struct.unpack_from("<II", data, 0x48) == (1, 64)
    objcopy = shutil.which("llvm-objcopy") or (Path(shutil.which("swiftc") or "/x").resolve().parent / "llvm-objcopy")
    if objcopy and Path(objcopy).exists():
        flat = img.parent / "objcopy.bin"
        subprocess.run([str(objcopy), "-O", "binary", str(img) + ".elf", str(flat)], check=True)
        assert flat.read_bytes() == data, "the Image differs from llvm-objcopy -O binary of OUT.elf"


def test_inspect(skiff, a64):
    r = helpers.run([str(skiff), "inspect", str(a64["blockcheck"])])
    expect_status(r, 0)
    assert "aarch64 unikernel for QEMU virt (arm64 Image)" in r.out and "BLOCK_BASIC  storage" in r.out, r.describe()
    r = helpers.run([str(skiff), "inspect", "--json", str(a64["blockcheck"]) + ".elf"])
    expect_status(r, 0)
    assert '"platform": "qemu-virt"' in r.out and '"name": "storage"' in r.out, r.describe()


def test_sleep_does_not_spin(skiff, a64):
    """Sleeping is WFI, not a busy loop: QEMU uses little CPU while the guest sleeps 2 s."""
    before = os.times()
    r = run(skiff, a64["time"])
    after = os.times()
    expect_success(r)
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    assert cpu < 1.0, f"QEMU used {cpu:.2f} s of CPU for a guest that mostly sleeps"


def test_clock_example(skiff, a64):
    r = run(skiff, a64["clock"], "3", "200")
    expect_status(r, 0)
    lines = r.stdout.decode().splitlines()
    assert lines[0].startswith("clock: start: 20"), r.describe()
    assert len(lines) == 4 and lines[3].startswith("clock: tick 3/3: "), r.describe()
    for line in lines[1:]:
        slept = int(re.search(r"slept (\d+) ms", line).group(1))
        assert 190 <= slept <= 400, line


def test_blockcheck_example(skiff, a64, tmp_path):
    img = tmp_path / "disk.img"
    img.write_bytes(b"\xee" * (4 << 20))
    r = run(skiff, f"--block:storage={img}", a64["blockcheck"], "7")
    expect_success(r)
    data = img.read_bytes()
    for i in range(0, len(data) // 512, 97):
        assert data[i * 512:i * 512 + 24] == b"SKIFFBLK" + i.to_bytes(8, "little") + (7).to_bytes(8, "little")


def test_device_errors_match_the_monitor(skiff, a64, tmp_path):
    img = helpers.zero_image(tmp_path / "s.img")
    expect_monitor_error(run(skiff, f"--block:nothere={img}", a64["blk"]),
                         "Resource not declared in manifest: 'nothere'")
    expect_monitor_error(run(skiff, f"--block:storage={tmp_path / 'missing.img'}", a64["blk"]),
                         "Could not open block device")
    expect_monitor_error(run(skiff, a64["hello"], "z" * 8192), "Guest command line too long (max=8191 characters)")


def test_missing_qemu_is_reported(skiff, a64):
    env = qemu_env()
    env["SKIFF_QEMU"] = "/nonexistent/qemu-system-aarch64"
    r = helpers.run([str(skiff), "run", str(a64["hello_example"])], env=env)
    expect_monitor_error(r, "not found")


def test_sigterm_stops_the_guest(skiff, a64):
    """skiff forwards SIGTERM to QEMU and reports it like the monitor (exit 1)."""
    p = subprocess.Popen([str(skiff), "run", str(a64["clock"]), "100", "200"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=qemu_env(), start_new_session=True)
    try:
        time.sleep(1.0)
        p.send_signal(signal.SIGTERM)
        so, se = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 1 and "Exiting on signal 15" in se.decode(), (p.returncode, so, se)


def children_of(pid: int) -> list[int]:
    """The pids whose parent is `pid` (field 4 of /proc/PID/stat, read after the command name)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            found.append(int(d.name))
    return found


def running(pid: int) -> bool:
    """`pid` exists and is not a zombie (a killed orphan may stay unreaped where PID 1 does not reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_sigkill_of_skiff_takes_qemu_with_it(skiff, a64):
    """skiff run killed by SIGKILL (no chance to forward anything, as when an interrupted pytest kills it)
    leaves no QEMU behind: QEMU gets SIGKILL when its parent dies (QEMURunner.swift: spawnDyingWithParent)."""
    p = subprocess.Popen([str(skiff), "run", str(a64["clock"]), "1000", "200"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=qemu_env(), start_new_session=True)
    qemu: list[int] = []
    try:
        # The guest's first tick: QEMU is up and running it.
        ready, _, _ = select.select([p.stdout], [], [], 60)
        assert ready, "no output from the guest in 60 s"
        first = p.stdout.readline()
        assert first.startswith(b"clock: start: "), first
        qemu = children_of(p.pid)
        assert len(qemu) == 1 and running(qemu[0]), f"skiff's children: {qemu}"
        assert "qemu-system-aarch64" in Path(f"/proc/{qemu[0]}/cmdline").read_bytes().split(b"\0")[0].decode()
        p.kill()
        p.wait(timeout=10)
        deadline = time.monotonic() + 5
        while running(qemu[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(qemu[0]), f"QEMU (pid {qemu[0]}) still runs 5 s after skiff run was killed"
    finally:
        for pid in qemu:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)


# ---------------------------------------------------------------------------
# The DTB reader (Guest/drivers/fdt/fdt.c) on the host, against QEMU's own device trees.

@pytest.fixture(scope="session")
def fdt_test(tmp_path_factory) -> Path:
    """Guest/tests/fdt_test.c + Guest/drivers/fdt/fdt.c built for the host, with ASan/UBSan when available."""
    clang = helpers.tool("clang", "CLANG")
    if clang is None:
        pytest.skip("NO CLANG: clang is needed to build Guest/tests/fdt_test.c for the host")
    out = tmp_path_factory.mktemp("fdt") / "fdt_test"
    g = helpers.REPO / "Guest"
    src = [f"-I{g / 'drivers/fdt'}", f"-I{g / 'platform/virt'}", f"-I{g / 'arch/aarch64/mmu-off'}", f"-I{g / 'include'}",
           str(g / "tests/fdt_test.c"), str(g / "drivers/fdt/fdt.c"), "-o", str(out)]
    r = helpers.run([clang, "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", *src],
                    timeout=120)
    if r.returncode != 0:
        r = helpers.run([clang, "-O1", "-g", *src], timeout=120)
    assert r.returncode == 0, "building fdt_test failed:\n" + r.describe()
    return out


def _dump_dtb(tmp_path: Path, machine: str, cpu: str, mem: str, append: str | None) -> Path:
    dtb, kernel = tmp_path / "virt.dtb", tmp_path / "empty-kernel"
    kernel.write_bytes(b"")
    argv = [QEMU, "-machine", f"virt,{machine}dumpdtb={dtb}", "-cpu", cpu, "-m", mem, *QEMU_PLAIN,
            "-kernel", str(kernel)] + (["-append", append] if append else [])
    r = helpers.run(argv, timeout=60)
    assert r.returncode == 0 and dtb.exists(), r.describe()
    return dtb


@pytest.mark.parametrize("machine,cpu,mem,gic,psci", [
    ("", "cortex-a57", "512M", 2, "hvc"),
    ("gic-version=3,", "max", "1G", 3, "hvc"),
    ("virtualization=on,", "cortex-a57", "128M", 2, "smc"),
    ("virtualization=on,gic-version=3,", "max", "5G", 3, "smc"),
])
def test_fdt_reader(fdt_test, tmp_path, machine, cpu, mem, gic, psci):
    """Everything the runtime takes from the DTB: RAM, UART, RTC, GIC, timer PPI, PSCI conduit, virtio slots, bootargs."""
    dtb = _dump_dtb(tmp_path, machine, cpu, mem, "skiff.block=a -- x  y")
    r = helpers.run([str(fdt_test), str(dtb)])
    expect_status(r, 0)
    got = dict(line.split("=", 1) for line in r.stdout.decode().splitlines())
    size = int(mem[:-1]) << (30 if mem.endswith("G") else 20)
    assert got["ram"] == f"0x40000000+{size:#x}"
    assert got["uart"] == "0x9000000" and got["rtc"] == "0x9010000"
    assert got["gic"] == str(gic) and got["gicd"] == "0x8000000+0x10000"
    assert (got.get("gicc") == "0x8010000+0x10000") if gic == 2 else (got.get("gicr") == "0x80a0000+0xf60000")
    assert got["timer_intid"] == "27", "the virtual timer is PPI 11 (INTID 27) on virt"
    assert got["psci"] == psci and got["psci_v02"] == "1"
    assert got["virtio"] == "32"
    slots = sorted(v for k, v in got.items() if re.fullmatch(r"virtio\d+", k))
    assert len(slots) == 32 and all(s.endswith("edge=1") for s in slots)
    assert {s.split()[0] for s in slots} == {f"{0x0a000000 + 0x200 * n:#x}+0x200" for n in range(32)}
    assert {s.split()[1] for s in slots} == {f"intid={48 + n}" for n in range(32)}
    assert got["bootargs"] == "skiff.block=a -- x  y" and got["have_bootargs"] == "1"
    assert int(got["seed_len"]) >= 32, "QEMU's rng-seed (32 bytes) was not picked up"


def test_fdt_reader_survives_corrupt_trees(fdt_test, tmp_path):
    """Truncated and bit-flipped copies of a real DTB: refused or parsed, never a read out of bounds (ASan)."""
    dtb = _dump_dtb(tmp_path, "gic-version=3,", "cortex-a57", "256M", "a b")
    r = helpers.run([str(fdt_test), "--mutate", str(dtb)], timeout=300)
    expect_status(r, 0)
    assert b"mutations:" in r.stdout, r.describe()


# ---------------------------------------------------------------------------
# Booting without skiff run: what docs/boot-aarch64.md promises a hand-written QEMU command line.

def test_plain_qemu_without_semihosting(a64):
    """No semihosting: the HLT probe traps, the status is printed, PSCI powers off (QEMU exits 0)."""
    r = helpers.run([QEMU, "-machine", "virt", "-cpu", "cortex-a57", *QEMU_PLAIN, "-kernel",
                     str(a64["hello"]), "-append", "Hello"])
    expect_status(r, 0)
    assert b"Skiff: exit status 1 (no semihosting" in r.stdout, r.describe()


def test_plain_qemu_manifest_order(a64, tmp_path):
    """No skiff.* names on the command line: manifest block entries take virtio-blk devices in order."""
    img = helpers.zero_image(tmp_path / "s.img")
    r = helpers.run([QEMU, "-machine", "virt", "-cpu", "cortex-a57", *QEMU_PLAIN,
                     "-semihosting-config", "enable=on,target=native", "-global", "virtio-mmio.force-legacy=false",
                     "-kernel", str(a64["blk"]),
                     "-drive", f"if=none,format=raw,id=d0,file={img}", "-device", "virtio-blk-device,drive=d0"])
    expect_success(r)
