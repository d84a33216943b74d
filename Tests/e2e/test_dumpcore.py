"""test_dumpcore.py: `--dumpcore[=DIR]`: a guest abort or fault leaves an ELF core that gdb opens at the faulting frame.

Swift guests that trap (Tests/guests/trap: a #UD from a Swift runtime trap,
exception and zeropage: a #PF) abort through HALT 255 with a trap-frame
cookie; the core's registers must be the frame's, so `gdb -batch -ex bt
IMAGE CORE` names the trapping function (App.main, or `main` where the
compiler inlined it) and, thanks to the frame's saved rbp, its caller. The
assembly probe makes the monitor-side faults: a triple fault (`ud2` without
an IDT) and a host/guest translation fault (a write to read-only text).
Also: the tender's upstream name (solo5-hvt-debug writes core.solo5-hvt.PID),
no core without a fault, and a DIR that cannot be used ends the run at
start with one line (status 1). Needs gdb (scripts/setup installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path

import pytest

import helpers

pytestmark = pytest.mark.kvm

LINE = re.compile(r"^(?P<prog>[\w.-]+): dumpcore: dumped guest core to: (?P<path>\S+) \((?P<w>\d+) of (?P<t>\d+) pages\)$")


@pytest.fixture(scope="module")
def gdb() -> str:
    path = shutil.which("gdb")
    if not path:
        pytest.skip("NO GDB: install Debian's gdb (scripts/setup) to check core files")
    return path


def dumpcore_line(r: helpers.Result) -> re.Match:
    lines = [m for m in map(LINE.match, r.stderr_lines) if m]
    assert len(lines) == 1, "expected exactly one dumpcore line:\n" + r.describe()
    return lines[0]


def backtrace(gdb: str, image: Path, core: Path) -> str:
    r = helpers.run([gdb, "-batch", "-nx", "-ex", "bt", "-ex", "info registers rip rsp", str(image), str(core)],
                    timeout=120)
    assert r.returncode == 0, r.describe()
    return r.out


def check_core(r: helpers.Result, directory: Path, program: str = "skiff", name: str = "core.skiff-hvt") -> Path:
    m = dumpcore_line(r)
    assert m["prog"] == program
    core = Path(m["path"])
    assert core.parent.resolve() == directory.resolve()
    assert re.fullmatch(re.escape(name) + r"\.\d+", core.name), core.name
    assert core.exists(), r.describe()
    assert stat.S_IMODE(core.stat().st_mode) == 0o600
    assert core.read_bytes()[:4] == b"\x7fELF"
    assert int(m["w"]) > 0 and int(m["t"]) == 64 * 256   # 64 MiB in 4 KiB pages
    # Sparse: the file's apparent size covers guest memory, its blocks only the written pages.
    st = core.stat()
    assert st.st_size >= 64 << 20 and st.st_blocks * 512 < 16 << 20
    return core


@pytest.mark.parametrize("mode", ["overflow", "index", "fatal"])
def test_swift_trap_core_names_the_trapping_function(run_skiff, swift_guest, gdb, tmp_path, mode):
    guest = swift_guest("trap")
    r = run_skiff("--mem=64", f"--dumpcore={tmp_path}", guest, mode)
    helpers.expect_status(r, 255)
    core = check_core(r, tmp_path)
    bt = backtrace(gdb, guest, core)
    assert "Program terminated with signal SIGABRT" in bt, bt
    frames = [l for l in bt.splitlines() if l.startswith("#")]
    assert frames and "4mainyyF" in frames[0], "frame 0 should be App.main (the trapping function):\n" + bt
    assert any(re.search(r" in main \(\)", f) for f in frames[1:]), "App.main's caller from the frame's rbp:\n" + bt
    # The registers are the trap frame's, not the HALT hypercall's.
    rip = re.search(r"rip=(0x[0-9a-f]+)", r.stderr)
    assert rip and re.search(rf"^rip\s+{rip[1]}\b", bt, re.M), bt


@pytest.mark.parametrize("guest_name", ["exception", "zeropage"])
def test_swift_page_fault_core(run_skiff, swift_guest, gdb, tmp_path, guest_name):
    guest = swift_guest(guest_name)
    r = run_skiff("--mem=64", f"--dumpcore={tmp_path}", guest)
    helpers.expect_status(r, 255)
    bt = backtrace(gdb, guest, check_core(r, tmp_path))
    frames = [l for l in bt.splitlines() if l.startswith("#")]
    assert frames and re.search(r" in (main|\$\S*4mainyyF\S*) \(\)", frames[0]), bt


@pytest.mark.parametrize("program, function, phrase", [
    ("ud2", "probe_ud2", "(triple fault)"),
    ("0 0x100000 wr", "probe_wr_store", "translation fault"),
    ("255 halt", "do_halt", None),     # an abort without a trap frame: the HALT's own registers
])
def test_monitor_faults_leave_a_core(run_skiff, asm, gdb, tmp_path, program, function, phrase):
    r = run_skiff("--mem=64", f"--dumpcore={tmp_path}", "--", asm["probe"], *program.split())
    if phrase:
        helpers.expect_monitor_error(r, phrase)
    else:
        helpers.expect_status(r, 255)
    bt = backtrace(gdb, asm["probe"], check_core(r, tmp_path))
    frames = [l for l in bt.splitlines() if l.startswith("#")]
    assert frames and f" in {function}" in frames[0], bt


def test_upstream_name_and_default_directory(skiff, swift_guest, gdb, tmp_path):
    """Invoked as solo5-hvt-debug, `--dumpcore` (no DIR) writes upstream's core.solo5-hvt.PID in the current directory."""
    tender = skiff.parent / "skiff-hvt"
    exe = tmp_path / "bin" / "solo5-hvt-debug"
    exe.parent.mkdir()
    shutil.copy2(tender if tender.exists() else skiff, exe)
    work = tmp_path / "work"
    work.mkdir()
    guest = swift_guest("trap")
    cwd = os.getcwd()
    os.chdir(work)
    try:
        r = helpers.run([str(exe), "--mem=64", "--dumpcore", str(guest), "overflow"])
    finally:
        os.chdir(cwd)
    helpers.expect_status(r, 255)
    m = dumpcore_line(r)
    assert m["prog"] == "solo5-hvt-debug" and re.fullmatch(r"\./core\.solo5-hvt\.\d+", m["path"]), r.describe()
    core = work / Path(m["path"]).name
    assert core.exists() and stat.S_IMODE(core.stat().st_mode) == 0o600
    assert " in $" in backtrace(gdb, guest, core)
    usage = helpers.run([str(exe), "--help"])
    assert "--dumpcore[=DIR]" in usage.stdout.decode()


