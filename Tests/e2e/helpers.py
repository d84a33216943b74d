"""helpers.py: running `skiff`, building test guests, and host prerequisites for the e2e suite.

Stdlib only. Conventions follow Solo5's tests.bats: a guest "succeeds" when
the monitor exits 0 and the output contains SUCCESS, and "aborts" when it
exits 255 and the output contains ABORT. Every process gets a timeout.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ASM_DIR = REPO / "Tests" / "AsmGuests"
SWIFT_GUESTS_DIR = REPO / "Tests" / "guests"
EXAMPLES_DIR = REPO / "Examples"
FIXTURES_DIR = REPO / "Tests" / "Fixtures" / "elf"

#: Default timeout of one monitor run, in seconds (Solo5 uses 60).
RUN_TIMEOUT = 60

#: Capacity of the block image of the `image` / `blk` fixtures (conftest.py).
CAPACITY = 64 * 1024
#: rawframe.py, which sends and captures raw Ethernet frames in a NetNS.
RAWFRAME = str(Path(__file__).with_name("rawframe.py"))
#: The Ethertype of the frames tests send and capture (IEEE local experimental).
ETHERTYPE = 0x88B5
MIB = 1 << 20


#: The scratch buffer of probe.S (needs --mem >= 4).
BUF = 0x200000
BOOT_INFO = 0x10000
MANIFEST = 0x10038
ENTRY_SIZE = 104

EXIT_SUCCESS = 0
EXIT_FAILURE = 1
EXIT_ABORT = 255

# solo5_result_t
R_OK, R_AGAIN, R_EINVAL, R_EUNSPEC = 0, 1, 2, 3

# hypercall numbers
HC_WALLTIME, HC_PUTS, HC_POLL, HC_BLOCK_WRITE, HC_BLOCK_READ, HC_NET_WRITE, HC_NET_READ, HC_HALT = range(1, 9)


@dataclass
class Result:
    """One finished monitor run."""

    argv: list[str]
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def out(self) -> str:
        """stdout + stderr as text (guest output may contain any bytes)."""
        return self.stdout.decode("utf-8", "replace") + self.stderr

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()

    def describe(self) -> str:
        so = self.stdout.decode("utf-8", "replace")
        if len(so) > 3000:
            so = so[:1500] + "\n[...]\n" + so[-1500:]
        return (f"command: {' '.join(self.argv)[:600]}\nexit status: {self.returncode}\n"
                f"--- stdout ---\n{so}\n--- stderr ---\n{self.stderr[-3000:]}")


def run(argv: list[str], timeout: float = RUN_TIMEOUT, env: dict | None = None) -> Result:
    """Runs argv to completion; a timeout kills it and fails the test."""
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        so = (e.stdout or b"").decode("utf-8", "replace")[-2000:]
        se = (e.stderr or b"")
        se = se.decode("utf-8", "replace") if isinstance(se, bytes) else se
        pytest.fail(f"timed out after {timeout}s: {' '.join(map(str, argv))[:400]}\n--- stdout ---\n{so}\n"
                    f"--- stderr ---\n{se[-2000:]}", pytrace=False)
    return Result([str(a) for a in argv], p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"))


def expect_success(r: Result) -> None:
    assert r.returncode == EXIT_SUCCESS and "SUCCESS" in r.out, "expected SUCCESS (exit 0):\n" + r.describe()


def expect_abort(r: Result) -> None:
    assert r.returncode == EXIT_ABORT and "ABORT" in r.out, "expected ABORT (exit 255):\n" + r.describe()


def expect_status(r: Result, status: int) -> None:
    assert r.returncode == status, f"expected exit status {status}:\n" + r.describe()


def expect_monitor_error(r: Result, *substrings: str) -> None:
    """Exit 1, and each substring on one line of stderr."""
    assert r.returncode == EXIT_FAILURE, "expected a monitor error (exit 1):\n" + r.describe()
    for s in substrings:
        assert any(s in line for line in r.stderr_lines), f"stderr has no line containing {s!r}:\n" + r.describe()


def stderr_line_with(r: Result, s: str) -> str:
    for line in r.stderr_lines:
        if s in line:
            return line
    raise AssertionError(f"stderr has no line containing {s!r}:\n" + r.describe())


# ---------------------------------------------------------------------------
# Host prerequisites. Each returns None when met, else the reason to skip.

def kvm_missing() -> str | None:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return f"/dev/kvm is not usable ({e.strerror}): the monitor cannot create a VM on this host"
    os.close(fd)
    return None


def root_missing() -> str | None:
    if os.geteuid() != 0:
        return "not running as root: network namespaces and taps need root"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing: no tap devices on this host"
    if shutil.which("ip") is None:
        return "`ip` is not installed (Debian package iproute2)"
    return None


def ping_missing() -> str | None:
    if shutil.which("ping") is None:
        return "`ping` is not installed (Debian package iputils-ping)"
    return None


def tool(name: str, env: str) -> str | None:
    return os.environ.get(env) or shutil.which(name)


# ---------------------------------------------------------------------------
# Guests

@dataclass(frozen=True)
class AsmGuest:
    source: str
    defines: tuple[str, ...] = ()


#: Every assembly guest variant: name -> (source in Tests/AsmGuests, -D flags).
ASM_GUESTS = {
    "hello": AsmGuest("hello.S"),
    "probe": AsmGuest("probe.S"),
    "probe_blk": AsmGuest("probe.S", ("-DPROBE_BLOCK",)),
    "probe_net": AsmGuest("probe.S", ("-DPROBE_NET",)),
    "probe_blknet": AsmGuest("probe.S", ("-DPROBE_BLOCK", "-DPROBE_NET")),
    "probe_net2": AsmGuest("probe.S", ("-DPROBE_NET2",)),
    "probe_maxdev": AsmGuest("probe.S", ("-DPROBE_MAXDEV",)),
    "probe_big": AsmGuest("probe_big.S"),
}


def build_asm_guests(outdir: Path) -> dict[str, Path]:
    clang = tool("clang", "CLANG")
    lld = tool("ld.lld", "LD_LLD")
    if clang is None or lld is None:
        pytest.skip("clang and ld.lld are needed to build Tests/AsmGuests (set CLANG / LD_LLD)")
    out = {}
    for name, g in ASM_GUESTS.items():
        obj, hvt = outdir / f"{name}.o", outdir / f"{name}.hvt"
        r = run([clang, "-target", "x86_64-unknown-none-elf", f"-I{ASM_DIR}", *g.defines,
                 "-c", str(ASM_DIR / g.source), "-o", str(obj)], timeout=120)
        assert r.returncode == 0, f"assembling {name} failed:\n" + r.describe()
        r = run([lld, "-T", str(ASM_DIR / "guest.ld"), "-nostdlib", "-static", str(obj), "-o", str(hvt)],
                timeout=120)
        assert r.returncode == 0, f"linking {name} failed:\n" + r.describe()
        out[name] = hvt
    return out


def elf_symbols(path: Path) -> dict[str, int]:
    """Symbol name -> value from an ELF64 .symtab (enough for our static guests)."""
    data = path.read_bytes()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    syms = {}
    for s in sections:
        if s[1] != 2:  # SHT_SYMTAB
            continue
        strtab = sections[s[6]]
        for off in range(s[4], s[4] + s[5], 24):
            name_off, _info, _other, _shndx, value, _size = struct.unpack_from("<IBBHQQ", data, off)
            start = strtab[4] + name_off
            end = data.index(b"\0", start)
            syms[data[start:end].decode()] = value
    return syms


def elf_kernel_end(path: Path) -> int:
    """Spec §2.3: end of the last file-backed PT_LOAD, aligned up to its p_align."""
    data = path.read_bytes()
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    end = 0
    for i in range(phnum):
        p_type, _flags, _off, vaddr, _paddr, filesz, memsz, align = struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)
        if p_type == 1 and filesz > 0:
            end = max(end, (vaddr + memsz + align - 1) & ~(align - 1))
    return end


class SwiftBuilder:
    """Builds Embedded Swift guests with `skiff build [BUILD_ARGS]`, once each per session.

    One builder per target (targets.py): `build_args` are the target's extra
    `skiff build` arguments (e.g. `--arch aarch64`), `suffix` its image suffix.
    `build_all` builds several at once, in parallel (a build is the slow part).
    """

    NOT_READY_MARKERS = ("not implemented", "unknown command")

    def __init__(self, skiff: Path, outdir: Path, build_args: tuple[str, ...] = (), suffix: str = ".hvt"):
        self.skiff = skiff
        self.outdir = outdir
        self.build_args = tuple(build_args)
        self.suffix = suffix
        self.cache: dict[Path, Path] = {}
        self.failures: dict[Path, Result] = {}
        self.unavailable: str | None = None

    def _build_one(self, source: Path) -> None:
        out = self.outdir / (source.parent.name + "_" + source.name + self.suffix)
        r = run([str(self.skiff), "build", *self.build_args, str(source), "-o", str(out)],
                timeout=float(os.environ.get("SKIFF_BUILD_TIMEOUT", "900")))
        if r.returncode == 0 and out.exists():
            self.cache[source] = out
        else:
            self.failures[source] = r

    def build_all(self, sources) -> None:
        """Builds every source not built (or tried) yet, in parallel."""
        import concurrent.futures
        todo = [s.resolve() for s in sources]
        todo = [s for i, s in enumerate(todo) if s not in self.cache and s not in self.failures and s not in todo[:i]]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
            list(pool.map(self._build_one, todo))

    def build(self, source: Path) -> Path:
        if self.unavailable:
            pytest.skip(self.unavailable)
        source = source.resolve()
        if source not in self.cache and source not in self.failures:
            self._build_one(source)
        if source in self.failures:
            r = self.failures[source]
            what = " ".join(["skiff build", *self.build_args])
            if any(m in r.out for m in self.NOT_READY_MARKERS):
                self.unavailable = (f"`{what}` is not available yet (the Embedded Swift runtime has not landed): "
                                    + r.out.strip().splitlines()[-1][:200])
                pytest.skip(self.unavailable)
            pytest.fail(f"{what} {source} failed:\n" + r.describe(), pytrace=False)
        return self.cache[source]


# ---------------------------------------------------------------------------
# Network namespaces

class NetNS:
    """A private network namespace with taps in it; never touches the host's interfaces."""

    _counter = 0

    def __init__(self):
        NetNS._counter += 1
        self.name = f"skiff-test-{os.getpid()}-{NetNS._counter}"
        self.created = False

    def ip(self, *args: str, check: bool = True) -> Result:
        r = run(["ip", "-n", self.name, *args], timeout=30)
        if check:
            assert r.returncode == 0, "ip command failed:\n" + r.describe()
        return r

    def create(self) -> None:
        r = run(["ip", "netns", "add", self.name], timeout=30)
        assert r.returncode == 0, "ip netns add failed:\n" + r.describe()
        self.created = True
        # No IPv6: otherwise the kernel's DAD/MLD/RS frames reach the guest first.
        r = run(["ip", "netns", "exec", self.name, "sysctl", "-qw",
                 "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"], timeout=30)
        assert r.returncode == 0, "turning IPv6 off failed (`sysctl` is Debian package procps):\n" + r.describe()
        self.ip("link", "set", "lo", "up")

    def add_tap(self, tap: str, address: str | None, mtu: int | None = None) -> None:
        self.ip("tuntap", "add", tap, "mode", "tap")
        if mtu is not None:
            self.ip("link", "set", tap, "mtu", str(mtu))
        if address is not None:
            self.ip("addr", "add", address, "dev", tap)
        self.ip("link", "set", tap, "up")

    def has_carrier(self, tap: str) -> bool:
        """True once a process has the tap open (the monitor attached it)."""
        r = self.ip("link", "show", tap, check=False)
        return r.returncode == 0 and "NO-CARRIER" not in r.out

    def wait_carrier(self, tap: str, proc: subprocess.Popen, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.has_carrier(tap):
                return
            if proc.poll() is not None:
                raise AssertionError(f"the monitor exited ({proc.returncode}) before attaching {tap}")
            time.sleep(0.02)
        raise AssertionError(f"{tap} never got a carrier: the monitor did not attach it")

    def exec_argv(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def destroy(self) -> None:
        if self.created:
            subprocess.run(["ip", "netns", "del", self.name], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)
            self.created = False


def popen(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def finish(p: subprocess.Popen, timeout: float = RUN_TIMEOUT, context: Result | None = None) -> Result:
    """Waits for a Popen'd monitor; kills its process group on timeout and fails (with `context`, e.g. the
    ping's view, in the report). Output read earlier (`p.early_stdout`, see start_guest) comes first."""
    early = getattr(p, "early_stdout", b"")
    try:
        so, se = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        so, se = p.communicate()
        pytest.fail(f"timed out after {timeout}s: {' '.join(map(str, p.args))[:400]}\n--- stdout ---\n"
                    f"{(early + so).decode('utf-8', 'replace')[-2000:]}\n--- stderr ---\n"
                    f"{se.decode('utf-8', 'replace')[-2000:]}"
                    + (("\n--- and ---\n" + context.describe()) if context else ""), pytrace=False)
    return Result([str(a) for a in p.args], p.returncode, early + so, se.decode("utf-8", "replace"))


# ---------------------------------------------------------------------------
# Raw frames on a tap (rawframe.py), for the probe guests.

def run_receiving(ns: NetNS, argv: list[str], frame: bytes, tap: str = "tap0") -> Result:
    """Runs `argv` (a `skiff run`) in the namespace and sends `frame` on `tap` once the monitor has it open."""
    p = popen(ns.exec_argv(argv))
    try:
        ns.wait_carrier(tap, p)
        s = run(ns.exec_argv([sys.executable, RAWFRAME, "send", tap, frame.hex()]))
        assert s.returncode == 0, s.describe()
        return finish(p)
    finally:
        stop(p)


def capture_during(ns: NetNS, action, tap: str = "tap0", ethertype: int = ETHERTYPE) -> Result:
    """Captures the frames of `ethertype` on `tap` (30 s at most) while action() runs; rawframe's result."""
    cap = popen(ns.exec_argv([sys.executable, RAWFRAME, "capture", tap, f"{ethertype:x}", "30"]))
    try:
        assert cap.stdout.readline().strip() == b"ready"
        action()
        return finish(cap, timeout=40)
    finally:
        stop(cap)


# ---------------------------------------------------------------------------
# Guests that answer ping (test_conformance.py, test_swift_net.py), in a NetNS.

def start_guest(ns: NetNS, argv: list[str], taps, env: dict | None = None, ready: bytes = b"ready",
                timeout: float = 30) -> subprocess.Popen:
    """Starts `argv` (a `skiff run`) in the namespace, waits until it has attached every tap and printed
    `ready`: the taps get a carrier (the monitor or QEMU opened them) before the guest's driver is up, and
    a ping sent in between may cost an ARP retry (1 s). Output read here is kept in `p.early_stdout`."""
    p = subprocess.Popen(ns.exec_argv(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True, env=env)
    for tap in taps:
        ns.wait_carrier(tap, p)
    p.early_stdout = b""
    deadline = time.monotonic() + timeout
    fd = p.stdout.fileno()
    while ready not in p.early_stdout and time.monotonic() < deadline:
        if not select.select([fd], [], [], 0.5)[0]:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        p.early_stdout += chunk
    return p


def ping_argv(ns: NetNS, ip: str, *options: str, count: int = 5) -> list[str]:
    # `-c N -W 5`, never `-w`: with a deadline ping keeps sending until N replies arrive, so a
    # slow guest that exits after N answers would see an extra, unanswered request.
    return ns.exec_argv(["ping", "-n", "-c", str(count), "-W", "5", *options, ip])


def ping(ns: NetNS, ip: str, *options: str, count: int = 5, deadline: float = 60) -> Result:
    return run(ping_argv(ns, ip, *options, count=count), timeout=deadline + 30)


def expect_all_replies(r: Result, count: int, guest: Result | None = None) -> None:
    """Every one of `count` echo requests answered once; on failure the unanswered sequence numbers and,
    when given, the guest's own output (did it stop early?) are part of the message."""
    # iputils: "N received"; busybox (inside the nested machines): "N packets received".
    if not (r.returncode == 0 and re.search(rf"\b{count} (packets )?received", r.out) and " 0% packet loss" in r.out):
        answered = {int(m) for m in re.findall(r"icmp_seq=(\d+)", r.out)}
        first = 1 if "icmp_seq=0 " not in r.out else 0
        missing = sorted(set(range(first, first + count)) - answered)
        more = f"\n--- the guest ---\n{guest.describe()}" if guest is not None else ""
        raise AssertionError(f"ping lost replies, icmp_seq {missing[:50]}:\n" + r.describe() + more)
    assert "wrong data" not in r.out and "DUP!" not in r.out, r.describe()


def ping_session(ns: NetNS, argv: list[str], taps, ip: str, *options: str, count: int, deadline: float = 60,
                 env: dict | None = None) -> tuple[Result, Result]:
    """Starts the guest, pings `ip` `count` times, waits for the guest to exit (it has a limit);
    (ping, guest). The guest is killed however this ends."""
    p = start_guest(ns, argv, taps, env=env)
    try:
        pr = ping(ns, ip, *options, count=count, deadline=deadline)
        r = finish(p, timeout=30, context=pr)
    finally:
        stop(p)
    return pr, r


# ---------------------------------------------------------------------------
# Looking at a running monitor (test_sandbox.py, test_durability.py, test_hostile.py, test_config_more.py)

def proc_status(pid: int, tid: int | None = None) -> dict[str, str]:
    """/proc/PID/status (or /proc/PID/task/TID/status) as a dict of stripped values."""
    path = f"/proc/{pid}/task/{tid}/status" if tid is not None else f"/proc/{pid}/status"
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def threads(pid: int) -> list[int]:
    return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))


def session_members(sid: int) -> list[int]:
    """Pids of the live processes in session `sid` (field 6 of /proc/PID/stat)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(d))
    return pids


def wait_for_output(p: subprocess.Popen, want: bytes, timeout: float = 30) -> bytes:
    """Reads the Popen'd monitor's stdout until it has `want` bytes, i.e. the guest is running."""
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < len(want):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([p.stdout], [], [], max(left, 0))
        if not ready:
            raise AssertionError(f"the guest printed {got!r}, not {want!r}, within {timeout} s")
        chunk = os.read(p.stdout.fileno(), len(want) - len(got))
        if not chunk:
            raise AssertionError(f"the monitor exited ({p.wait()}) after printing {got!r}; "
                                 f"stderr: {p.stderr.read().decode('utf-8', 'replace')[-2000:]}")
        got += chunk
    assert got == want, f"the guest printed {got!r}, expected {want!r}"
    return got


def stop(p: subprocess.Popen) -> None:
    """Kills a Popen'd process group that is still running (test clean-up)."""
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def drop_dac_override() -> None:
    """preexec_fn: remove CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set, so that
    file permissions apply to the child even when the suite runs as root (no-op when unprivileged)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)


def pattern(n: int, seed: int = 0) -> bytes:
    """The contents of the `image` fixture's block device (conftest.py): no two neighbouring blocks alike."""
    return bytes((i * 7 + seed + (i >> 8)) & 0xFF for i in range(n))


def zero_image(path: Path, size: int = 4 << 20) -> Path:
    """A block device image of `size` zero bytes at `path`."""
    path.write_bytes(bytes(size))
    return path
