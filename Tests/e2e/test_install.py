"""test_install.py: skiff installed into a temporary prefix, used from a directory outside the tree, then uninstalled.

Issue 15's end-to-end checks, in order (one installation per module): scripts/install PREFIX (with
--swift-sdks-path, so the user's ~/.swiftpm is untouched); from a temporary directory, with no
SKIFF_RUNTIME_DIR: `skiff init`, `skiff build`, `skiff run` on every platform row; `swift build` for
the host (type-checks against the Skiff API); `swift build --swift-sdk` of Examples/greeter (a
dependency on another local package) and `skiff run` of the result; scripts/uninstall leaves nothing.
Running a guest needs /dev/kvm (hvt x86_64) or qemu-system-aarch64 (virt); without them only the
builds are checked, and the run is skipped loudly.
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

pytestmark = pytest.mark.swift

BUILD_TIMEOUT = 900       # scripts/install runs scripts/build (incremental; a cold build takes minutes)
SWIFT_TIMEOUT = 600

PLATFORMS = [  # (arch, platform, output suffix, file check)
    ("x86_64", "hvt", ".hvt", b"\x7fELF"),
    ("aarch64", "virt", ".img", b"ARMd"),
    ("aarch64", "hvt", ".hvt", b"\x7fELF"),
    ("x86_64", "xen", ".xen", b"\x7fELF"),
    ("aarch64", "xen", ".img", b"ARMd"),
]


def swift_missing() -> str | None:
    return None if shutil.which("swift") else "swift is not in PATH"


class Installed:
    def __init__(self, root: Path):
        self.root = root
        self.prefix = root / "prefix"
        self.sdks = root / "swift-sdks"
        self.work = root / "work"          # outside the source tree
        self.work.mkdir()
        env = {k: v for k, v in os.environ.items() if k not in ("SKIFF_RUNTIME_DIR", "SKIFF")}
        env["PATH"] = f"{self.prefix}/bin:" + env.get("PATH", "/usr/bin:/bin")
        self.env = env

    @property
    def skiff(self) -> str:
        return str(self.prefix / "bin" / "skiff")

    def run(self, argv, cwd: Path, timeout: float = SWIFT_TIMEOUT) -> helpers.Result:
        try:
            p = subprocess.run([str(a) for a in argv], cwd=cwd, env=self.env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"timed out after {timeout}s: {' '.join(map(str, argv))}", pytrace=False)
        return helpers.Result([str(a) for a in argv], p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"))

    def ok(self, argv, cwd: Path, timeout: float = SWIFT_TIMEOUT) -> helpers.Result:
        r = self.run(argv, cwd, timeout)
        assert r.returncode == 0, r.describe()
        return r


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    inst = Installed(tmp_path_factory.mktemp("install"))
    r = inst.run([REPO / "scripts" / "install", "--swift-sdks-path", inst.sdks, inst.prefix], cwd=inst.work,
                 timeout=BUILD_TIMEOUT)
    assert r.returncode == 0, r.describe()
    return inst


def test_install_layout(installed: Installed):
    p = installed.prefix
    for f in ["bin/skiff", "bin/skiff-hvt", "share/skiff/Guest/Package.swift", "share/skiff/Guest/Skiff/Skiff.swift",
              "share/skiff/Guest/Net/Network.swift",
              "share/skiff/Guest/include/skiff_rt.h", "share/skiff/Guest/include/hvt_abi.h",
              "share/skiff/Sources/CSkiffABI/include/hvt_abi.h", "share/skiff/Guest/platform/hvt/x86_64/skiff.ld"]:
        assert (p / f).is_file(), f"{f} not installed"
    assert os.access(p / "bin/skiff", os.X_OK) and os.access(p / "bin/skiff-hvt", os.X_OK)
    # No symbolic links: share/skiff stands alone (no link back into the source tree).
    links = [str(q) for q in p.rglob("*") if q.is_symlink()]
    assert not links, links
    listed = {line.split(" ", 1)[1] for line in (p / "share/skiff/install-manifest").read_text().splitlines()
              if line.startswith("file ")}
    on_disk = {str(q) for q in p.rglob("*") if q.is_file()}
    assert listed == on_disk, f"install-manifest and the files differ: {listed ^ on_disk}"
    # The Swift SDKs, one per platform row.
    r = installed.ok(["swift", "sdk", "list", "--swift-sdks-path", installed.sdks], cwd=installed.work)
    for arch, platform, _, _ in PLATFORMS:
        assert f"skiff-{arch}-{platform}" in r.out.split(), r.describe()


def test_init_creates_a_swift_package(installed: Installed):
    r = installed.ok([installed.skiff, "init", "hello"], cwd=installed.work)
    pkg = installed.work / "hello"
    assert "created hello/" in r.out
    assert sorted(str(q.relative_to(pkg)) for q in pkg.rglob("*") if q.is_file()) == \
        [".gitignore", "Package.swift", "Sources/hello/main.swift", "manifest.json"]
    text = (pkg / "Package.swift").read_text()
    assert f'.package(path: "{installed.prefix.resolve()}/share/skiff/Guest")' in text, text
    assert "// skiff-platform: x86_64-hvt" in text
    # SwiftPM reads it: the package's one executable target, depending on the Skiff product.
    r = installed.ok(["swift", "package", "dump-package"], cwd=pkg, timeout=120)
    assert '"name" : "hello"' in r.out and '"Skiff"' in r.out, r.describe()


def test_init_refuses_bad_names_and_existing_directories(installed: Installed):
    for argv, message in [(["init"], "missing NAME"), (["init", "9lives"], "must be a Swift identifier"),
                          (["init", "a-b"], "must be a Swift identifier"), (["init", "Skiff"], "Skiff module"),
                          (["init", "--platform", "nope", "x"], "--platform nope is not supported"),
                          (["init", "--bogus", "x"], "unknown option --bogus")]:
        r = installed.run([installed.skiff] + argv, cwd=installed.work)
        assert r.returncode == 1 and r.stderr_lines and r.stderr_lines[0].startswith("skiff init: ") \
            and message in r.stderr_lines[0], r.describe()
    (installed.work / "taken").mkdir()
    r = installed.run([installed.skiff, "init", "taken"], cwd=installed.work)
    assert r.returncode == 1 and "taken already exists" in r.stderr, r.describe()
    assert not any((installed.work / "taken").iterdir())


def test_sdk_and_link_commands(installed: Installed):
    r = installed.ok([installed.skiff, "sdk", "list"], cwd=installed.work)
    assert r.stdout.decode().split() == [f"skiff-{a}-{p}" for a, p, _, _ in PLATFORMS], r.describe()
    for argv, prefix in [(["sdk"], "skiff sdk: missing command"), (["sdk", "bogus"], "skiff sdk: bad arguments"),
                         (["link"], "skiff link: missing --"), (["link", "--arch", "x86_64", "--platform", "nope", "--", "a.o"],
                                                               "skiff link: --platform nope is not supported")]:
        r = installed.run([installed.skiff] + argv, cwd=installed.work)
        assert r.returncode == 1 and r.stderr_lines and r.stderr_lines[0].startswith(prefix), r.describe()
    # The bundle as installed: each SDK's clang is `skiff link` of the installed skiff.
    script = (installed.sdks / "skiff.artifactbundle" / "skiff-x86_64-hvt" / "bin" / "clang").read_text()
    assert f"exec {installed.skiff} link --arch x86_64 --platform hvt --" in script, script


def test_init_build_run_hvt(installed: Installed):
    pkg = installed.work / "hello"
    if not pkg.exists():
        installed.ok([installed.skiff, "init", "hello"], cwd=installed.work)
    installed.ok([installed.skiff, "build"], cwd=pkg)
    image = pkg / "hello.hvt"
    assert image.read_bytes()[:4] == b"\x7fELF"
    r = installed.ok([installed.skiff, "inspect", image], cwd=pkg)
    assert "ABI" in r.out or "abi" in r.out.lower(), r.describe()
    if helpers.kvm_missing():
        pytest.skip("NO KVM: built, not run: " + helpers.kvm_missing())
    r = installed.run([installed.skiff, "run", image, "a", "b"], cwd=pkg, timeout=60)
    assert r.returncode == 0 and r.stdout.decode().strip() == "hello: a b", r.describe()


@pytest.mark.parametrize("arch,platform,suffix,magic", PLATFORMS, ids=[f"{a}-{p}" for a, p, _, _ in PLATFORMS])
def test_init_build_every_platform(installed: Installed, arch, platform, suffix, magic):
    name = f"k_{arch}_{platform}"
    installed.ok([installed.skiff, "init", "--arch", arch, "--platform", platform, name], cwd=installed.work)
    pkg = installed.work / name
    assert f"// skiff-platform: {arch}-{platform}" in (pkg / "Package.swift").read_text()
    installed.ok([installed.skiff, "build"], cwd=pkg)     # the platform comes from Package.swift
    image = pkg / (name + suffix)
    data = image.read_bytes()
    assert data[:4] == magic or data[0x38:0x3c] == magic, f"{image}: unexpected header {data[:64]!r}"
    if (arch, platform) == ("aarch64", "virt"):
        if shutil.which("qemu-system-aarch64") is None:
            pytest.skip("NO QEMU: built, not run: qemu-system-aarch64 missing")
        r = installed.run([installed.skiff, "run", image, "x"], cwd=pkg, timeout=120)
        assert r.returncode == 0 and r.stdout.decode().strip() == f"{name}: x", r.describe()


def test_host_swift_build_type_checks_against_the_skiff_api(installed: Installed):
    if swift_missing():
        pytest.skip("NO SWIFT: " + swift_missing())
    installed.ok([installed.skiff, "init", "hosted"], cwd=installed.work)
    pkg = installed.work / "hosted"
    installed.ok(["swift", "build"], cwd=pkg)
    r = installed.ok([pkg / ".build" / "debug" / "hosted", "x", "y"], cwd=pkg, timeout=60)
    assert r.stdout.decode().strip() == "hosted: x y", r.describe()
    # A misuse of the Skiff API is a compile error on the host, as in an editor.
    (pkg / "Sources/hosted/Oops.swift").write_text("import Skiff\nfunc oops() { Skiff.noSuchThing() }\n")
    r = installed.run(["swift", "build"], cwd=pkg)
    assert r.returncode != 0 and "noSuchThing" in r.out + r.stderr, r.describe()


def greeter_copy(installed: Installed) -> Path:
    """Examples/greeter outside the tree, its Skiff dependency pointed at the installed runtime."""
    pkg = installed.work / "greeter"
    if not pkg.exists():
        shutil.copytree(REPO / "Examples" / "greeter", pkg, ignore=shutil.ignore_patterns(".build"))
        manifest = pkg / "Package.swift"
        text = manifest.read_text()
        assert '.package(path: "../../Guest")' in text
        manifest.write_text(text.replace('"../../Guest"', f'"{installed.prefix}/share/skiff/Guest"'))
    return pkg


def test_swift_sdk_build_with_a_local_dependency_runs(installed: Installed):
    if swift_missing():
        pytest.skip("NO SWIFT: " + swift_missing())
    pkg = greeter_copy(installed)
    installed.ok(["swift", "build", "--swift-sdks-path", installed.sdks, "--swift-sdk", "skiff-x86_64-hvt"], cwd=pkg)
    image = pkg / ".build/x86_64-unknown-none-elf/debug/greeter"
    r = installed.ok([installed.skiff, "inspect", image], cwd=pkg)
    if helpers.kvm_missing():
        pytest.skip("NO KVM: built, not run: " + helpers.kvm_missing())
    r = installed.run([installed.skiff, "run", image, "Ann", "Bo"], cwd=pkg, timeout=60)
    assert r.returncode == 0, r.describe()
    assert r.stdout.decode().splitlines() == ["Ahoy, Ann!", "Ahoy, Bo!", "greeter: 2 greeted, 5 letters"], r.describe()


def test_swift_sdk_build_for_qemu_virt_runs(installed: Installed):
    if swift_missing():
        pytest.skip("NO SWIFT: " + swift_missing())
    pkg = greeter_copy(installed)
    installed.ok(["swift", "build", "--swift-sdks-path", installed.sdks, "--swift-sdk", "skiff-aarch64-virt"], cwd=pkg)
    image = pkg / ".build/aarch64-none-none-elf/debug/greeter"
    assert image.read_bytes()[0x38:0x3c] == b"ARMd"          # the post-link step ran: a raw arm64 Image
    assert (pkg / ".build/aarch64-none-none-elf/debug/greeter.elf").is_file()
    if shutil.which("qemu-system-aarch64") is None:
        pytest.skip("NO QEMU: built, not run: qemu-system-aarch64 missing")
    r = installed.run([installed.skiff, "run", image, "Cy"], cwd=pkg, timeout=120)
    assert r.returncode == 0 and r.stdout.decode().splitlines() == ["Ahoy, Cy!", "greeter: 1 greeted, 2 letters"], r.describe()


#: The SDK builds whose platform `skiff run` does not run on this host: run on the conformance suite's targets
#: (targets.py) by their runners, the arm64 tender in the nested arm64 KVM machine and Xen 4.17 under QEMU.
SDK_TARGETS = ("hvt-aarch64", "xen-x86_64", "xen-aarch64")


@pytest.mark.parametrize("tv", targets.params(only=SDK_TARGETS))
def test_swift_sdk_build_runs_on_its_target(installed: Installed, t: targets.TargetRun):
    """`swift build --swift-sdk skiff-ARCH-PLATFORM` of Examples/greeter, run where that platform runs: the
    greeting lines come from the local Greeting package, the count line from the executable."""
    if swift_missing():
        pytest.skip("NO SWIFT: " + swift_missing())
    target = t.target
    sdk = f"skiff-{target.arch}-{target.platform}"
    pkg = greeter_copy(installed)
    # Platforms of one architecture share a triple (docs/swift-packages.md): a scratch directory per SDK.
    scratch = pkg / f".build-{sdk}"
    installed.ok(["swift", "build", "--swift-sdks-path", installed.sdks, "--swift-sdk", sdk,
                  "--scratch-path", scratch], cwd=pkg)
    triple = "x86_64-unknown-none-elf" if target.arch == "x86_64" else "aarch64-none-none-elf"
    image = scratch / triple / "debug" / "greeter"
    data = image.read_bytes()
    if target.platform == "hvt" or target.arch == "x86_64":
        assert data[:4] == b"\x7fELF" and data[18] == (183 if target.arch == "aarch64" else 62), data[:20]
    else:
        assert data[0x38:0x3c] == b"ARMd", data[:64]     # the raw arm64 Image, not the ELF
    r = t.run(*t.mem, "--", image, "Di", "Eve", timeout=240)
    assert r.returncode == 0, r.describe()
    assert r.stdout.decode().splitlines() == ["Ahoy, Di!", "Ahoy, Eve!", "greeter: 2 greeted, 5 letters"], \
        r.describe()


def test_uninstall_leaves_nothing(installed: Installed):
    r = installed.run([REPO / "scripts" / "uninstall", installed.prefix], cwd=installed.work)
    assert r.returncode == 0, r.describe()
    assert not installed.prefix.exists(), sorted(str(q) for q in installed.prefix.rglob("*"))
    assert not (installed.sdks / "skiff.artifactbundle").exists()
    r = installed.run(["swift", "sdk", "list", "--swift-sdks-path", installed.sdks], cwd=installed.work)
    assert "skiff-" not in r.out, r.describe()
    # A second uninstall: nothing there, one line, exit 1.
    r = installed.run([REPO / "scripts" / "uninstall", installed.prefix], cwd=installed.work)
    assert r.returncode == 1 and "no skiff installed" in r.stderr, r.describe()