def test_no_fault_no_core(run_skiff, swift_guest, tmp_path):
    r = run_skiff("--mem=64", f"--dumpcore={tmp_path}", swift_guest("hello"), "Hello_Solo5")
    helpers.expect_success(r)
    assert "dumpcore" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_unusable_directory_ends_the_run_at_start(run_skiff, swift_guest, tmp_path):
    guest = swift_guest("hello")
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = {tmp_path / "missing": "No such file or directory", afile: "Not a directory"}
    if os.geteuid() != 0:   # root writes anywhere; a read-only directory only stops others
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        cases[ro] = "Permission denied"
    for d, why in cases.items():
        r = run_skiff("--mem=64", f"--dumpcore={d}", guest, "Hello_Solo5")
        assert r.returncode == 1, r.describe()
        assert r.stderr_lines == [f"skiff: --dumpcore: cannot write to directory: {d}: {why}"], r.describe()
        assert b"Hello" not in r.stdout, "the guest must not start"
    r = run_skiff("--dumpcore=", guest)
    assert r.returncode == 1 and r.stderr_lines[0] == "skiff: Invalid option: `--dumpcore='", r.describe()


# ---------------------------------------------------------------------------
# aarch64: the arm64 tender inside the nested arm64 KVM machine (nested.py), gdb-multiarch on the host.

@pytest.fixture(scope="module")
def a64_trap(skiff, tmp_path_factory) -> Path:
    """Tests/guests/trap built for hvt on aarch64."""
    b = helpers.SwiftBuilder(skiff, tmp_path_factory.mktemp("a64trap"), ("--arch", "aarch64", "--platform", "hvt"))
    return b.build(helpers.SWIFT_GUESTS_DIR / "trap")


@pytest.mark.nested
@pytest.mark.parametrize("mode", ["overflow", "index"])
def test_aarch64_swift_trap_core(nested_arm64, arm64_tender, a64_trap, tmp_path, mode):
    """A Swift runtime trap on arm64 (`brk` through the guest's vector table, HALT 255 with its exception frame):
    the core's NT_PRSTATUS holds the frame's x0-x30, sp, pc and PSTATE, so gdb-multiarch's `bt` on the
    host names the trapping function, and pc in the core is the abort line's."""
    gdbm = shutil.which("gdb-multiarch")
    if not gdbm:
        pytest.skip("NO GDB-MULTIARCH: install Debian's gdb-multiarch (scripts/setup) to check arm64 core files")
    r = nested_arm64.result([str(arm64_tender), "--mem=64", f"--dumpcore={tmp_path}", str(a64_trap), mode], 120)
    helpers.expect_status(r, 255)
    core = check_core(r, tmp_path, program="skiff-hvt")
    g = helpers.run([gdbm, "-batch", "-nx", "-ex", "bt", "-ex", "info registers pc sp", str(a64_trap), str(core)],
                    timeout=120)
    assert g.returncode == 0, g.describe()
    assert "Program terminated with signal SIGABRT" in g.out, g.out
    frames = [l for l in g.out.splitlines() if l.startswith("#")]
    assert frames and "4mainyyF" in frames[0], "frame 0 should be App.main (the trapping function):\n" + g.out
    assert any(" in main ()" in f for f in frames[1:]), "App.main's caller, from the frame's x29/x30:\n" + g.out
    pc = re.search(r"^pc\s+(0x[0-9a-f]+)", g.out, re.M)
    assert pc and int(pc[1], 16) != 0, g.out
