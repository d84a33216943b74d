"""test_gdb.py: gdb sessions (Debian's gdb / gdb-multiarch in batch mode) against Swift guests, on every target
with a monitor (issue 14): `--gdb` of the hvt monitor, QEMU's own stub for virt images.

Where each target's monitor runs, and how gdb (always on the host) reaches it:

- hvt-x86_64: on the host's /dev/kvm (PVM here: breakpoints and steps through the guest's #BP/#DB handlers, no
  hardware breakpoints or watchpoints; a hardware-assisted KVM host gets the nested tier's expectations);
  `--gdb-port=0`, the port from the monitor's line;
- hvt-x86_64-kvm: inside the nested real-KVM machine (nested.py, kvm_amd), hvt-aarch64: the arm64 tender inside
  the nested arm64 KVM machine; both `--gdb` (127.0.0.1:1234 inside), reached through QEMU's user-network forward
  (`NestedVM.gdb_port`) and a busybox nc relay inside (`nested.gdb_relay`): TCP all the way;
- virt-aarch64: `skiff run --gdb-port=P IMAGE` runs QEMU with `-gdb tcp:127.0.0.1:P -S`; gdb reads IMAGE.elf;
- virt-aarch64-kvm: the same image under the arm64 tender's own virt machine in the nested arm64 KVM (`--gdb`).

The guest is Tests/guests/gdb built with `skiff build -g` (DWARF): breakpoints by `main.swift:LINE` (the lines its
`// gdb:` comments mark), Swift frames in `bt`, arguments printed; functions are named by their mangled symbols
(gdb does not know Swift). A session ends with `detach`, and the guest must then finish with SUCCESS, status 0.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import helpers
import nested
from targets import NESTED_RUN_TIMEOUT

GDB_GUEST = helpers.SWIFT_GUESTS_DIR / "gdb"
TRAP_GUEST = helpers.SWIFT_GUESTS_DIR / "trap"
LEAF = "$e8SkiffApp4leafyS2iF"
MIDDLE = "$e8SkiffApp6middleyS2iF"
COUNTER = "$e8SkiffApp10gdbCounterSivp"


def marked_line(marker: str, source: Path = GDB_GUEST / "main.swift") -> int:
    """The line of `source` whose comment is `// gdb: MARKER`."""
    for n, line in enumerate(source.read_text().splitlines(), start=1):
        if line.rstrip().endswith("// gdb: " + marker):
            return n
    raise AssertionError(f"no `// gdb: {marker}` line in {source}")


@dataclass(frozen=True)
class Where:
    """One target of these tests: how its image is built and where its monitor runs."""

    name: str
    build_args: tuple[str, ...]
    suffix: str
    gdb: str
    runner: str                 # "host", "qemu", "nested" (x86_64 real KVM) or "nested-arm64"
    marks: tuple[str, ...]
    #: Hardware breakpoints and watchpoints there (None: the host's KVM decides: not on PVM).
    hardware_debug: bool | None = True

    @property
    def hvt(self) -> bool:
        return self.runner != "qemu"


WHERE = (
    Where("hvt-x86_64", (), ".hvt", "gdb", "host", ("kvm",), hardware_debug=None),
    # QEMU 7.2's TCG runs this KVM: the debug registers of its guests never fire (docs/debugging.md).
    Where("hvt-x86_64-kvm", (), ".hvt", "gdb", "nested", ("nested",), hardware_debug=False),
    Where("hvt-aarch64", ("--arch", "aarch64", "--platform", "hvt"), ".hvt", "gdb-multiarch", "nested-arm64", ("nested",)),
    Where("virt-aarch64", ("--arch", "aarch64", "--platform", "virt"), ".img", "gdb-multiarch", "qemu", ("qemu",)),
    # The same virt images under the arm64 tender's own machine (Linux boot protocol, RAM at 0x40000000).
    Where("virt-aarch64-kvm", ("--arch", "aarch64", "--platform", "virt"), ".img", "gdb-multiarch", "nested-arm64",
          ("nested",)),
)


def params(only=None):
    return [pytest.param(w, id=w.name, marks=[getattr(pytest.mark, m) for m in w.marks])
            for w in WHERE if only is None or w.name in only]


@dataclass
class GdbRun:
    """What gdb printed, and how the monitor's run ended."""

    gdb: str
    gdb_status: int
    monitor: helpers.Result

    def describe(self) -> str:
        return f"--- gdb (status {self.gdb_status}) ---\n{self.gdb[-6000:]}\n--- monitor ---\n{self.monitor.describe()}"


