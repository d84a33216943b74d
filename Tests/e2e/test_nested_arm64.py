"""test_nested_arm64.py: the aarch64 KVM backend of skiff-hvt inside nested arm64 KVM (issue 11, deliverable 1).

Debian's arm64 kernel boots at EL2 under `qemu-system-aarch64 -machine virt,virtualization=on`
(nested.py's "aarch64" row, platform notes §9.2); KVM (built in) runs there. The Embedded Swift
tender for arm64 (`scripts/build-embedded aarch64`) and the assembly guest
Tests/AsmGuests/aarch64/probe.S (variants: no device, `storage`, `service0`) are copied into the
share and run inside:
- the entry state as the guest reads it (spec §7.3), PUTS/HALT, WALLTIME, cpu_cycle_freq, POLL;
- the MMIO transport's refusals (spec §8): a read, a wrong length, a store past the hypercalls,
  a number without a handler; a store to host-read-only text (EFAULT, `pc=` of the store);
- block (BLOCK_WRITE/READ) and net: NET_WRITE, the net ring with its ioeventfd kick at 0x100000100;
- SIGTERM during KVM_RUN, the seccomp filter on arm64.

Skips loudly when qemu-system-aarch64, the arm64 kernel or the aarch64 toolchain cannot be had.
Under TCG every exit costs ~80 µs and the first KVM_RUN ~10 ms: nothing here is timed.
"""

from __future__ import annotations

import re
import struct
import time
from pathlib import Path

import pytest

import helpers
from nested import ARCHES

pytestmark = pytest.mark.nested

ARCH = ARCHES["aarch64"]
TIMEOUT = 60


@pytest.fixture
def a64_vm(nested_arm64):
    """The session's nested arm64 machine (nested.py; shared with the hvt-aarch64 target of targets.py)."""
    return nested_arm64


@pytest.fixture
def a64_tender(arm64_tender) -> Path:
    return arm64_tender


@pytest.fixture(scope="module")
def a64_guests(tmp_path_factory) -> dict[str, Path]:
    """Tests/AsmGuests/aarch64/probe.S as "probe" (no devices), "probe_blk" (`storage`), "probe_net" (`service0`);
    Bench/exitfloor-aarch64.S as "exitfloor"."""
    clang, lld = helpers.tool("clang", "CLANG"), helpers.tool("ld.lld", "LD_LLD")
    if clang is None or lld is None:
        pytest.skip("clang and ld.lld are needed to build Tests/AsmGuests/aarch64 (set CLANG / LD_LLD)")
    out = tmp_path_factory.mktemp("a64asm")
    src = helpers.ASM_DIR / "aarch64" / "probe.S"
    guests = {}
    bench = helpers.REPO / "Bench" / "exitfloor-aarch64.S"
    for name, source, defines in (("probe", src, []), ("probe_blk", src, ["-DPROBE_BLOCK"]),
                                  ("probe_net", src, ["-DPROBE_NET"]), ("exitfloor", bench, [])):
        obj, hvt = out / f"{name}.o", out / f"{name}.hvt"
        r = helpers.run([clang, "-target", "aarch64-none-elf", *defines, "-c", str(source), "-o", str(obj)], timeout=120)
        assert r.returncode == 0, r.describe()
        # 4 KiB segment alignment as Solo5 links aarch64 guests (ld.lld defaults to 64 KiB there).
        r = helpers.run([lld, "-T", str(helpers.ASM_DIR / "guest.ld"), "-nostdlib", "-static", "-z", "max-page-size=0x1000",
                         str(obj), "-o", str(hvt)], timeout=120)
        assert r.returncode == 0, r.describe()
        guests[name] = hvt
    return guests


@pytest.fixture(scope="module")
def a64_probe(a64_guests) -> Path:
    return a64_guests["probe"]


@pytest.fixture
def hvt(a64_vm, a64_tender, a64_probe):
    """`skiff-hvt --mem=2 probe.hvt ARGS` inside the nested arm64 machine."""
    def _run(*args: str, options: tuple[str, ...] = ("--mem=2",)) -> helpers.Result:
        return a64_vm.result([str(a64_tender), *options, str(a64_probe), *args], TIMEOUT)
    return _run


