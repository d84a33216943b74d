"""xen.py: running `skiff build --platform xen` images: under Xen 4.17 in QEMU TCG, and under QEMU's PVH loader alone.

Runners of the conformance targets (targets.py `runner`), each a function
`run(args, timeout) -> helpers.Result` that takes what `skiff run` would
(`[--mem=N] [--] IMAGE ARGS...`):

- "pvh-qemu": qemu-system-x86_64 -machine microvm -kernel IMAGE -append ARGS,
  no Xen. The guest's console is COM1; its status comes from isa-debug-exit
  (QEMU exits (N << 1) | 1) and from the `Skiff: exit status N` line.
- "xen-x86_64": Xen + the image as a PVH dom0 (platform-notes 9.3): Xen is
  the multiboot kernel, the image with its command line the first module.
  The guest's console is HYPERVISOR_console_io, written raw among Xen's own
  `(XEN) ` lines on COM1. After the dom0 shuts down Xen prints `Hardware
  Dom0 halted` (or `crashed`) and QEMU keeps running: we watch for that
  line and end QEMU ourselves.

The Result is what a test of `skiff run` expects: stdout = the guest's
console bytes (Xen's lines and `\\r` before `\\n` removed, the exit line
taken off), stderr = "" unless the run went wrong (then what went wrong and
the console's tail), returncode = N from `Skiff: exit status N`. There is no
monitor, so no monitor messages.

Xen comes from Debian's packages (xen-hypervisor-4.17-amd64,
xen-hypervisor-4.17-arm64:arm64), fetched with `apt-get download` and
unpacked into .build-nested/xen-<arch>/ once, with nested.py's helpers; a
machine without them (and without apt) skips the Xen rows with the reason.
"""

from __future__ import annotations

import gzip
import os
import re
import select
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import helpers
import nested

QEMU_X86 = os.environ.get("SKIFF_QEMU_X86") or shutil.which("qemu-system-x86_64")

#: QEMU options every run uses (platform-notes 9: -nic none, else QEMU wants efi-virtio.rom).
QEMU_PLAIN = ["-nodefaults", "-nic", "none", "-display", "none", "-serial", "stdio", "-no-reboot"]

#: Xen's command line for an x86_64 PVH dom0. serial_tx_buffer: Xen's COM1 transmit buffer (16 KiB by
#: default) drops characters when a guest writes faster than the UART drains; 1 MiB holds the largest
#: conformance output (test_output, 70 KB). sync_console would also keep every byte, but costs a 3 s
#: countdown per boot. bootscrub=false: Xen would otherwise scrub free RAM in its idle loop, which under TCG
#: shows up as CPU time while the guest sleeps.
XEN_X86_CMDLINE = ("dom0=pvh dom0-iommu=none console=com1 com1=115200,8n1 noreboot serial_tx_buffer=1M "
                   "bootscrub=false dom0_mem={mem}M")

EXIT_LINE = re.compile(rb"Skiff: exit status (\d+)\n")


class XenUnavailable(Exception):
    """Xen (or QEMU) cannot be had on this machine: the Xen rows skip with this reason."""


@dataclass(frozen=True)
class XenPackage:
    package: str        # apt-get download NAME
    member: str         # the hypervisor inside the .deb
    gzipped: bool       # x86: a .gz of a multiboot ELF (QEMU -kernel wants it plain)


XEN_PACKAGES = {
    "x86_64": XenPackage("xen-hypervisor-4.17-amd64", "./boot/xen-4.17-amd64.gz", True),
    "aarch64": XenPackage("xen-hypervisor-4.17-arm64:arm64", "./boot/xen-4.17-arm64", False),
}


