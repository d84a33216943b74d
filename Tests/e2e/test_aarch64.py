"""test_aarch64.py: Skiff on aarch64: `skiff build --arch aarch64` images run by `skiff run` under qemu-system-aarch64 (TCG).

The same Swift sources as the x86_64 suite (Examples/, Tests/guests/) are
built for the QEMU `virt` machine and run on a matrix of CPU models and GIC
versions: `-cpu cortex-a57|max` x `gic-version=2|3` (SKIFF_QEMU_CPU /
SKIFF_QEMU_GIC, read by Sources/SkiffQEMU/QEMURunner.swift), plus the EL2
entry path (virtualization=on). Every test skips, loudly, when
qemu-system-aarch64 is missing (Debian: qemu-system-arm). No KVM needed.

Builds are the slow part (~3 s each): every image used is built once per
session, in parallel, by the `a64` fixture. Network tests need root (a
private network namespace per test, as test_swift_net.py).
"""

from __future__ import annotations

import concurrent.futures
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
from helpers import expect_abort, expect_monitor_error, expect_status, expect_success

pytestmark = [pytest.mark.swift]

QEMU = os.environ.get("SKIFF_QEMU") or shutil.which("qemu-system-aarch64")

#: (cpu, gic) pairs every matrix test runs on.
MATRIX = [("cortex-a57", "2"), ("cortex-a57", "3"), ("max", "2"), ("max", "3")]
MATRIX_IDS = [f"{c}-gicv{g}" for c, g in MATRIX]

#: Everything the tests below build: name -> source directory.
IMAGES = {
    "hello_example": helpers.EXAMPLES_DIR / "hello",
    "clock": helpers.EXAMPLES_DIR / "clock",
    "blockcheck": helpers.EXAMPLES_DIR / "blockcheck",
    "netecho": helpers.EXAMPLES_DIR / "netecho",
    **{g: helpers.SWIFT_GUESTS_DIR / g for g in
       ["hello", "quiet", "output", "globals", "exception", "zeropage", "xnow", "nxdata", "ssp", "fpu", "time",
        "blk", "mft_maxdevices", "net_2if", "net_mtu", "trap", "stackoverflow"]},
}


@pytest.fixture(autouse=True)
def _qemu_available():
    if not QEMU:
        pytest.skip("NO QEMU: qemu-system-aarch64 not found (Debian: apt-get install qemu-system-arm)")


class A64Images:
    """Builds IMAGES with `skiff build --arch aarch64` (all at once, in parallel) on first use."""

    def __init__(self, skiff: Path, outdir: Path):
        self.skiff, self.outdir = skiff, outdir
        self.built: dict[str, Path] | None = None
        self.failures: dict[str, str] = {}
        self.seconds = 0.0

    def _build(self, name: str, source: Path) -> tuple[str, Path | None, str]:
        out = self.outdir / f"{name}.img"
        r = helpers.run([str(self.skiff), "build", "--arch", "aarch64", str(source), "-o", str(out)],
                        timeout=float(os.environ.get("SKIFF_BUILD_TIMEOUT", "900")))
        ok = r.returncode == 0 and out.exists()
        return name, out if ok else None, "" if ok else r.describe()

    def __getitem__(self, name: str) -> Path:
        if self.built is None:
            t0 = time.monotonic()
            self.built = {}
            with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
                for n, path, why in pool.map(lambda kv: self._build(*kv), IMAGES.items()):
                    if path:
                        self.built[n] = path
                    else:
                        self.failures[n] = why
            self.seconds = time.monotonic() - t0
        if name in self.failures:
            if any(m in self.failures[name] for m in helpers.SwiftBuilder.NOT_READY_MARKERS):
                pytest.skip("`skiff build --arch aarch64` is not available: " + self.failures[name][-200:])
            pytest.fail(f"skiff build --arch aarch64 {IMAGES[name]} failed:\n" + self.failures[name], pytrace=False)
        return self.built[name]


@pytest.fixture(scope="session")
def a64(skiff, tmp_path_factory) -> A64Images:
    return A64Images(skiff, tmp_path_factory.mktemp("aarch64"))