class Monitor:
    """A monitor run with --gdb in the background: its output goes to files in `work` (under the nested share)."""

    WAITING = re.compile(r"gdb: (?:QEMU )?wait(?:s|ing) for a debugger on 127\.0\.0\.1:(\d+)")

    def __init__(self, dbg: "Debugging", argv: list[str]):
        self.dbg, self.argv = dbg, argv
        work = dbg.work
        self.out, self.err, self.status_file = work / "mon.out", work / "mon.err", work / "mon.status"
        for f in (self.out, self.err, self.status_file):
            f.unlink(missing_ok=True)
        self.proc = None
        self.thread = None
        self.nested_result = None
        w = dbg.where
        if w.runner in ("host", "qemu"):
            with open(self.out, "wb") as so, open(self.err, "wb") as se:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=so, stderr=se,
                                             start_new_session=True)
        else:
            vm = dbg.vm
            argv = list(argv)
            prologue = vm._exe_prologue(argv)
            q = shlex.quote
            script = (prologue + nested.gdb_relay(1234) + "\nrelay=$!\n"
                      + " ".join(q(a) for a in argv) + f" >{q(str(self.out))} 2>{q(str(self.err))}\n"
                      + f"echo $? >{q(str(self.status_file))}\nkill $relay 2>/dev/null\nexit 0\n")

            def run():
                self.nested_result = vm.run(["sh", "-c", script], dbg.timeout)
            self.thread = threading.Thread(target=run, daemon=True)
            self.thread.start()

    def stderr(self) -> str:
        return self.err.read_bytes().decode("utf-8", "replace") if self.err.exists() else ""

    def wait_ready(self) -> int:
        """The port gdb connects to, once the monitor waits for it."""
        deadline = time.monotonic() + self.dbg.timeout
        while time.monotonic() < deadline:
            m = self.WAITING.search(self.stderr())
            if m:
                return self.dbg.vm.gdb_port if self.dbg.vm is not None else int(m.group(1))
            if self.ended():
                break
            time.sleep(0.05)
        pytest.fail(f"the monitor did not wait for a debugger:\n{self.result().describe()}", pytrace=False)

    def ended(self) -> bool:
        return self.proc.poll() is not None if self.proc else not self.thread.is_alive()

    def result(self, timeout: float | None = None) -> helpers.Result:
        """Waits for the run to end (killing it after `timeout`) and returns it."""
        timeout = timeout or self.dbg.timeout
        if self.proc:
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            status = self.proc.returncode
        else:
            self.thread.join(timeout + 30)
            text = self.status_file.read_text().strip() if self.status_file.exists() else ""
            status = int(text) if text.lstrip("-").isdigit() else None
        so = self.out.read_bytes() if self.out.exists() else b""
        return helpers.Result(self.argv, status if status is not None else -1, so, self.stderr())