def only_line(r: helpers.Result) -> str:
    """The monitor's one error line, without its `skiff-hvt: ` prefix."""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("skiff-hvt: "), r.describe()
    return lines[0].removeprefix("skiff-hvt: ")


def test_machine_has_arm64_kvm(a64_vm):
    status, out, err = a64_vm.run(["sh", "-c", "uname -m; ls /dev/kvm; dmesg | grep -c 'kvm \\[1\\]: .*initialized'"], 30)
    assert status == 0, err
    assert out.decode().split() == ["aarch64", "/dev/kvm", "1"], out


def test_hello_puts_and_halt(hvt):
    r = hvt("hello", "from", "arm64")
    helpers.expect_status(r, 0)
    assert r.stdout == b"hello from aarch64: hello from arm64\n" and r.stderr == "", r.describe()


def test_halt_status(hvt):
    r = hvt("halt42")
    helpers.expect_status(r, 42)
    assert r.stdout == b"" and r.stderr == "", r.describe()


def test_halt_status_without_sandbox(hvt):
    r = hvt("halt42", options=("--mem=2", "--no-sandbox"))
    helpers.expect_status(r, 42)


def test_walltime_and_cycle_frequency(hvt, a64_vm):
    before = time.time_ns()
    r = hvt("walltime")
    after = time.time_ns()
    helpers.expect_status(r, 0)
    m = re.fullmatch(rb"walltime=([0-9a-f]{16}) freq=([0-9a-f]{16})\n", r.stdout)
    assert m, r.describe()
    wall, freq = int(m.group(1), 16), int(m.group(2), 16)
    # The machine's clock is set from the host's at boot (whole seconds): allow a few seconds.
    assert before - 5_000_000_000 <= wall <= after + 5_000_000_000, (before, wall, after)
    # cpu_cycle_freq is the host's CNTFRQ_EL0: the frequency the nested kernel reports for its timer.
    status, out, _ = a64_vm.run(["sh", "-c", "dmesg | grep -o 'arch_timer: cp15 timer(s) running at [0-9.]*MHz'"], 30)
    mhz = re.search(rb"running at ([0-9.]+)MHz", out)
    assert mhz, out
    assert freq == round(float(mhz.group(1)) * 1_000_000), (freq, out)


@pytest.mark.parametrize("mode,message", [
    ("len2", "Invalid guest mmio access: mmio=0x100000010 len=2"),
    ("read", "Invalid guest mmio access: mmio=0x100000010 len=4"),
    ("outside", "Invalid guest mmio access: mmio=0x100000200"),
    ("nr0", "Invalid guest hypercall: num=0"),
])
def test_mmio_refusals(hvt, mode, message):
    r = hvt(mode)
    helpers.expect_status(r, 1)
    assert only_line(r) == message, r.describe()


def test_write_to_text_is_a_translation_fault(hvt, a64_probe):
    """Text is read-only on the host (spec §2.4): the guest's store is a stage-2 fault KVM cannot map
    writable; KVM_RUN fails with EFAULT and the message names the store's pc."""
    store = helpers.elf_symbols(a64_probe)["probe_text_store"]
    r = hvt("textwrite")
    helpers.expect_status(r, 1)
    assert only_line(r) == f"KVM: host/guest translation fault: pc={store:#x}", r.describe()


def test_entry_state_as_the_guest_sees_it(hvt):
    """Spec §7.3 read back by the guest at its first instructions (real KVM, EL2 emulated by TCG)."""
    r = hvt("state")
    helpers.expect_status(r, 0)
    names = ["x0", "sp", "CurrentEL", "SPSel", "DAIF", "SCTLR_EL1", "TCR_EL1", "MAIR_EL1", "TTBR0_EL1",
             "CPACR_EL1", "CNTFRQ_EL0", "cpu_cycle_freq", "mem_size"]
    lines = r.stdout.decode().splitlines()
    assert len(lines) == len(names), r.describe()
    v = dict(zip(names, (int(l, 16) for l in lines)))
    assert v["x0"] == 0x10000
    assert v["sp"] == v["mem_size"] - 16
    assert v["CurrentEL"] == 1 << 2 and v["SPSel"] == 1          # EL1h
    assert v["DAIF"] == 0x3C0                                     # PSTATE 0x3C5: D, A, I, F masked
    assert v["SCTLR_EL1"] == 0x1005                               # M, C, I, written as exactly this
    assert v["TCR_EL1"] == 0x32_B518_3518
    assert v["MAIR_EL1"] == 0x0000_BBFF_440C_0400
    assert v["TTBR0_EL1"] == 0x1000
    assert v["CPACR_EL1"] & (3 << 20) == 3 << 20                  # FPEN: FP/SIMD not trapped
    assert v["cpu_cycle_freq"] == v["CNTFRQ_EL0"] > 0
    assert v["mem_size"] == 2 << 20