def qemu_env(cpu="cortex-a57", gic="2", machine=None) -> dict:
    env = dict(os.environ, SKIFF_QEMU_CPU=cpu, SKIFF_QEMU_GIC=gic)
    if QEMU:
        env["SKIFF_QEMU"] = QEMU
    if machine:
        env["SKIFF_QEMU_MACHINE"] = machine
    else:
        env.pop("SKIFF_QEMU_MACHINE", None)
    return env


def run(skiff, *args, cpu="cortex-a57", gic="2", machine=None, timeout=helpers.RUN_TIMEOUT) -> helpers.Result:
    return helpers.run([str(skiff), "run", *map(str, args)], timeout=timeout, env=qemu_env(cpu, gic, machine))


# ---------------------------------------------------------------------------
# The "done when": hello prints its arguments and exits 0.

@pytest.mark.parametrize("cpu,gic", MATRIX, ids=MATRIX_IDS)
def test_hello_example(skiff, a64, cpu, gic):
    r = run(skiff, a64["hello_example"], "x", "y", cpu=cpu, gic=gic)
    expect_status(r, 0)
    assert r.stdout == b"hello: x y\n", r.describe()
    assert r.stderr == "", r.describe()


@pytest.mark.parametrize("gic", ["2", "3"])
def test_hello_from_el2(skiff, a64, gic):
    """virtualization=on: QEMU enters at EL2 and PSCI uses smc; boot.S drops to EL1."""
    r = run(skiff, a64["hello_example"], "el2", machine="virtualization=on", gic=gic)
    expect_status(r, 0)
    assert r.stdout == b"hello: el2\n", r.describe()


def test_abort_and_timer_from_el2(skiff, a64):
    """After the EL2 -> EL1 drop: exceptions reach our vectors, the timer wakes WFI, semihosting exits."""
    expect_abort(run(skiff, a64["zeropage"], machine="virtualization=on", cpu="max", gic="3"))
    expect_success(run(skiff, a64["time"], machine="virtualization=on", gic="2"))


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


# ---------------------------------------------------------------------------
# Conformance guests (Tests/guests): the ones that make sense on arm64.

@pytest.mark.parametrize("cpu,gic", MATRIX, ids=MATRIX_IDS)
def test_guest_hello(skiff, a64, cpu, gic):
    r = run(skiff, a64["hello"], "Hello_Solo5", cpu=cpu, gic=gic)
    expect_success(r)
    assert "command line: [Hello_Solo5]" in r.out, r.describe()


def test_guest_hello_wrong_arguments_exit_status(skiff, a64):
    """A non-zero exit status crosses semihosting SYS_EXIT into QEMU's exit status."""
    r = run(skiff, a64["hello"], "Hello")
    expect_status(r, 1)


def test_quiet(skiff, a64):
    r = run(skiff, "--", a64["quiet"], "--solo5:quiet")
    expect_success(r)
    assert r.stdout == b"SUCCESS\n" and r.stderr == "", r.describe()


def test_output(skiff, a64):
    """Byte-exact console output, including a 64 KiB write (same expectation as test_swift_guests.py)."""
    def block(lines: int) -> bytes:
        return "".join(f"line {i:03d}: " + "".join(chr(0x61 + (i + j) % 26) for j in range(64)) + "\n"
                       for i in range(lines)).encode()
    r = run(skiff, a64["output"], "Output_Solo5")
    expect_success(r)
    want = b"output: Output_Solo5\n" + block(56) + b"no newline yet, " + block(874) + b"SUCCESS\n"
    assert r.stdout == want, f"{len(r.stdout)} bytes, want {len(want)}"


def test_globals(skiff, a64):
    r = run(skiff, a64["globals"])
    expect_success(r)
    assert r.stdout == b"SUCCESS\n", r.describe()


@pytest.mark.parametrize("cpu,gic", MATRIX, ids=MATRIX_IDS)
def test_exception(skiff, a64, cpu, gic):
    r = run(skiff, a64["exception"], cpu=cpu, gic=gic)
    expect_abort(r)
    assert "type=data abort" in r.out and "far=0x400000000" in r.out and "translation fault" in r.out, r.describe()


