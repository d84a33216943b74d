"""test_conformance.py: the Solo5-style conformance guests (Tests/guests) on every target (targets.py).

As Solo5's tests.bats runs every test guest on every target, each test here
runs once per row of targets.TARGETS: hvt-x86_64 (`skiff run` on KVM),
solo5-hvt-x86_64 (the tender under upstream's name), hvt-x86_64-kvm (inside
the nested real-KVM x86 machine; no taps), virt-aarch64 (`skiff build --arch
aarch64` + `skiff run` under QEMU TCG), hvt-aarch64 (`--platform hvt`
images under the arm64 tender inside the nested arm64 KVM machine), and the
Xen platform's pvh-qemu, xen-x86_64, xen-aarch64 and xen-aarch64-domU
(`--platform xen` images under QEMU's PVH loader and under Xen, xen.py; no
devices: the block and network tests are not generated for them).
Where an architecture changes a message (a #PF with cr2 vs a data abort
with far) or an outcome, the target's `expect` entry says so; the tests
themselves are the same. Some tests also run on a target's machine variants
(`matrix`: every QEMU CPU x GIC pair; `corners`: the first and the last).

Each test skips, loudly, when its target's prerequisite is missing (NO KVM,
NO QEMU); the network tests also need root, `ip` and `ping` and run in a
private network namespace (tap0 = 10.77.0.1/24, tap1 = 10.78.0.1/24), or on a
nested target in the machine itself (`TargetRun.net_session`).
Target-specific tests stay in their files: test_swift_guests.py (hvt),
test_aarch64.py (EL2 entry, DTB reader, plain QEMU), test_swift_net.py
(hvt: netecho options, the shared net ring).
"""

from __future__ import annotations

import time

import pytest

import helpers
import targets
from nested import Ping, Tap
from helpers import expect_abort, expect_all_replies, expect_monitor_error, expect_status, expect_success

pytestmark = [pytest.mark.swift]

on_targets = pytest.mark.parametrize("tv", targets.params())
on_matrix = pytest.mark.parametrize("tv", targets.params("matrix"))
on_corners = pytest.mark.parametrize("tv", targets.params("corners"))
# Block-device tests: targets whose monitor offers block devices.
on_targets_block = pytest.mark.parametrize("tv", targets.params(needs="block"))
on_corners_block = pytest.mark.parametrize("tv", targets.params("corners", needs="block"))
# Network tests: targets whose machine has taps.
on_targets_net = pytest.mark.parametrize("tv", targets.params(needs="net"))
on_corners_net = pytest.mark.parametrize("tv", targets.params("corners", needs="net"))


# ---------------------------------------------------------------------------
# Console, arguments, globals

@on_matrix
def test_hello(t):
    r = t.run(*t.mem, t.guest("hello"), "Hello_Solo5")
    expect_success(r)
    assert "command line: [Hello_Solo5]" in r.out, r.describe()
    assert r.stderr == "", r.describe()


@on_targets
def test_hello_wrong_arguments_fail(t):
    """A non-zero exit status is the monitor's (on QEMU: semihosting SYS_EXIT into QEMU's exit status)."""
    r = t.run(*t.mem, t.guest("hello"), "Hello", "", "Solo5")
    expect_status(r, 1)
    lines = r.stdout.decode().splitlines()
    assert "command line: [Hello  Solo5]" in lines, r.describe()
    # Skiff.arguments splits on spaces and drops empty pieces.
    assert [l for l in lines if l.startswith("arg[")] == ["arg[0]: [Hello]", "arg[1]: [Solo5]"], r.describe()


@pytest.mark.parametrize("tv", targets.params(needs="long-cmdline"))
def test_hello_long_command_line(t):
    arg = "x" * 8191
    r = t.run(*t.mem, t.guest("hello"), arg)
    expect_status(r, 1)
    assert f"command line: [{arg}]" in r.out


@on_targets
def test_quiet(t):
    r = t.run(*t.mem, "--", t.guest("quiet"), "--solo5:quiet")
    expect_success(r)
    assert "Solo5:" not in r.out and "Skiff:" not in r.out, r.describe()
    assert r.stdout == b"SUCCESS\n" and r.stderr == "", r.describe()


