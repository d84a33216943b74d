"""targets.py: the targets the conformance suite (test_conformance.py) runs every guest on.

A target is one way of building and running a Skiff guest: an architecture,
a guest platform and what `skiff run` does with the image (the hvt monitor
on KVM, or QEMU `virt`). Solo5's tests.bats runs every test guest on every
target; test_conformance.py does the same with the rows of TARGETS.

Adding a target (hvt-aarch64 under nested KVM, xen-x86_64, pvh-qemu, ...) is
a new row: its name, `skiff build` arguments, the environment of `skiff run`,
its prerequisites (markers checked by conftest.py), optional variants (CPU
models, GIC versions...) and, where the architecture changes a message or an
outcome, an entry in `expect` (or `params`, e.g. ping counts). A test looks
its per-target expectation up with `t.expect(KEY)` (conftest fixture `t`, a
TargetRun); a key missing there means the default in DEFAULT_EXPECT.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

import helpers


@dataclass(frozen=True)
class Expect:
    """What a guest's output must (not) contain on one target, and how it ends."""

    contains: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    regex: tuple[str, ...] = ()
    #: An extra check of the Result (for what a substring cannot say).
    check: Callable[[helpers.Result], None] | None = None
    #: Not a guest outcome but a monitor error (exit 1) with this message.
    monitor_error: str | None = None

    def verify(self, r: helpers.Result) -> None:
        for s in self.contains:
            assert s in r.out, f"output lacks {s!r}:\n" + r.describe()
        for s in self.absent:
            assert s not in r.out, f"output contains {s!r}:\n" + r.describe()
        for rx in self.regex:
            assert re.search(rx, r.out), f"output does not match {rx!r}:\n" + r.describe()
        if self.check:
            self.check(r)


@dataclass(frozen=True)
class Variant:
    """One configuration of a target's machine (e.g. a QEMU CPU model and GIC version)."""

    id: str
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    name: str
    arch: str
    platform: str
    #: Extra `skiff build` arguments (helpers.SwiftBuilder runs `skiff build *build_args SOURCE -o OUT`);
    #: the only place a target's build options are spelled (e.g. add "--platform", "virt" here).
    build_args: tuple[str, ...]
    #: Suffix of built images (`skiff build -o NAME.SUFFIX`).
    suffix: str
    #: pytest markers whose prerequisites conftest.py checks (kvm, qemu, ...).
    marks: tuple[str, ...]
    #: Machine variants; "default" is used by every test, the named sets by the tests that ask for them.
    variants: dict[str, tuple[Variant, ...]]
    #: Per-test expectations where this target differs from DEFAULT_EXPECT.
    expect: dict[str, Expect] = field(default_factory=dict)
    #: Per-test parameters where this target differs from DEFAULT_PARAMS (e.g. ping counts under TCG).
    params: dict[str, dict] = field(default_factory=dict)
    #: Environment of `skiff run` common to all variants (None values are removed from the environment).
    env: dict[str, str | None] = field(default_factory=dict)
    #: The `--mem` option of a conformance run that does not need a particular size.
    mem: tuple[str, ...] = ()
    #: How a guest is run: "skiff run" (the front door), a tender name in the monitor's directory
    #: (conftest's `skiff` fixture puts skiff-hvt there as skiff-hvt and solo5-hvt), "nested"
    #: (`skiff run` inside the real-KVM machine of nested.py), "nested-arm64" (the arm64 tender inside
    #: the nested arm64 KVM machine) or a runner of xen.py (xen.RUNNERS: Xen under QEMU, QEMU's PVH loader).
    runner: str = "skiff run"
    #: What the target's machine cannot offer (e.g. "net": no taps inside the nested machine; "block": no block
    #: devices; "long-cmdline": no 8 KiB command line); tests that need it are not generated for the target
    #: (targets.params(needs=...)).
    lacks: tuple[str, ...] = ()
    #: The guest ends its output with `Skiff: exit status N` (the Xen platform's images do, for harnesses that
    #: cannot see a status): the run must end with that line naming its own status, which is then removed.
    exit_line: bool = False

    def run_env(self, variant: Variant) -> dict[str, str]:
        env = dict(os.environ)
        for k, v in {**self.env, **variant.env}.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def expectation(self, key: str) -> Expect:
        return self.expect.get(key) or DEFAULT_EXPECT.get(key) or Expect()

    def param(self, test: str, key: str):
        return {**DEFAULT_PARAMS.get(test, {}), **self.params.get(test, {})}[key]