@pytest.mark.parametrize("mode", ["spin", "zero"])
def test_sigterm_ends_a_guest_that_never_exits(a64_vm, a64_tender, a64_probe, mode):
    """SIGTERM while the vCPU is in KVM_RUN: immediate_exit, "Exiting on signal 15", status 1 (as on x86_64).
    spin: a loop; zero: a load from unmapped GPA 0, which faults inside the guest forever (no vectors yet:
    VBAR_EL1 + 0x200 is unmapped too). Unlike an x86_64 triple fault, nothing reaches the tender."""
    script = (f"{a64_tender} --mem=2 {a64_probe} {mode} & p=$!; sleep 3; kill -TERM $p; wait $p; "
              "echo status=$? >&2")
    status, out, err = a64_vm.run(["sh", "-c", script], TIMEOUT)
    assert status == 0, err
    assert err.splitlines() == ["skiff-hvt: Exiting on signal 15", "status=1"], err


def test_block_write_and_read(a64_vm, a64_tender, a64_guests, tmp_path):
    """BLOCK_WRITE then BLOCK_READ through the MMIO window (handle 1, 512 bytes at offset 512)."""
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * 4096)
    r = a64_vm.result([str(a64_tender), "--mem=2", f"--block:storage={disk}", str(a64_guests["probe_blk"]), "block"],
                      TIMEOUT)
    helpers.expect_status(r, 0)
    assert r.stdout == b"hello from aarch64: \n" + b"0" * 16 + b"\n" + b"0" * 16 + b"\n", r.describe()
    data = disk.read_bytes()
    assert len(data) == 4096 and data[512:532] == b"hello from aarch64: " and data[:512] == b"\0" * 512


def test_block_hypercall_without_block_device_is_refused(a64_vm, a64_tender, a64_guests):
    """Spec §8: BLOCK_* have no handler without --block: `Invalid guest hypercall: num=4`."""
    r = a64_vm.result([str(a64_tender), "--mem=2", str(a64_guests["probe"]), "block"], TIMEOUT)
    helpers.expect_status(r, 1)
    assert only_line(r) == "Invalid guest hypercall: num=4", r.describe()


@pytest.fixture
def tap0(a64_vm):
    """A tap inside the nested machine (tun.ko from the kernel package, busybox tunctl), deleted afterwards."""
    status, out, err = a64_vm.run(["sh", "-c", "[ -c /dev/net/tun ] || { echo no /dev/net/tun; exit 3; }; "
                                   "tunctl -t rtap0 >/dev/null && ip link set rtap0 up && echo ok"], 30)
    if status == 3:
        pytest.skip("NO TUN in the nested arm64 machine: the kernel cache lacks tun.ko and nested.py could not "
                    "unpack it again (offline?)")
    assert status == 0 and out == b"ok\n", (status, out, err)
    yield "rtap0"
    a64_vm.run(["tunctl", "-d", "rtap0"], 30)


def test_ring_kick_is_an_ioeventfd_with_net(a64_vm, a64_tender, a64_guests, tap0):
    """Spec §11: with a NET_BASIC device the ring is offered (host_features bit 0, net_ring = mem_size) and
    the kick at MMIO 0x100000100 is an ioeventfd: the store does not exit, the guest halts 9."""
    r = a64_vm.result([str(a64_tender), "--mem=2", f"--net:service0={tap0}", str(a64_guests["probe_net"]), "kick"],
                      TIMEOUT)
    helpers.expect_status(r, 9)
    assert r.stderr == "", r.describe()
    features, ring = (int(l, 16) for l in r.stdout.decode().splitlines())
    assert features == 1 and ring == 2 << 20, r.describe()