def _output_block(lines: int) -> bytes:
    out = []
    for i in range(lines):
        out.append(f"line {i:03d}: " + "".join(chr(0x61 + (i + j) % 26) for j in range(64)) + "\n")
    return "".join(out).encode()


@on_targets
def test_output(t):
    """Byte-exact console output, including a 64 KiB write."""
    r = t.run(*t.mem, t.guest("output"), "Output_Solo5")
    expect_success(r)
    want = (b"output: Output_Solo5\n" + _output_block(56) + b"no newline yet, " + _output_block(874) + b"SUCCESS\n")
    assert r.stdout == want, f"{len(r.stdout)} bytes, want {len(want)}; first difference at " + str(
        next((i for i, (a, b) in enumerate(zip(r.stdout, want)) if a != b), min(len(r.stdout), len(want))))


@on_targets
def test_globals(t):
    r = t.run(*t.mem, t.guest("globals"))
    expect_success(r)
    assert r.stdout == b"SUCCESS\n", r.describe()


# ---------------------------------------------------------------------------
# Faults: ABORT, with the architecture's report (targets.py `expect`)

#: guest -> the variant set it runs on; the expected report is the target's `expect[guest]`.
FAULTS = {"exception": "matrix", "zeropage": "matrix", "xnow": "default", "nxdata": "default", "ssp": "matrix"}


@pytest.mark.parametrize("tv,guest", targets.params_each(FAULTS))
def test_fault(t, guest):
    """exception: a write to unmapped 0x400000000; zeropage: a write to address 8; xnow: a write into the
    guest's own text; nxdata: executing writable data; ssp: a stack buffer overflow (the stack protector)."""
    r = t.run(*t.mem, t.guest(guest))
    expect_abort(r)
    t.expect(guest).verify(r)


@on_targets
def test_stack_overflow(t):
    r = t.run("--mem=64", t.guest("stackoverflow"))
    expect_abort(r)
    t.expect("stackoverflow").verify(r)


@pytest.mark.parametrize("mode", ["index", "overflow", "oom", "fatal"])
@on_targets
def test_swift_runtime_traps_abort(t, mode):
    r = t.run("--mem=16", t.guest("trap"), mode)
    expect_abort(r)
    assert f"trap: {mode}" in r.out and "FAILURE" not in r.out, r.describe()
    t.expect("trap").verify(r)


# ---------------------------------------------------------------------------
# FPU and time

@on_matrix
def test_fpu(t):
    r = t.run(*t.mem, t.guest("fpu"), "3", "4")
    expect_success(r)


@on_matrix
def test_time(t):
    """Two 1 s sleeps measured within 20 % by the guest; at least 1.6 s of host time."""
    t0 = time.monotonic()
    r = t.run(*t.mem, t.guest("time"))
    elapsed = time.monotonic() - t0
    expect_success(r)
    assert elapsed >= 1.6, f"two 1 s sleeps took {elapsed:.2f} s of host time"


# ---------------------------------------------------------------------------
# Block devices

def _check_blk_pattern(img, block_size):
    data = img.read_bytes()
    blocks = len(data) // block_size
    checked = list(range(0, blocks, 10)) + [blocks - 1]
    for i in checked:
        b = data[i * block_size:(i + 1) * block_size]
        want = bytes((i + j) & 0xFF for j in range(block_size))
        want = i.to_bytes(8, "little") + want[8:]
        assert b == want, f"block {i} differs on the host"
    # A block the guest never wrote stays zero.
    assert data[block_size:2 * block_size] == bytes(block_size)


@pytest.mark.parametrize("sector", [512, 4096])
@on_corners_block
def test_blk(t, tmp_path, sector):
    img = helpers.zero_image(tmp_path / "storage.img")
    r = t.run(*t.mem, f"--block:storage={img}", f"--block-sector-size:storage={sector}", "--", t.guest("blk"))
    expect_success(r)
    assert f"block size {sector}," in r.out, r.describe()
    _check_blk_pattern(img, sector)


@on_targets_block
def test_blk_not_attached(t):
    expect_monitor_error(t.run(*t.mem, t.guest("blk")),
                         "Device 'storage' of type BLOCK_BASIC declared but not attached.")