# ---------------------------------------------------------------------------
# Expectations where every target agrees unless it says otherwise.

DEFAULT_EXPECT: dict[str, Expect] = {
    "ssp": Expect(contains=("Stack corruption detected",)),
}

#: test -> parameters (ping counts and intervals) for every target unless it says otherwise.
DEFAULT_PARAMS: dict[str, dict] = {
    # Solo5's "net" test: a flood ping; SKIFF_E2E_PINGS (default 2000) answers in all.
    "net": {"count": int(os.environ.get("SKIFF_E2E_PINGS", "2000")), "ping": ("-f", "-q"), "deadline": 120},
    # net_2if: both interfaces at once.
    "net_2if": {"count": max(10, int(os.environ.get("SKIFF_E2E_PINGS", "2000")) // 10), "interval": "0.002"},
    # netecho with 8900-byte pings on an MTU 9000 tap, never fragmented.
    "jumbo": {"ping": ("-i", "0.05", "-s", "8900", "-M", "do")},
}


def _pf_instruction_fetch(r: helpers.Result) -> None:
    m = re.search(r"#PF ec=(0x[0-9a-f]+)", r.out)
    assert m and int(m.group(1), 16) & 0x10, "expected an instruction-fetch #PF (ec bit 4):\n" + r.describe()


QEMU = os.environ.get("SKIFF_QEMU") or shutil.which("qemu-system-aarch64")

def _qemu(cpu: str, gic: str) -> Variant:
    """A QEMU virt variant: -cpu x gic-version (read by Sources/SkiffQEMU/QEMURunner.swift)."""
    return Variant(f"{cpu}-gicv{gic}", {"SKIFF_QEMU_CPU": cpu, "SKIFF_QEMU_GIC": gic})


QEMU_MATRIX = (_qemu("cortex-a57", "2"), _qemu("cortex-a57", "3"), _qemu("max", "2"), _qemu("max", "3"))


TARGETS: tuple[Target, ...] = (
    Target(
        name="hvt-x86_64", arch="x86_64", platform="hvt",
        build_args=(), suffix=".hvt",
        marks=("kvm",),
        variants={"default": (Variant(""),)},
        mem=("--mem=4096",),  # Solo5's hvt_run
        expect={
            "exception": Expect(contains=("#PF", "cr2=0x400000000")),
            "zeropage": Expect(contains=("#PF", "cr2=0x8")),
            # Upstream's Linux expectation is the tender's translation fault (exit 1); a Skiff guest's own
            # page tables map text read-only, so it is a #PF inside the guest: ABORT (255).
            "xnow": Expect(contains=("#PF",), absent=("translation fault",)),
            # The NX bit (EFER.NXE in Skiff guests) gives a #PF on instruction fetch.
            "nxdata": Expect(check=_pf_instruction_fetch),
            "stackoverflow": Expect(contains=("#PF", "stack overflow")),
        },
    ),
    Target(
        name="virt-aarch64", arch="aarch64", platform="virt",
        build_args=("--arch", "aarch64"), suffix=".img",
        marks=("qemu",),
        # The first of each set is the default machine (cortex-a57, GICv2).
        variants={"default": QEMU_MATRIX[:1], "matrix": QEMU_MATRIX, "corners": (QEMU_MATRIX[0], QEMU_MATRIX[3])},
        env={**({"SKIFF_QEMU": QEMU} if QEMU else {}), "SKIFF_QEMU_MACHINE": None},
        expect={
            "exception": Expect(contains=("type=data abort", "far=0x400000000", "translation fault")),
            "zeropage": Expect(contains=("far=0x8 ", "(null pointer)")),
            # Text is mapped read-only: a permission fault on a write (ESR WnR set).
            "xnow": Expect(regex=(r"type=data abort esr=0x9600004[cdef] .*\(permission fault level 3, write\)",)),
            # Data is execute-never: an instruction abort, permission fault.
            "nxdata": Expect(contains=("type=instruction abort", "permission fault", "execute")),
            # Embedded Swift traps with BRK on arm64: reported as a BRK exception.
            "trap": Expect(contains=("type=BRK",)),
            # The guard page below SP_EL0's stack; the handler runs on SP_EL1 and names it.
            "stackoverflow": Expect(contains=("type=data abort", "(stack overflow)")),
            # 63 block devices fit a manifest but not QEMU virt's 32 virtio-mmio slots.
            "mft_maxdevices": Expect(monitor_error="32 virtio-mmio slots"),
        },
        # TCG: a flood of 2000 pings takes too long; 200 with a pattern and 1400-byte payloads instead.
        params={
            "net": {"count": 200, "ping": ("-i", "0.002", "-p", "deadbeef", "-s", "1400"), "deadline": 60},
            "net_2if": {"count": 20, "interval": "0.01"},
        },
    ),
)

# hvt-x86_64 again, with the tender invoked directly under upstream's name, as Solo5's tests call it,
# and once more on KVM with hardware semantics (nested.py: Debian's kernel, kvm_amd, under QEMU TCG).
TARGETS += (
    dataclasses.replace(TARGETS[0], name="solo5-hvt-x86_64", runner="solo5-hvt"),
    dataclasses.replace(TARGETS[0], name="hvt-x86_64-kvm", runner="nested", marks=("nested",), lacks=("net",)),
)

# hvt images for arm64, under the arm64 tender (skiff-hvt, Embedded Swift) on real arm64 KVM: Debian's arm64
# kernel at EL2 under QEMU TCG (nested.py ARCHES["aarch64"]). Messages are the guest's own (the same runtime
# as virt-aarch64); the tender is run directly (there is no arm64 `skiff`).
TARGETS += (
    Target(
        name="hvt-aarch64", arch="aarch64", platform="hvt",
        build_args=("--arch", "aarch64", "--platform", "hvt"), suffix=".hvt",
        marks=("nested",),
        variants={"default": (Variant(""),)},
        mem=("--mem=64",),
        runner="nested-arm64",
        expect={k: v for k, v in TARGETS[1].expect.items() if k != "mft_maxdevices"},
        # Under TCG twice over; busybox ping (no -f: -A sends the next as soon as the reply is in; no -M).
        params={
            "net": {"count": 200, "ping": ("-A", "-p", "de", "-s", "1400"), "deadline": 120},
            "net_2if": {"count": 20, "interval": "0.01"},
            "jumbo": {"ping": ("-i", "0.05", "-s", "8900")},
        },
    ),
)

BY_NAME_EARLY = {t.name: t for t in TARGETS}

# virt images (the arm64 Linux Image protocol, devices from the device tree) under the arm64 tender on arm64 KVM:
# the machine skiff-hvt builds for an Image (SkiffArchAArch64/VirtLayout.swift), not QEMU's; same images as
# virt-aarch64.
TARGETS += (
    dataclasses.replace(TARGETS[1], name="virt-aarch64-kvm", runner="nested-arm64", marks=("nested",),
                        variants={"default": (Variant(""),)}, env={}, mem=("--mem=64",),
                        expect={k: v for k, v in TARGETS[1].expect.items() if k != "mft_maxdevices"},
                        params=BY_NAME_EARLY["hvt-aarch64"].params),
)

# Xen guest platform images (`--platform xen`, docs/platform-xen.md), run by xen.py: the x86_64 PVH image as Xen's
# PVH dom0 (Xen 4.17 under QEMU TCG) and under QEMU's own PVH loader without Xen (microvm). No devices yet: the
# block and network tests are not generated; Xen passes dom0 at most 1023 bytes of command line. Faults are the
# hvt x86_64 runtime's reports (arch/x86_64/trap.c).
XEN_LACKS = ("block", "net")
TARGETS += (
    Target(
        name="pvh-qemu", arch="x86_64", platform="xen",
        build_args=("--arch", "x86_64", "--platform", "xen"), suffix=".xen",
        marks=("qemu_x86",),
        variants={"default": (Variant(""),)},
        runner="pvh-qemu",
        lacks=XEN_LACKS,
        expect=dict(TARGETS[0].expect),
    ),
    Target(
        name="xen-x86_64", arch="x86_64", platform="xen",
        build_args=("--arch", "x86_64", "--platform", "xen"), suffix=".xen",
        marks=("xen",),
        variants={"default": (Variant(""),)},
        runner="xen-x86_64",
        lacks=XEN_LACKS + ("long-cmdline",),
        expect=dict(TARGETS[0].expect),
    ),
)
# The same x86_64 PVH image under skiff-hvt's PVH machine (docs/boot-x86_64-pvh.md): on this host's /dev/kvm
# (PVM here: the runtime runs at CPL3 without Xen, so nothing at CPL0 needs SSE) and on hardware-semantics KVM, the
# nested x86 machine of nested.py.
TARGETS += (
    dataclasses.replace(TARGETS[-2], name="pvh-x86_64", runner="skiff run", marks=("kvm",), exit_line=True,
                        mem=("--mem=64",)),
    dataclasses.replace(TARGETS[-2], name="pvh-x86_64-kvm", runner="nested", marks=("nested",), exit_line=True,
                        mem=("--mem=64",)),
)
# The arm64 image (a self-relocating arm64 Image) as Xen's dom0, and as a dom0less domU with a vpl011 (no dom0),
# under qemu-system-aarch64 -machine virt,virtualization=on. Faults are the arm64 runtime's reports, as on virt.
TARGETS += tuple(
    Target(
        name=name, arch="aarch64", platform="xen",
        build_args=("--arch", "aarch64", "--platform", "xen"), suffix=".img",
        marks=("xen_a64",),
        variants={"default": (Variant(""),)},
        runner=name,
        lacks=XEN_LACKS + ("long-cmdline",),
        expect={k: v for k, v in TARGETS[1].expect.items() if k != "mft_maxdevices"},
    )
    for name in ("xen-aarch64", "xen-aarch64-domU")
)

BY_NAME = {t.name: t for t in TARGETS}

#: Seconds per monitor run inside the nested machine (TCG is slow; the host's 60 s plus margin).
NESTED_RUN_TIMEOUT = float(os.environ.get("SKIFF_NESTED_RUN_TIMEOUT", "60"))


def _qemu_missing() -> str | None:
    return None if QEMU else "NO QEMU: qemu-system-aarch64 not found (Debian: apt-get install qemu-system-arm)"


#: marker -> the reason its prerequisite is missing on this host (None: present). conftest.py skips a test with
#: the marker, loudly, with that reason. `kvm` and `root` are conftest's own (helpers.kvm_missing, root_missing).
#: A target that needs something new adds it here and registers the marker in pytest.ini.
PREREQUISITES: dict[str, Callable[[], str | None]] = {
    "qemu": _qemu_missing,
    "qemu_x86": lambda: None if shutil.which("qemu-system-x86_64") else
    "NO QEMU: qemu-system-x86_64 not found (Debian: apt-get install qemu-system-x86)",
    "xen": lambda: __import__("xen").missing("x86_64"),
    "xen_a64": lambda: __import__("xen").missing("aarch64"),
}


def params(variants: str = "default", only: tuple[str, ...] | None = None, needs: str | None = None):
    """pytest parameters (target, variant) for every target (or `only` these; or those that do not lack
    `needs`), one per variant of the set `variants` (targets without that set use their default variant).
    Ids: TARGET[-VARIANT]."""
    out = []
    for t in TARGETS:
        if only is not None and t.name not in only or needs in t.lacks:
            continue
        for v in t.variants.get(variants, t.variants["default"]):
            vid = t.name + (f"-{v.id}" if v.id and variants != "default" else "")
            out.append(pytest.param((t, v), id=vid, marks=[getattr(pytest.mark, m) for m in t.marks]))
    return out


def params_each(cases: dict[str, str]):
    """pytest parameters (target, variant), CASE for a test whose cases run on different variant sets
    (case -> set name, as in params). Ids: TARGET[-VARIANT]-CASE."""
    return [pytest.param(*p.values, case, id=f"{p.id}-{case}", marks=p.marks)
            for case, variants in cases.items() for p in params(variants)]


#: Everything the conformance suite builds, built at once (in parallel) the first time a target needs one.
CONFORMANCE_GUESTS = ("hello", "quiet", "output", "globals", "exception", "zeropage", "xnow", "nxdata", "ssp",
                      "fpu", "time", "blk", "mft_maxdevices", "net", "net_2if", "net_mtu", "trap", "stackoverflow")
CONFORMANCE_EXAMPLES = ("netecho",)


class TargetRun:
    """One target in one variant, bound to this session's monitor and the target's builder: what a
    conformance test uses to build (`guest`, `example`) and run (`run`, `argv`, `env`) its guest."""

    def __init__(self, target: Target, variant: Variant, skiff, builder: helpers.SwiftBuilder, nested=None,
                 tender=None, work: Path | None = None):
        self.target, self.variant, self.skiff, self.builder = target, variant, skiff, builder
        #: The nested.NestedVM a "nested"/"nested-arm64" target runs in.
        self.nested = nested
        #: The monitor of a "nested-arm64" target (the arm64 skiff-hvt, under the share).
        self.tender = tender
        #: A directory of this test under the share (network sessions inside the machine keep their files there).
        self.work = work

    def _build(self, source: Path) -> Path:
        self.builder.build_all([helpers.SWIFT_GUESTS_DIR / g for g in CONFORMANCE_GUESTS]
                               + [helpers.EXAMPLES_DIR / e for e in CONFORMANCE_EXAMPLES])
        return self.builder.build(source)

    def guest(self, name: str):
        """Tests/guests/NAME built for this target."""
        return self._build(helpers.SWIFT_GUESTS_DIR / name)

    def example(self, name: str):
        """Examples/NAME built for this target."""
        return self._build(helpers.EXAMPLES_DIR / name)

    @property
    def mem(self) -> tuple[str, ...]:
        return self.target.mem

    @property
    def env(self) -> dict[str, str]:
        return self.target.run_env(self.variant)

    def argv(self, *args) -> list[str]:
        """`skiff run ARGS`, or the target's tender with ARGS (run it with `env`)."""
        if self.target.runner in ("skiff run", "nested"):
            return [str(self.skiff), "run", *map(str, args)]
        if self.target.runner == "nested-arm64":
            return [str(self.tender), *map(str, args)]
        tender = Path(self.skiff).parent / self.target.runner
        if not tender.exists():
            pytest.skip(f"NO TENDER: {tender.name} missing beside the monitor (scripts/build makes skiff-hvt)")
        return [str(tender), *map(str, args)]

    @property
    def in_machine(self) -> bool:
        """True when the guest runs inside a nested machine (its files are under the shared directory)."""
        return self.target.runner.startswith("nested")

    def run(self, *args, timeout: float = helpers.RUN_TIMEOUT) -> helpers.Result:
        import xen
        if self.target.runner in xen.RUNNERS:
            return xen.run(self.target.runner, args, timeout=timeout)
        if self.in_machine:
            r = self.nested.result(self.argv(*args), timeout=max(timeout, NESTED_RUN_TIMEOUT))
        else:
            r = helpers.run(self.argv(*args), timeout=timeout, env=self.env)
        return self._without_exit_line(r) if self.target.exit_line else r

    @staticmethod
    def _without_exit_line(r: helpers.Result) -> helpers.Result:
        """A guest that ran to its end printed `Skiff: exit status N` last, N its status: checked, then removed.
        A monitor error (status 1 with a message on stderr) has no such line."""
        tail = f"Skiff: exit status {r.returncode}\n".encode()
        if r.stdout.endswith(tail):
            return helpers.Result(r.argv, r.returncode, r.stdout[:-len(tail)], r.stderr)
        assert r.returncode == 1 and r.stderr, "the run did not end with " + repr(tail) + ":\n" + r.describe()
        return r

    def expect(self, key: str) -> Expect:
        return self.target.expectation(key)

    def param(self, test: str, key: str):
        return self.target.param(test, key)

    def net_session(self, netns, taps: list, args: list, pings: list = (), timeout: float = 120):
        """A network test on this target: `taps` (nested.Tap) made where the monitor runs, the monitor started
        with `args` (`run` arguments), once it is ready the `pings` (nested.Ping) run at once; (ping Results,
        the monitor's Result). On the host, in the private namespace `netns` (iputils ping); inside a nested
        machine, in its root namespace by one shell script (nested.net_session; busybox ping)."""
        import nested
        if self.in_machine:
            return nested.net_session(self.nested, list(taps), self.argv(*args), list(pings), self.work,
                                      max(timeout, NESTED_RUN_TIMEOUT))
        for tap in taps:
            netns.add_tap(tap.name, tap.address, mtu=tap.mtu)
        if not pings:
            return [], helpers.run(netns.exec_argv(self.argv(*args)), env=self.env, timeout=timeout)
        p = helpers.start_guest(netns, self.argv(*args), [tap.name for tap in taps], env=self.env)
        try:
            running = [helpers.popen(helpers.ping_argv(netns, ping.ip, *ping.options, count=ping.count))
                       for ping in pings]
            results = [helpers.finish(q, timeout=timeout) for q in running]
            guest = helpers.finish(p, timeout=30, context=results[-1])
        finally:
            helpers.stop(p)
        return results, guest