@pytest.mark.parametrize("cpu,gic", MATRIX, ids=MATRIX_IDS)
def test_zeropage(skiff, a64, cpu, gic):
    r = run(skiff, a64["zeropage"], cpu=cpu, gic=gic)
    expect_abort(r)
    assert "far=0x8 " in r.out and "(null pointer)" in r.out, r.describe()


def test_write_to_text(skiff, a64):
    """Text is mapped read-only: a permission fault on a write (ESR WnR set)."""
    r = run(skiff, a64["xnow"])
    expect_abort(r)
    assert re.search(r"type=data abort esr=0x9600004[cdef] .*\(permission fault level 3, write\)", r.out), r.describe()


def test_execute_data(skiff, a64):
    """Data is execute-never: an instruction abort, permission fault."""
    r = run(skiff, a64["nxdata"])
    expect_abort(r)
    assert "type=instruction abort" in r.out and "permission fault" in r.out and "execute" in r.out, r.describe()


@pytest.mark.parametrize("cpu,gic", MATRIX, ids=MATRIX_IDS)
def test_ssp(skiff, a64, cpu, gic):
    r = run(skiff, a64["ssp"], cpu=cpu, gic=gic)
    expect_abort(r)
    assert "Stack corruption detected" in r.out, r.describe()


def test_stack_overflow(skiff, a64):
    """Running into the guard page below SP_EL0's stack: the handler runs on SP_EL1 and names it."""
    r = run(skiff, "--mem=64", a64["stackoverflow"])
    expect_abort(r)
    assert "type=data abort" in r.out and "(stack overflow)" in r.out, r.describe()


@pytest.mark.parametrize("mode", ["index", "overflow", "oom", "fatal"])
def test_swift_runtime_traps_abort(skiff, a64, mode):
    """Embedded Swift traps with BRK on arm64: reported as a BRK exception, ABORT."""
    r = run(skiff, "--mem=16", a64["trap"], mode)
    expect_abort(r)
    assert f"trap: {mode}" in r.out and "type=BRK" in r.out and "FAILURE" not in r.out, r.describe()


@pytest.mark.parametrize("cpu,gic", MATRIX, ids=MATRIX_IDS)
def test_fpu(skiff, a64, cpu, gic):
    r = run(skiff, a64["fpu"], "3", "4", cpu=cpu, gic=gic)
    expect_success(r)


@pytest.mark.parametrize("cpu,gic", MATRIX, ids=MATRIX_IDS)
def test_time(skiff, a64, cpu, gic):
    """Two 1 s sleeps (virtual timer + WFI through the GIC) measured within 20 %; wall clock from the PL031."""
    t0 = time.monotonic()
    r = run(skiff, a64["time"], cpu=cpu, gic=gic)
    elapsed = time.monotonic() - t0
    expect_success(r)
    assert elapsed >= 1.6, f"two 1 s sleeps took {elapsed:.2f} s of host time"


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


def _blk_image(path: Path, size=4 << 20) -> Path:
    path.write_bytes(bytes(size))
    return path


@pytest.mark.parametrize("sector", [512, 4096])
@pytest.mark.parametrize("cpu,gic", [MATRIX[0], MATRIX[3]], ids=[MATRIX_IDS[0], MATRIX_IDS[3]])
def test_blk(skiff, a64, tmp_path, sector, cpu, gic):
    img = _blk_image(tmp_path / "storage.img")
    r = run(skiff, f"--block:storage={img}", f"--block-sector-size:storage={sector}", "--", a64["blk"],
            cpu=cpu, gic=gic)
    expect_success(r)
    assert f"block size {sector}," in r.out, r.describe()
    data = img.read_bytes()
    blocks = len(data) // sector
    for i in list(range(0, blocks, 10)) + [blocks - 1]:
        want = bytes((i + j) & 0xFF for j in range(sector))
        assert data[i * sector:(i + 1) * sector] == i.to_bytes(8, "little") + want[8:], f"block {i} differs"


