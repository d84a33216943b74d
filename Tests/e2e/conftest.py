"""conftest.py: session fixtures of the Skiff e2e suite: the monitor, the guests, host prerequisites.

The monitor is $SKIFF (default .build/debug/skiff, built with `swift build`
when missing). Assembly guests are built once per session into a temporary
directory; Swift guests are built with `skiff build` on first use, and their
tests skip (loudly) while `skiff build` is not implemented. Tests marked
`kvm` or `root` skip with the reason when the host lacks /dev/kvm or root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import helpers
import targets
from helpers import REPO
# Session fixtures: the nested KVM machines (test_nested_kvm.py, test_nested_arm64.py, the nested targets).
from nested import arm64_tender, nested_arm64, nested_vm  # noqa: F401

_skip_reasons: dict[str, int] = {}


def pytest_runtest_setup(item):
    if item.get_closest_marker("kvm"):
        why = helpers.kvm_missing()
        if why:
            pytest.skip("NO KVM: " + why)
    if item.get_closest_marker("root"):
        why = helpers.root_missing()
        if why:
            pytest.skip("NO ROOT/NET: " + why)
    for mark, missing in targets.PREREQUISITES.items():
        if item.get_closest_marker(mark):
            why = missing()
            if why:
                pytest.skip(why)


def pytest_runtest_logreport(report):
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        _skip_reasons[reason] = _skip_reasons.get(reason, 0) + 1


def pytest_terminal_summary(terminalreporter):
    if not _skip_reasons:
        return
    tr = terminalreporter
    tr.section("SKIPPED TESTS: this run did NOT check everything", sep="!", red=True, bold=True)
    for reason, n in sorted(_skip_reasons.items(), key=lambda kv: -kv[1]):
        tr.write_line(f"  {n:4d} skipped: {reason}", red=True)


@pytest.fixture(scope="session")
def skiff(tmp_path_factory) -> Path:
    """A private copy of the monitor, so a `swift build` running meanwhile cannot swap it mid-session.

    `skiff build` finds the guest runtime by walking up from its executable,
    so the copy gets SKIFF_RUNTIME_DIR (the repository) unless already set.
    """
    env = os.environ.get("SKIFF")
    path = Path(env) if env else REPO / ".build" / "debug" / "skiff"
    if not path.is_absolute():
        path = (Path.cwd() / path).resolve()
    if not path.exists():
        if env:
            pytest.exit(f"SKIFF={env} does not exist", returncode=2)
        r = subprocess.run(["swift", "build"], cwd=REPO, capture_output=True, text=True, timeout=1800)
        if r.returncode != 0 or not path.exists():
            pytest.exit("swift build failed:\n" + r.stdout[-3000:] + r.stderr[-3000:], returncode=2)
    copy = tmp_path_factory.mktemp("monitor") / "skiff"
    shutil.copy2(path.resolve(), copy)
    # The tender beside it ($SKIFF_HVT, else skiff-hvt next to $SKIFF): `skiff run` execs it for hvt
    # images, so every hvt test runs through skiff-hvt; also as solo5-hvt (the solo5-hvt target).
    tender = Path(os.environ.get("SKIFF_HVT") or path.resolve().parent / "skiff-hvt")
    if tender.exists():
        for name in ("skiff-hvt", "solo5-hvt"):
            shutil.copy2(tender, copy.parent / name)
    os.environ.setdefault("SKIFF_RUNTIME_DIR", str(REPO))
    return copy


@pytest.fixture(scope="session")
def asm(tmp_path_factory) -> dict[str, Path]:
    """name -> built .hvt for every guest in helpers.ASM_GUESTS."""
    return helpers.build_asm_guests(tmp_path_factory.mktemp("asm"))


@pytest.fixture(scope="session")
def builders(skiff, tmp_path_factory) -> dict[str, helpers.SwiftBuilder]:
    """target name -> the builder of Swift guests for that target (targets.TARGETS), one per session."""
    by_build: dict[tuple, helpers.SwiftBuilder] = {}   # targets that build alike share their images
    for t in targets.TARGETS:
        key = (t.build_args, t.suffix)
        if key not in by_build:
            by_build[key] = helpers.SwiftBuilder(skiff, tmp_path_factory.mktemp(t.name), t.build_args, t.suffix)
    return {t.name: by_build[(t.build_args, t.suffix)] for t in targets.TARGETS}


@pytest.fixture(scope="session")
def swift_builder(builders) -> helpers.SwiftBuilder:
    """The hvt-x86_64 builder (the files that test the hvt monitor itself)."""
    return builders["hvt-x86_64"]


@pytest.fixture
def t(tv, skiff, builders, request) -> targets.TargetRun:
    """The target (and variant) a conformance test runs on: parametrize `tv` with targets.params()."""
    target, variant = tv
    nested = tender = work = None
    if target.runner == "nested":
        nested = request.getfixturevalue("nested_vm")
    elif target.runner == "nested-arm64":
        nested, tender = request.getfixturevalue("nested_arm64"), request.getfixturevalue("arm64_tender")
    if nested is not None:
        work = request.getfixturevalue("tmp_path")
    return targets.TargetRun(target, variant, skiff, builders[target.name], nested, tender, work)


@pytest.fixture
def run_skiff(skiff):
    """run_skiff(*args, timeout=...) -> Result of `skiff run ARGS`."""
    def _run(*args, timeout: float = helpers.RUN_TIMEOUT) -> helpers.Result:
        return helpers.run([str(skiff), "run", *map(str, args)], timeout=timeout)
    return _run


@pytest.fixture
def probe(run_skiff, asm):
    """probe(program, *options, guest="probe") runs probe.S with `program` as its command line."""
    def _probe(program: str, *options: str, guest: str = "probe", mem: int = 64,
               timeout: float = helpers.RUN_TIMEOUT) -> helpers.Result:
        return run_skiff(f"--mem={mem}", *options, "--", asm[guest], *program.split(), timeout=timeout)
    return _probe


@pytest.fixture
def image(tmp_path) -> Path:
    """A block device image of helpers.CAPACITY bytes holding helpers.pattern."""
    img = tmp_path / "disk.img"
    img.write_bytes(helpers.pattern(helpers.CAPACITY))
    return img


@pytest.fixture
def blk(probe, image):
    """blk(program, *extra_options, mem=64) runs probe_blk with `image` attached as 'storage'."""
    def _run(program: str, *options: str, mem: int = 64):
        return probe(program, f"--block:storage={image}", *options, guest="probe_blk", mem=mem)
    return _run


@pytest.fixture
def netns():
    """A fresh network namespace (root only); always deleted afterwards."""
    why = helpers.root_missing()
    if why:
        pytest.skip("NO ROOT/NET: " + why)
    ns = helpers.NetNS()
    try:
        ns.create()
        yield ns
    finally:
        ns.destroy()


@pytest.fixture
def tapns(netns):
    """`netns` with tap0 = 10.77.0.1/24."""
    netns.add_tap("tap0", "10.77.0.1/24")
    return netns


@pytest.fixture
def net_probe(skiff, asm, tapns):
    """net_probe(program, *options, guest="probe_net", nets=...) -> Result, run inside `tapns` with tap0 as
    service0 (unless `nets` says otherwise)."""
    def _run(program: str, *options: str, guest: str = "probe_net", nets=("--net:service0=tap0",)):
        argv = tapns.exec_argv([str(skiff), "run", "--mem=64", *nets, *options, "--", str(asm[guest]),
                                *program.split()])
        return helpers.run(argv)
    return _run


@pytest.fixture
def net_ring(net_probe):
    """Skips unless the monitor offers net ring I/O (host_features bit 0 in the boot info)."""
    r = net_probe(f"{helpers.BOOT_INFO + 40:#x} rdd print")
    helpers.expect_status(r, 0)
    if int(r.stdout.decode(), 16) & 1 == 0:
        pytest.skip("this monitor does not offer ring I/O (host_features bit 0 clear)")


@pytest.fixture
def swift_guest(swift_builder):
    """swift_guest(name) -> the built Tests/guests/NAME (skips while `skiff build` is unavailable)."""
    return lambda name: swift_builder.build(helpers.SWIFT_GUESTS_DIR / name)


@pytest.fixture
def example(swift_builder):
    """example(name) -> the built Examples/NAME."""
    return lambda name: swift_builder.build(helpers.EXAMPLES_DIR / name)