def xen_binary(arch: str) -> Path:
    """Xen for `arch`, from the Debian package, cached in .build-nested/xen-<arch>/xen."""
    pkg = XEN_PACKAGES[arch]
    base = nested.CACHE / f"xen-{arch}"
    xen = base / "xen"
    if (base / "done").exists() and xen.exists():
        return xen
    try:
        deb = nested._apt_download(pkg.package, base / "debs")
        nested._extract(deb, base / "unpacked", [pkg.member])
    except nested.NestedUnavailable as e:
        raise XenUnavailable(str(e)) from None
    src = base / "unpacked" / pkg.member
    if not src.exists():
        raise XenUnavailable(f"{pkg.package} has no {pkg.member}")
    data = gzip.decompress(src.read_bytes()) if pkg.gzipped else src.read_bytes()
    tmp = xen.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.rename(xen)
    (base / "done").write_text(deb.name + "\n")
    shutil.rmtree(base / "debs", ignore_errors=True)
    shutil.rmtree(base / "unpacked", ignore_errors=True)
    return xen


def missing(arch: str) -> str | None:
    """Why the Xen rows of `arch` cannot run here (None: they can)."""
    qemu = QEMU_X86 if arch == "x86_64" else (os.environ.get("SKIFF_QEMU") or shutil.which("qemu-system-aarch64"))
    if not qemu:
        return f"NO QEMU: qemu-system-{arch} not found (scripts/setup installs it)"
    try:
        xen_binary(arch)
    except XenUnavailable as e:
        return f"NO XEN: {e}"
    return None


# ---------------------------------------------------------------------------
# `skiff run` arguments

@dataclass
class RunArgs:
    mem: int | None
    image: Path
    args: list[str]

    @property
    def cmdline(self) -> str:
        return " ".join(self.args)


def parse_args(args) -> RunArgs:
    """`[--mem=N] [--] IMAGE ARGS...` (other options are refused: these runners attach no devices)."""
    args = [str(a) for a in args]
    mem = None
    i = 0
    while i < len(args) and args[i].startswith("--"):
        a = args[i]
        i += 1
        if a == "--":
            break
        if a.startswith("--mem="):
            mem = int(a[len("--mem="):])
        else:
            raise ValueError(f"xen.py runners take no {a} (no devices on the Xen platform)")
    return RunArgs(mem, Path(args[i]), args[i + 1:])


# ---------------------------------------------------------------------------
# Console capture