def test_ring_kick_without_net_is_an_invalid_mmio_access(hvt):
    """Without a net device there is no ring and no ioeventfd: the kick is a write past the hypercalls."""
    r = hvt("kick")
    helpers.expect_status(r, 1)
    assert r.stdout == b"0" * 16 + b"\n" + b"0" * 16 + b"\n", r.describe()
    assert only_line(r) == "Invalid guest mmio access: mmio=0x100000100", r.describe()


def test_seccomp_filter_is_installed_and_enforced(a64_vm, a64_tender, a64_probe):
    """The arm64 allow-list (AUDIT_ARCH_AARCH64, arm64 syscall numbers): every other test here runs under it
    (a wrong arch check would kill them all); while the guest spins every thread shows filter mode; the test
    hook's getppid() (not on the list) is killed with SIGSYS (159 in a shell) before the guest runs."""
    script = (f"{a64_tender} --mem=2 {a64_probe} spin & p=$!; sleep 3; "
              "grep -h -e '^Seccomp:' -e '^NoNewPrivs:' /proc/$p/task/*/status; kill -TERM $p; wait $p")
    status, out, err = a64_vm.run(["sh", "-c", script], TIMEOUT)
    assert status == 1, err
    lines = out.decode().split("\n")
    assert sorted(set(l.split()[0] + l.split()[1] for l in lines if l)) == ["NoNewPrivs:1", "Seccomp:2"], out
    status, out, err = a64_vm.run(["sh", "-c", f"SKIFF_TEST_FORBIDDEN_SYSCALL=1 {a64_tender} --mem=2 {a64_probe} "
                                   "hello; echo status=$?"], TIMEOUT)
    assert out == b"status=159\n", (out, err)


def test_net_write_hypercall_reaches_the_tap(a64_vm, a64_tender, a64_guests, tap0):
    """NET_WRITE (6) through the MMIO window: one write() of the frame to the tap fd, which the nested
    kernel counts as received on tap0; ret = 0 (OK)."""
    def rx() -> int:
        status, out, err = a64_vm.run(["cat", f"/sys/class/net/{tap0}/statistics/rx_packets"], 30)
        assert status == 0, err
        return int(out)
    before = rx()
    r = a64_vm.result([str(a64_tender), "--mem=2", f"--net:service0={tap0}", str(a64_guests["probe_net"]), "frame"],
                      TIMEOUT)
    helpers.expect_status(r, 0)
    assert r.stdout == b"0" * 16 + b"\n" and r.stderr == "", r.describe()
    assert rx() == before + 1


def test_net_ring_write_with_ioeventfd_kick(a64_vm, a64_tender, a64_guests, tap0):
    """Two NET_WRITE entries through the net ring (spec §11). The second is submitted after the host's I/O
    thread has gone to sleep on its eventfd (needs_kick = 1): the guest's store to 0x100000100 wakes it
    without a VM exit, and both frames reach tap0."""
    def rx() -> int:
        status, out, err = a64_vm.run(["cat", f"/sys/class/net/{tap0}/statistics/rx_packets"], 30)
        assert status == 0, err
        return int(out)
    before = rx()
    r = a64_vm.result([str(a64_tender), "--mem=2", f"--net:service0={tap0}", str(a64_guests["probe_net"]), "gring"],
                      TIMEOUT)
    helpers.expect_status(r, 0)
    assert r.stderr == "", r.describe()
    first, second = (int(l, 16) for l in r.stdout.decode().splitlines())
    assert first in (0, 1) and second == 1, r.describe()
    assert rx() == before + 2


def test_poll_without_net_sleeps(hvt):
    """POLL (3) with no net device is a pure sleep: ret 0, ready_set 0, at least the timeout on CNTVCT_EL0."""
    r = hvt("poll")
    helpers.expect_status(r, 0)
    ret, ready, ticks = (int(l, 16) for l in r.stdout.decode().splitlines())
    assert ret == 0 and ready == 0, r.describe()
    r2 = hvt("state")
    cntfrq = int(r2.stdout.decode().splitlines()[10], 16)
    assert ticks >= cntfrq * 20 // 1000, (ticks, cntfrq)