class Debugging:
    """One target: the guest built with -g, the monitor started with --gdb, gdb run against it."""

    def __init__(self, where: Where, skiff: Path, builder: helpers.SwiftBuilder, work: Path, vm=None, tender=None):
        self.where, self.skiff, self.builder, self.work, self.vm, self.tender = where, skiff, builder, work, vm, tender
        self.timeout = NESTED_RUN_TIMEOUT * 2 if vm is not None else 60

    def image(self, source: Path = GDB_GUEST) -> Path:
        return self.builder.build(source)

    def symbols(self, image: Path) -> Path:
        return Path(str(image) + ".elf") if self.where.suffix == ".img" else image

    def start(self, image: Path, *args: str, options: tuple[str, ...] = ()) -> Monitor:
        w = self.where
        if w.runner == "host":
            argv = [str(self.skiff), "run", "--mem=64", "--gdb-port=0", *options, str(image), *args]
        elif w.runner == "qemu":
            argv = [str(self.skiff), "run", "--mem=64", f"--gdb-port={nested._free_port()}", *options, str(image), *args]
        elif w.runner == "nested":
            argv = [str(self.skiff), "run", "--mem=64", "--gdb", *options, str(image), *args]
        else:
            argv = [str(self.tender), "--mem=64", "--gdb", *options, str(image), *args]
        return Monitor(self, argv)

    def gdb(self, monitor: Monitor, image: Path, commands: list[str], interrupt_after: float | None = None) -> GdbRun:
        """gdb -batch with `commands` after `target remote`; with `interrupt_after`, gdb gets SIGINT (its Ctrl-C,
        sent to the stub as 0x03) that many seconds after it connected (its first line: where the guest waits;
        the first command, `continue`, follows at once)."""
        port = monitor.wait_ready()
        argv = [self.where.gdb, "-batch", "-nx", "-ex", "set pagination off", "-ex", "set confirm off",
                "-ex", f"set remotetimeout {30 if self.vm is not None else 10}",
                "-ex", f"target remote 127.0.0.1:{port}"]
        for c in commands:
            argv += ["-ex", c]
        argv.append(str(self.symbols(image)))
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = bytearray()

        def reader():
            for chunk in iter(lambda: p.stdout.read1(4096), b""):
                out.extend(chunk)
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        if interrupt_after is not None:
            deadline = time.monotonic() + self.timeout
            while b"\n" not in out and p.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(interrupt_after)
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=self.timeout + 60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        t.join(10)
        return GdbRun(out.decode("utf-8", "replace"), p.returncode, monitor.result())


@pytest.fixture(scope="session")
def gdb_builders(skiff, tmp_path_factory) -> dict[str, helpers.SwiftBuilder]:
    return {w.name: helpers.SwiftBuilder(skiff, tmp_path_factory.mktemp("gdb-" + w.name), (*w.build_args, "-g"), w.suffix)
            for w in WHERE}


@pytest.fixture
def dbg(request, skiff, gdb_builders, tmp_path) -> Debugging:
    where: Where = request.param
    missing = helpers.tool(where.gdb, "GDB" if where.gdb == "gdb" else "GDB_MULTIARCH") is None
    if missing:
        pytest.skip(f"NO GDB: `{where.gdb}` is not installed (Debian package {where.gdb}; scripts/setup installs it)")
    vm = tender = None
    if where.runner == "nested":
        vm = request.getfixturevalue("nested_vm")
    elif where.runner == "nested-arm64":
        vm, tender = request.getfixturevalue("nested_arm64"), request.getfixturevalue("arm64_tender")
    return Debugging(where, skiff, gdb_builders[where.name], tmp_path, vm, tender)


def host_is_pvm() -> bool:
    return os.path.isdir("/sys/module/kvm_pvm")


def has_hardware_debug(dbg: Debugging) -> bool:
    """Hardware breakpoints and watchpoints: not on a PVM host, nor in KVM under QEMU's TCG (docs/debugging.md)."""
    if dbg.where.hardware_debug is None:
        return not host_is_pvm()
    return dbg.where.hardware_debug


def expect_no_hardware_said(r: GdbRun) -> None:
    """Where there are none, the monitor says so when the debugger connects."""
    assert re.search(r"gdb: .*: no hardware breakpoints or watchpoints", r.monitor.stderr), r.describe()


def expect_finished(r: GdbRun) -> None:
    """The guest ran to its end after the debugger let it go: SUCCESS, status 0."""
    assert r.monitor.returncode == 0 and "SUCCESS" in r.monitor.out, "the guest did not finish:\n" + r.describe()


# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dbg", params(), indirect=True)
def test_break_backtrace_print_step_detach(dbg):
    """break FILE:LINE, continue, bt with Swift frames, print an argument, stepi, detach: the guest finishes."""
    image = dbg.image()
    mon = dbg.start(image)
    r = dbg.gdb(mon, image, [
        f"break main.swift:{marked_line('middle')}", "continue",
        "bt", "print n", "print/x $pc", "stepi", "print/x $pc",
        "delete", "detach"])
    line = marked_line("middle")
    assert re.search(rf"Breakpoint 1, .*{re.escape(MIDDLE)} .*main\.swift:{line}", r.gdb), r.describe()
    bt = [l for l in r.gdb.splitlines() if re.match(r"#\d+ ", l)]
    assert len(bt) >= 3 and MIDDLE in bt[0] and "mainyyF" in bt[1], "bt does not list the Swift frames:\n" + r.describe()
    assert "= {_value = 10}" in r.gdb, "print n:\n" + r.describe()
    pcs = re.findall(r"^\$\d+ = (0x[0-9a-f]+)$", r.gdb, re.M)
    assert len(pcs) == 2 and pcs[0] != pcs[1], "stepi did not move the pc:\n" + r.describe()
    assert re.search(r"\[Inferior 1 \(.*\) detached\]", r.gdb), r.describe()
    expect_finished(r)
    if dbg.where.hvt:
        assert "gdb: the debugger detached; the guest runs on" in r.monitor.stderr, r.describe()


@pytest.mark.parametrize("dbg", params(), indirect=True)
def test_breakpoint_hit_each_call_and_continue_to_the_end(dbg):
    """A breakpoint on a function's symbol stops at each of its three calls; continuing after the last one runs
    the guest to its end and gdb sees it exit (W00)."""
    image = dbg.image()
    mon = dbg.start(image)
    r = dbg.gdb(mon, image, [f"break '{LEAF}'", "continue", "print n", "continue", "print n", "continue", "print n",
                             "continue"])
    assert re.findall(r"\$\d+ = \{_value = (\d+)\}", r.gdb) == ["10", "20", "30"], r.describe()
    assert "exited normally" in r.gdb, r.describe()
    expect_finished(r)


@pytest.mark.parametrize("dbg", params(), indirect=True)
def test_watchpoint(dbg):
    """`watch` the global counter: a hardware watchpoint stops right after each write (Old value/New value); where
    there are none (PVM, KVM under TCG), gdb's software watchpoint (single steps) does the same."""
    image = dbg.image()
    address = helpers.elf_symbols(dbg.symbols(image))[COUNTER]
    mon = dbg.start(image)
    hw = has_hardware_debug(dbg)
    r = dbg.gdb(mon, image, ([] if hw else ["set can-use-hw-watchpoints 0"]) + [
        f"tbreak '{MIDDLE}'", "continue", f"watch *(long *){address:#x}", "continue", "continue",
        "delete", "detach"])
    assert ("Hardware watchpoint 2" if hw else "Watchpoint 2") in r.gdb, r.describe()
    if not hw and dbg.where.hvt:
        expect_no_hardware_said(r)
    assert re.search(r"Old value = 0\s+New value = 1", r.gdb), r.describe()
    assert re.search(r"Old value = 1\s+New value = 2", r.gdb), r.describe()
    expect_finished(r)


@pytest.mark.parametrize("dbg", params(), indirect=True)
def test_hardware_breakpoint(dbg):
    """`hbreak` on a line: a hardware breakpoint where the hardware has them; where not (PVM, KVM under TCG) the
    stub refuses it, gdb says so, and the guest still finishes."""
    image = dbg.image()
    mon = dbg.start(image)
    line = marked_line("counter")
    r = dbg.gdb(mon, image, [f"hbreak main.swift:{line}", "continue", "print/x $pc", "delete", "detach"])
    if has_hardware_debug(dbg):
        assert re.search(rf"Breakpoint 1, .*{re.escape(LEAF)} .*main\.swift:{line}", r.gdb), r.describe()
    else:
        assert "Could not insert hardware breakpoint" in r.gdb or "Cannot insert hardware breakpoint" in r.gdb, r.describe()
        expect_no_hardware_said(r)
    expect_finished(r)