def _watch(argv: list[str], until: re.Pattern | None, timeout: float) -> tuple[bytes, int | None, bool]:
    """Runs QEMU, collecting its stdout, until it exits or `until` matches a complete line (then QEMU is
    ended: Xen halts the machine without powering it off). Returns (output, QEMU's status or None if we
    ended it, timed out)."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = bytearray()
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            r, _, _ = select.select([p.stdout], [], [], min(left, 0.5))
            if r:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                start = max(0, len(out) - 200)
                out += chunk
                if until is not None and until.search(out, start):
                    p.kill()
                    p.wait()
                    return bytes(out), None, False
            elif p.poll() is not None:
                break
        if timed_out:
            p.kill()
        status = p.wait()
        out += p.stdout.read() or b""
        return bytes(out), None if timed_out else status, timed_out
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()


def guest_console(raw: bytes, prefix: bytes | None = None) -> bytes:
    """The guest's bytes in a Xen console log: `\\r\\n` -> `\\n`; lines of Xen's own (`(XEN) `) dropped,
    except that with `prefix` (e.g. b"(XEN) DOM1: ", a dom0less domU's vpl011) only lines with it are
    kept, without it."""
    data = raw.replace(b"\r\n", b"\n")
    out = bytearray()
    for line in data.splitlines(keepends=True):
        if prefix is not None:
            if line.startswith(prefix):
                out += line[len(prefix):]
        elif not line.startswith(b"(XEN) "):
            out += line
    return bytes(out)


def _result(argv: list[str], console: bytes, raw: bytes, problems: list[str]) -> helpers.Result:
    """The Result of a run whose guest console is `console`: the last exit line gives the status."""
    found = list(EXIT_LINE.finditer(console))
    if found:
        m = found[-1]
        status = int(m.group(1))
        stdout = console[:m.start()]
    else:
        status = 70                   # EX_SOFTWARE: the guest never said how it ended
        stdout = console
        problems.append("no `Skiff: exit status N` line")
    stderr = ""
    if problems:
        tail = raw[-3000:].decode("utf-8", "replace")
        stderr = "xen.py: " + "; ".join(problems) + "\n--- console tail ---\n" + tail
    return helpers.Result(argv, status, stdout, stderr)


# ---------------------------------------------------------------------------
# Runners

def run_pvh_qemu(args, timeout: float = helpers.RUN_TIMEOUT) -> helpers.Result:
    """The image under QEMU's PVH loader (-machine microvm), no Xen."""
    a = parse_args(args)
    if not QEMU_X86:
        raise XenUnavailable("qemu-system-x86_64 not found")
    mem = max(a.mem or 128, 16)
    argv = [QEMU_X86, "-machine", "microvm,pit=on,pic=on,rtc=on,auto-kernel-cmdline=off", "-accel", "tcg",
            "-cpu", "max", "-m", f"{mem}M", *QEMU_PLAIN, "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-kernel", str(a.image), "-append", a.cmdline]
    raw, qemu_status, timed_out = _watch(argv, None, timeout)
    problems = [f"timed out after {timeout} s"] if timed_out else []
    r = _result(argv, raw, raw, problems)
    # isa-debug-exit: QEMU's status is (N << 1) | 1, truncated to 8 bits by the OS.
    if not timed_out and not r.stderr and qemu_status != ((r.returncode << 1) | 1) & 0xff:
        r = helpers.Result(argv, r.returncode, r.stdout,
                           f"xen.py: QEMU exited {qemu_status}, not ({r.returncode} << 1) | 1 (isa-debug-exit)")
    return r


def run_xen_x86_64(args, timeout: float = helpers.RUN_TIMEOUT) -> helpers.Result:
    """The image as Xen's PVH dom0 under qemu-system-x86_64 -cpu max (SVM + NPT for Xen's HAP)."""
    a = parse_args(args)
    if "," in str(a.image):
        raise ValueError("the image path must not contain a comma (QEMU's -initrd list)")
    mem = a.mem or 64
    module = f"{a.image} {a.cmdline}".replace(",", ",,")
    argv = [QEMU_X86, "-machine", "pc", "-accel", "tcg", "-cpu", "max", "-m", f"{mem + 192}M", *QEMU_PLAIN,
            "-kernel", str(xen_binary("x86_64")), "-append", XEN_X86_CMDLINE.format(mem=mem), "-initrd", module]
    raw, _, timed_out = _watch(argv, re.compile(rb"\(XEN\) Hardware Dom0 [^\n]*\n"), timeout)
    problems = [f"timed out after {timeout} s"] if timed_out else []
    console = guest_console(raw)
    r = _result(argv, console, raw, problems)
    # poweroff for status 0, crash for any other (Guest/platform/xen/start.c).
    halted = b"Hardware Dom0 halted" in raw
    if not r.stderr and halted != (r.returncode == 0):
        r = helpers.Result(argv, r.returncode, r.stdout,
                           f"xen.py: exit status {r.returncode} but Xen says "
                           + ("halted" if halted else "not halted (crashed?)"))
    return r


RUNNERS = {
    "pvh-qemu": run_pvh_qemu,
    "xen-x86_64": run_xen_x86_64,
}


def run(runner: str, args, timeout: float = helpers.RUN_TIMEOUT) -> helpers.Result:
    """Runs `args` (as for `skiff run`) with the named runner; a missing Xen or QEMU skips the test."""
    import pytest
    try:
        return RUNNERS[runner](args, timeout)
    except XenUnavailable as e:
        pytest.skip(f"NO XEN: {e}")