def test_bench_port_is_an_ignored_mmio_store(a64_vm, a64_tender, a64_guests):
    """`skiff bench`'s arm64 exit floor (Bench/exitfloor-aarch64.S): with --bench-port=0x510 the N stores to
    0x100000080 are exits the tender ignores, then N WALLTIME and N empty PUTS, reported as CNTVCT deltas and
    the boot info's frequency; without the option the first store ends the run as any stray store does."""
    guest = a64_guests["exitfloor"]
    r = a64_vm.result([str(a64_tender), "--mem=2", "--bench-port=0x510", str(guest), "50"], TIMEOUT)
    helpers.expect_status(r, 0)
    assert len(r.stdout) == 32 and r.stderr == "", r.describe()
    bare, wall, puts, freq = struct.unpack("<4Q", r.stdout)
    assert bare > 0 and wall > 0 and puts > 0 and freq > 0, (bare, wall, puts, freq)
    r = a64_vm.result([str(a64_tender), "--mem=2", str(guest), "50"], TIMEOUT)
    helpers.expect_status(r, 1)
    assert only_line(r) == "Invalid guest mmio access: mmio=0x100000080", r.describe()


def test_abort_halt_status_255(hvt):
    """HALT 255 with cookie 0 (aarch64 bindings): status 255 and no trap-frame line (x86_64 only)."""
    r = hvt("abort")
    helpers.expect_status(r, 255)
    assert r.stdout == b"" and r.stderr == "", r.describe()


# ---------------------------------------------------------------------------
# Skiff's own Swift unikernels built with `skiff build --arch aarch64 --platform hvt`: the conformance suite runs
# them on this machine as the hvt-aarch64 target (targets.py, test_conformance.py); here, what it does not cover.

from test_aarch64_hvt import SOURCES, BUILD_ARGS  # noqa: E402


@pytest.fixture(scope="module")
def a64_swift(builders) -> helpers.SwiftBuilder:
    """The hvt-aarch64 target's builder (same images as the conformance suite)."""
    b = builders["hvt-aarch64"]
    assert b.build_args == BUILD_ARGS
    return b


def test_swift_hello_prints_its_arguments(a64_vm, a64_tender, a64_swift):
    """Issue 11's check: Examples/hello built for hvt aarch64 prints its arguments under skiff-hvt on arm64 KVM."""
    r = a64_vm.result([str(a64_tender), "--mem=64", str(a64_swift.build(SOURCES["example_hello"])), "a", "b"], TIMEOUT)
    helpers.expect_status(r, 0)
    assert r.stdout == b"hello: a b\n" and r.stderr == "", r.describe()


def test_swift_example_blockcheck(a64_vm, a64_tender, a64_swift, tmp_path):
    img = helpers.zero_image(tmp_path / "storage.img", 4 << 20)
    r = a64_vm.result([str(a64_tender), "--mem=64", f"--block:storage={img}",
                       str(a64_swift.build(SOURCES["example_blockcheck"]))], TIMEOUT)
    helpers.expect_status(r, 0)
    assert "Invalid guest" not in r.out and "KVM:" not in r.out, r.describe()


def test_swift_net_answers_ping_through_the_ring(a64_vm, a64_tender, a64_swift, tap0):
    """The Swift responder with `ring` (the conformance suite's net tests use hypercalls): 5 pings answered
    through the shared net ring and its ioeventfd kick, then SUCCESS."""
    image = a64_swift.build(SOURCES["net"])
    script = (f"ip addr add 10.77.0.1/24 dev {tap0}; "
              f"{a64_tender} --mem=64 --net:service0={tap0} {image} limit=5 ring & guest=$!; "
              "sleep 1; ping -c 5 -W 5 10.77.0.2 >/dev/null; p=$?; wait $guest; g=$?; echo \"ping=$p guest=$g\"")
    status, out, err = a64_vm.run(["sh", "-c", script], TIMEOUT)
    assert status == 0 and b"ping=0 guest=0" in out and b"SUCCESS" in out, (status, out, err)