@pytest.mark.parametrize("dbg", params(), indirect=True)
def test_ctrl_c_interrupts_the_running_guest(dbg):
    """gdb's Ctrl-C (SIGINT to gdb, 0x03 to the stub) stops a guest that spins without exits; `bt` shows where;
    after `detach` it runs to its end."""
    image = dbg.image()
    spin = 8 if dbg.vm is not None else 4
    mon = dbg.start(image, f"spin={spin}")
    r = dbg.gdb(mon, image, ["continue", "bt", "detach"], interrupt_after=1.0 if dbg.vm is None else 3.0)
    assert "received signal SIGINT" in r.gdb, r.describe()
    assert "spin" in "\n".join(l for l in r.gdb.splitlines() if re.match(r"#\d+ ", l)), r.describe()
    expect_finished(r)


@pytest.mark.parametrize("dbg", params(["hvt-x86_64", "hvt-x86_64-kvm", "hvt-aarch64"]), indirect=True)
def test_trapping_guest_stops_at_the_trap(dbg):
    """A Swift trap (Int overflow): the stop is SIGABRT with the trap frame's registers, so `bt` names the function
    that trapped; continuing reports the exit (255) and the run ends as without gdb."""
    image = dbg.image(TRAP_GUEST)
    mon = dbg.start(image, "overflow")
    r = dbg.gdb(mon, image, ["continue", "bt 1", "continue"])
    assert "received signal SIGABRT" in r.gdb, r.describe()
    frame0 = next((l for l in r.gdb.splitlines() if l.startswith("#0 ")), "")
    assert "SkiffApp" in frame0, "bt does not name the trapping function:\n" + r.describe()
    assert "exited with code 0377" in r.gdb, r.describe()
    helpers.expect_abort(r.monitor)


@pytest.mark.parametrize("dbg", params(["hvt-x86_64", "hvt-x86_64-kvm", "hvt-aarch64", "virt-aarch64-kvm"]), indirect=True)
def test_kill_ends_the_run(dbg):
    image = dbg.image()
    mon = dbg.start(image)
    r = dbg.gdb(mon, image, [f"break '{LEAF}'", "continue", "kill"])
    assert r.monitor.returncode == 1 and "gdb: the debugger killed the guest" in r.monitor.stderr, r.describe()
    assert "SUCCESS" not in r.monitor.out


@pytest.mark.parametrize("dbg", params(["hvt-x86_64", "hvt-x86_64-kvm", "hvt-aarch64", "virt-aarch64-kvm"]), indirect=True)
def test_hostile_client(dbg):
    """Garbage, oversized and wild requests from the client: answered or refused, nothing read outside guest
    memory, no crash; when the client drops the connection the guest runs on and finishes."""
    image = dbg.image()
    mon = dbg.start(image)
    port = mon.wait_ready()
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.settimeout(60 if dbg.vm is not None else 10)

    def pkt(p: bytes) -> bytes:
        return b"$" + p + b"#%02x" % (sum(p) & 0xff)

    def ask(p: bytes) -> bytes:
        s.sendall(pkt(p))
        data = b""
        while not re.search(rb"\$[^#]*#..", data):
            chunk = s.recv(65536)
            assert chunk, "the stub closed the connection"
            data += chunk
        return re.search(rb"\$([^#]*)#..", data).group(1)

    s.sendall(b"\x00\xff" * 1000 + b"$#00" + b"}" * 5000 + b"-" * 10 + b"+" * 10)
    s.sendall(b"$" + b"A" * 100_000 + b"#00")                          # far beyond PacketSize
    # The garbage got replies (naks, resends, E22): read up to the reply of a marker request.
    s.sendall(pkt(b"qC"))
    seen = b""
    while b"$QC1#" not in seen:
        chunk = s.recv(65536)
        assert chunk, "the stub closed the connection on garbage"
        seen += chunk
    assert ask(b"qSupported").startswith(b"PacketSize=")
    wild = [b"mffffffffffff0000,10", b"m0,ffffffffffffffff", b"m" + b"f" * 40 + b",10", b"mffffffffffffffff,1",
            b"Mffffffffffff0000,4:00000000", b"X4000000000,1:\x00", b"Z0,ffffffffffff0000,1", b"Z0,4000000000,1",
            b"z0,123,1", b"p99999999", b"P9999=00", b"G00", b"Z2,4000000000,8", b"qXfer:features:read:target.xml:ffffffff,ffffffff",
            b"vCont;x", b"Hg-5", b"T7"]
    for w in wild:
        reply = ask(w)
        if w.startswith((b"m", b"M", b"X")):
            assert reply.startswith(b"E"), (w, reply)       # nothing outside guest memory, ever
    assert ask(b"m0,10") != b"" and ask(b"?").startswith(b"T05")    # still serving
    s.close()
    r = mon.result()
    assert r.returncode == 0 and "SUCCESS" in r.out, r.describe()
    assert "gdb: connection lost (the debugger closed the connection); the guest runs on without the debugger" in r.stderr, \
        r.describe()