def test_blockcheck_example(skiff, a64, tmp_path):
    img = tmp_path / "disk.img"
    img.write_bytes(b"\xee" * (4 << 20))
    r = run(skiff, f"--block:storage={img}", a64["blockcheck"], "7")
    expect_success(r)
    data = img.read_bytes()
    for i in range(0, len(data) // 512, 97):
        assert data[i * 512:i * 512 + 24] == b"SKIFFBLK" + i.to_bytes(8, "little") + (7).to_bytes(8, "little")


def test_too_many_devices(skiff, a64, tmp_path):
    """63 block devices fit a manifest but not QEMU virt's 32 virtio-mmio slots: a clear monitor error."""
    opts = []
    for i in range(63):
        opts.append(f"--block:storage{i}={_blk_image(tmp_path / f'd{i}.img', 4096)}")
    r = run(skiff, *opts, a64["mft_maxdevices"])
    expect_monitor_error(r, "32 virtio-mmio slots")


def test_device_errors_match_the_monitor(skiff, a64, tmp_path):
    img = _blk_image(tmp_path / "s.img")
    expect_monitor_error(run(skiff, a64["blk"]), "Device 'storage' of type BLOCK_BASIC declared but not attached.")
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


# ---------------------------------------------------------------------------
# The DTB reader (Guest/aarch64/fdt.c) on the host, against QEMU's own device trees.

@pytest.fixture(scope="session")
def fdt_test(tmp_path_factory) -> Path:
    """Guest/tests/fdt_test.c + Guest/aarch64/fdt.c built for the host, with ASan/UBSan when available."""
    clang = helpers.tool("clang", "CLANG")
    if clang is None:
        pytest.skip("NO CLANG: clang is needed to build Guest/tests/fdt_test.c for the host")
    out = tmp_path_factory.mktemp("fdt") / "fdt_test"
    g = helpers.REPO / "Guest"
    src = [f"-I{g / 'aarch64'}", f"-I{g / 'include'}", f"-I{helpers.REPO / 'Sources/CSkiffABI/include'}",
           str(g / "tests/fdt_test.c"), str(g / "aarch64/fdt.c"), "-o", str(out)]
    r = helpers.run([clang, "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", *src],
                    timeout=120)
    if r.returncode != 0:
        r = helpers.run([clang, "-O1", "-g", *src], timeout=120)
    assert r.returncode == 0, "building fdt_test failed:\n" + r.describe()
    return out


def _dump_dtb(tmp_path: Path, machine: str, cpu: str, mem: str, append: str | None) -> Path:
    dtb, kernel = tmp_path / "virt.dtb", tmp_path / "empty-kernel"
    kernel.write_bytes(b"")
    argv = [QEMU, "-machine", f"virt,{machine}dumpdtb={dtb}", "-cpu", cpu, "-m", mem, "-nographic",
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
    r = helpers.run([QEMU, "-machine", "virt", "-cpu", "cortex-a57", "-nographic", "-kernel",
                     str(a64["hello"]), "-append", "Hello"])
    expect_status(r, 0)
    assert b"Skiff: exit status 1 (no semihosting" in r.stdout, r.describe()


def test_plain_qemu_manifest_order(a64, tmp_path):
    """No skiff.* names on the command line: manifest block entries take virtio-blk devices in order."""
    img = _blk_image(tmp_path / "s.img")
    r = helpers.run([QEMU, "-machine", "virt", "-cpu", "cortex-a57", "-nographic",
                     "-semihosting-config", "enable=on,target=native", "-global", "virtio-mmio.force-legacy=false",
                     "-kernel", str(a64["blk"]),
                     "-drive", f"if=none,format=raw,id=d0,file={img}", "-device", "virtio-blk-device,drive=d0"])
    expect_success(r)


# ---------------------------------------------------------------------------
# Network (root): Examples/netecho and the net guests, in a private netns.

@pytest.fixture
def taps(netns):
    if helpers.ping_missing():
        pytest.skip("NO PING: " + helpers.ping_missing())
    netns.add_tap("tap0", "10.77.0.1/24")
    return netns


def _start(skiff, ns, image, nets, *args, cpu="cortex-a57", gic="2"):
    """Starts the guest and waits until it says "ready": QEMU opens the taps (carrier) long before a TCG
    guest has its virtio-net queues up, and a ping sent in between may cost an ARP retry (1 s)."""
    p = subprocess.Popen(ns.exec_argv([str(skiff), "run", "--mem=64",
                                       *(f"--net:service{i}={tap}" for i, tap in enumerate(nets)),
                                       "--", str(image), *args]),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True, env=qemu_env(cpu, gic))
    for tap in nets:
        ns.wait_carrier(tap, p)
    p.early_stdout = b""
    deadline = time.monotonic() + 30
    fd = p.stdout.fileno()
    while b"ready" not in p.early_stdout and time.monotonic() < deadline:
        if not select.select([fd], [], [], 0.5)[0]:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        p.early_stdout += chunk
    return p


def _finish(p, timeout=30, ping: helpers.Result | None = None) -> helpers.Result:
    """Waits for the guest; on a time-out kills it and fails with everything known (the ping's view too)."""
    try:
        so, se = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        so, se = p.communicate()
        pytest.fail(f"the guest did not exit within {timeout}s\n--- guest stdout ---\n"
                    f"{(getattr(p, 'early_stdout', b'') + so).decode('utf-8', 'replace')[-2000:]}\n"
                    f"--- guest stderr ---\n{se.decode('utf-8', 'replace')[-2000:]}\n"
                    + (("--- ping ---\n" + ping.describe()) if ping else ""), pytrace=False)
    return helpers.Result([str(a) for a in p.args], p.returncode, getattr(p, "early_stdout", b"") + so,
                          se.decode("utf-8", "replace"))


def _ping(ns, ip, *options, count=5, deadline=60):
    return helpers.run(ns.exec_argv(["ping", "-n", "-c", str(count), "-w", str(deadline), *options, ip]),
                       timeout=deadline + 30)


def _stop(p):
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def _all_replies(r, count):
    assert r.returncode == 0 and f"{count} received" in r.out and " 0% packet loss" in r.out, r.describe()
    assert "wrong data" not in r.out and "DUP!" not in r.out, r.describe()


@pytest.mark.root
@pytest.mark.parametrize("cpu,gic", [MATRIX[0], MATRIX[3]], ids=[MATRIX_IDS[0], MATRIX_IDS[3]])
def test_netecho_ping(skiff, a64, taps, cpu, gic):
    p = _start(skiff, taps, a64["netecho"], ["tap0"], "limit=200", cpu=cpu, gic=gic)
    try:
        pr = _ping(taps, "10.77.0.2", "-i", "0.002", "-p", "deadbeef", "-s", "1400", count=200)
        r = _finish(p, ping=pr)
    finally:
        _stop(p)
    _all_replies(pr, 200)
    expect_success(r)
    assert "answered 200 echo requests" in r.out, r.describe()


@pytest.mark.root
def test_net_2if(skiff, a64, taps):
    taps.add_tap("tap1", "10.78.0.1/24")
    p = _start(skiff, taps, a64["net_2if"], ["tap0", "tap1"], "limit=40")
    try:
        r0 = _ping(taps, "10.77.0.2", "-i", "0.01", count=20)
        r1 = _ping(taps, "10.78.0.2", "-i", "0.01", count=20)
        r = _finish(p, ping=r1)
    finally:
        _stop(p)
    _all_replies(r0, 20)
    _all_replies(r1, 20)
    expect_success(r)
    assert "service1 is 10.78.0.2" in r.out, r.describe()


@pytest.mark.root
def test_net_mtu(skiff, a64, netns):
    netns.add_tap("tap102", None, mtu=9000)
    r = helpers.run(netns.exec_argv([str(skiff), "run", "--mem=64", "--net:service0=tap102", str(a64["net_mtu"])]),
                    env=qemu_env())
    expect_success(r)
    assert "MTU is 9000" in r.out, r.describe()


@pytest.mark.root
def test_netecho_jumbo_frames(skiff, a64, netns):
    netns.add_tap("tap9", "10.79.0.1/24", mtu=9000)
    p = _start(skiff, netns, a64["netecho"], ["tap9"], "10.79.0.2", "limit=3")
    try:
        pr = _ping(netns, "10.79.0.2", "-i", "0.05", "-s", "8900", "-M", "do", count=3)
        r = _finish(p, ping=pr)
    finally:
        _stop(p)
    _all_replies(pr, 3)
    expect_success(r)
    assert "mtu 9000" in r.out, r.describe()