@on_targets_block
def test_blk_misaligned_image(t, tmp_path):
    img = helpers.zero_image(tmp_path / "storage.img", 6 * 1024)
    expect_monitor_error(t.run(*t.mem, f"--block:storage={img}", "--block-sector-size:storage=4096",
                               t.guest("blk")), "Backing storage size must be block aligned")


@on_targets_block
def test_mft_maxdevices(t, tmp_path):
    """63 block devices (the manifest's maximum); writes storage0 and storage62. A target that cannot
    attach that many says so (targets.py: `monitor_error`)."""
    images = [helpers.zero_image(tmp_path / f"storage{i}.img", 4096) for i in range(63)]
    r = t.run(*t.mem, *(f"--block:storage{i}={img}" for i, img in enumerate(images)), "--", t.guest("mft_maxdevices"))
    error = t.expect("mft_maxdevices").monitor_error
    if error:
        expect_monitor_error(r, error)
        return
    expect_success(r)
    assert images[0].read_bytes()[:5] == b"first"
    assert images[62].read_bytes()[-512:-508] == b"last"


# ---------------------------------------------------------------------------
# Network (root): in a private namespace on the host, in the machine's own on a nested target (module docstring)

TAP0, TAP1 = Tap("tap0", "10.77.0.1/24"), Tap("tap1", "10.78.0.1/24")


@pytest.fixture
def net(t, netns):
    """`netns` for a host target (after checking for ping); a nested target makes its taps inside instead."""
    why = helpers.ping_missing()
    if why and not t.in_machine:
        pytest.skip("NO PING: " + why)
    return netns


def net_args(image, taps, *args) -> list:
    return ["--mem=64", *(f"--net:service{i}={tap.name}" for i, tap in enumerate(taps)), "--", image, *args]


@pytest.mark.root
@on_corners_net
def test_net(t, net):
    """Solo5 "net": the responder answers every ping, then exits with SUCCESS (its limit). Load per target
    (targets.py `params`): a flood of SKIFF_E2E_PINGS on hvt, 200 patterned 1400-byte pings under TCG."""
    n = t.param("net", "count")
    (pr,), r = t.net_session(net, [TAP0], net_args(t.guest("net"), [TAP0], f"limit={n}"),
                             [Ping("10.77.0.2", n, t.param("net", "ping"))], timeout=t.param("net", "deadline") + 30)
    expect_all_replies(pr, n)
    expect_success(r)
    assert f"answered {n} echo requests" in r.out, r.describe()


@pytest.mark.root
@on_targets_net
def test_net_2if(t, net):
    """Solo5 "net_2if": one responder on two taps, pinged at once; both answer (the ready set keeps them apart)."""
    n, interval = t.param("net_2if", "count"), t.param("net_2if", "interval")
    (r0, r1), r = t.net_session(net, [TAP0, TAP1], net_args(t.guest("net_2if"), [TAP0, TAP1], f"limit={2 * n}"),
                                [Ping("10.77.0.2", n, ("-i", interval)), Ping("10.78.0.2", n, ("-i", interval))])
    expect_all_replies(r0, n, guest=r)
    expect_all_replies(r1, n, guest=r)
    expect_success(r)
    assert "service1 is 10.78.0.2" in r.out, r.describe()


@pytest.mark.root
@on_targets_net
def test_net_2if_needs_both_taps(t, net):
    _, r = t.net_session(net, [TAP0], net_args(t.guest("net_2if"), [TAP0]))
    expect_monitor_error(r, "Device 'service1' of type NET_BASIC declared but not attached.")


@pytest.mark.root
@on_targets_net
def test_net_mtu(t, net):
    """Solo5 "net_mtu": a tap with MTU 9000."""
    tap = Tap("tap102", None, mtu=9000)
    _, r = t.net_session(net, [tap], net_args(t.guest("net_mtu"), [tap]))
    expect_success(r)
    assert "MTU is 9000" in r.out, r.describe()


@pytest.mark.root
@on_targets_net
def test_netecho_jumbo_frames(t, net):
    tap = Tap("tap9", "10.79.0.1/24", mtu=9000)
    (pr,), r = t.net_session(net, [tap], net_args(t.example("netecho"), [tap], "10.79.0.2", "limit=3"),
                             [Ping("10.79.0.2", 3, t.param("jumbo", "ping"))])
    expect_all_replies(pr, 3)
    expect_success(r)
    assert "mtu 9000" in r.out, r.describe()