def test_gdb_listens_on_loopback_only(skiff, gdb_builders, tmp_path):
    """--gdb is 127.0.0.1:1234 (upstream's default port), never another address; the sandboxed run then serves
    gdb and the guest finishes."""
    if helpers.kvm_missing():
        pytest.skip("NO KVM: " + helpers.kvm_missing())
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 1234)) == 0:
            pytest.skip("port 1234 is taken on this host: cannot check --gdb's default")
    image = gdb_builders["hvt-x86_64"].build(GDB_GUEST)
    p = subprocess.Popen([str(skiff), "run", "--mem=64", "--gdb", str(image)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        listening = []
        while time.monotonic() < deadline and not listening:
            for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
                f = line.split()
                if f[1].endswith(":04D2") and f[3] == "0A":    # port 1234, LISTEN
                    listening.append(f[1])
            time.sleep(0.05)
        assert listening == ["0100007F:04D2"], listening     # 127.0.0.1 only
        c = socket.create_connection(("127.0.0.1", 1234), timeout=10)
        c.sendall(b"$D#44")
        assert c.recv(16).startswith(b"+$OK")
        c.close()
        r = helpers.finish(p, timeout=60)
    finally:
        helpers.stop(p)
    assert r.returncode == 0 and "SUCCESS" in r.out, r.describe()


def test_busy_port_is_one_line(skiff, gdb_builders):
    if helpers.kvm_missing():
        pytest.skip("NO KVM: " + helpers.kvm_missing())
    image = gdb_builders["hvt-x86_64"].build(GDB_GUEST)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = helpers.run([str(skiff), "run", "--mem=64", f"--gdb-port={port}", str(image)], timeout=30)
    helpers.expect_monitor_error(r, f"--gdb: cannot listen on 127.0.0.1:{port}: Address already in use")
    assert len(r.stderr_lines) == 1, r.describe()


@pytest.mark.parametrize("dbg", params(["hvt-x86_64", "hvt-x86_64-kvm"]), indirect=True)
def test_fault_stops_then_ends_the_run(dbg, asm):
    """A fault the monitor sees (a write to read-only text: a translation fault) stops with SIGSEGV where it
    happened; continuing ends the run with it (X0b: gdb says the program terminated), status 1 as without gdb."""
    image = asm["probe"]
    mon = dbg.start(image, "0", "0x100000", "wr")
    r = dbg.gdb(mon, image, ["continue", "bt 1", "continue"])
    assert "received signal SIGSEGV" in r.gdb, r.describe()
    assert "probe_wr" in next((l for l in r.gdb.splitlines() if l.startswith("#0 ")), ""), r.describe()
    assert "terminated with signal SIGSEGV" in r.gdb, r.describe()
    helpers.expect_monitor_error(r.monitor, "translation fault")
