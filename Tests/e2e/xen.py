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
- "xen-aarch64": qemu-system-aarch64 -machine virt,virtualization=on (EL2 for
  Xen), Xen's arm64 Image as the kernel, the guest Image loaded by QEMU's
  generic loader at 0x50000000 and described as dom0's kernel in QEMU's own
  device tree (dumped once, `/chosen` extended with dtc): Xen's bootargs,
  and a "multiboot,kernel" module node with the guest's bootargs. Console
  as on x86 (console_io); after dom0's shutdown Xen halts the machine and
  QEMU exits.
- "xen-aarch64-domU": the same machine with no dom0: a dom0less domU
  (`/chosen/domU1`, "xen,domain", with a vpl011) whose kernel module is the
  guest. Its UART output appears as `(XEN) DOM1: ` lines. QEMU does not exit
  when the domU powers off: we end it after the guest's exit line.

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

import functools
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

#: Xen's bootargs on arm64 (the DTB's /chosen/xen,xen-bootargs): its console on QEMU virt's PL011.
XEN_A64_CMDLINE = "console=dtuart dtuart=/pl011@9000000 noreboot serial_tx_buffer=1M bootscrub=false"
#: The machine Xen on arm64 runs on: EL2, GICv3; cortex-a57 is 3-4x faster under TCG than `max` (pointer auth).
A64_MACHINE = ["-machine", "virt,virtualization=on,gic-version=3", "-accel", "tcg", "-cpu", "cortex-a57", "-m", "1G"]
#: Where QEMU's loader puts the guest Image (RAM is 0x40000000-0x7fffffff; Xen moves itself to the top),
#: and a dom0less domU's partial device tree.
A64_MODULE_ADDR = 0x50000000
A64_PARTIAL_DTB_ADDR = 0x52000000

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


QEMU_A64 = os.environ.get("SKIFF_QEMU") or shutil.which("qemu-system-aarch64")
DTC = shutil.which("dtc")


@functools.lru_cache(maxsize=None)
def missing(arch: str) -> str | None:
    """Why the Xen rows of `arch` cannot run here (None: they can); asked once per session."""
    qemu = QEMU_X86 if arch == "x86_64" else QEMU_A64
    if not qemu:
        return f"NO QEMU: qemu-system-{arch} not found (scripts/setup installs it)"
    if arch == "aarch64" and not DTC:
        return "NO DTC: dtc not found (Debian device-tree-compiler; scripts/setup installs it)"
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


#: Xen prints a domU's vpl011 output a line at a time from a 128-byte buffer: a line of more than 126 bytes
#: comes out as pieces of 126 bytes, each ended by a newline Xen adds and printed with its own prefix.
VPL011_PIECE = 126


def guest_console(raw: bytes, prefix: bytes | None = None) -> bytes:
    """The guest's bytes in a Xen console log: `\\r\\n` -> `\\n`; lines of Xen's own (`(XEN) `) dropped,
    except that with `prefix` (e.g. b"(XEN) DOM1: ", a dom0less domU's vpl011) only lines with it are
    kept, without it, and pieces of exactly VPL011_PIECE bytes are joined to what follows (so a guest line
    of exactly 126 bytes would be joined to the next: the one thing this cannot tell apart)."""
    data = raw.replace(b"\r\n", b"\n")
    out = bytearray()
    for line in data.splitlines(keepends=True):
        if prefix is not None:
            if line.startswith(prefix):
                piece = line[len(prefix):]
                if len(piece) == VPL011_PIECE + 1 and piece.endswith(b"\n"):
                    piece = piece[:-1]
                out += piece
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


# ---------------------------------------------------------------------------
# arm64: the device tree that tells Xen what to boot

_base_dts: str | None = None


def _virt_dts() -> str:
    """QEMU's own device tree for A64_MACHINE, as dts source (dumped and decompiled once per session)."""
    global _base_dts
    if _base_dts is None:
        import tempfile
        d = Path(tempfile.mkdtemp(prefix="skiff-xen-dtb-"))
        dtb = d / "virt.dtb"
        subprocess.run([QEMU_A64, *A64_MACHINE, "-machine", f"dumpdtb={dtb}", *QEMU_PLAIN], check=True,
                       capture_output=True, timeout=60)
        p = subprocess.run([DTC, "-q", "-I", "dtb", "-O", "dts", str(dtb)], check=True, capture_output=True,
                           text=True, timeout=60)
        _base_dts = p.stdout
        shutil.rmtree(d, ignore_errors=True)
    return _base_dts


def _dts_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dtc(source: str, out: Path) -> Path:
    p = subprocess.run([DTC, "-q", "-I", "dts", "-O", "dtb", "-o", str(out), "-"], input=source, text=True,
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("dtc failed: " + p.stderr[-2000:])
    return out


def rtc_passthrough_dtb(out: Path) -> Path | None:
    """A dom0less partial device tree that gives the domU QEMU's PL031 (its MMIO mapped 1:1, no interrupt,
    no IOMMU): Xen keeps no wall clock for arm guests, so this is the domU's wall clock, as dom0 gets the
    same RTC from Xen. None if QEMU's device tree has no PL031."""
    m = re.search(r"pl031@([0-9a-f]+)", _virt_dts())
    if not m:
        return None
    base = int(m.group(1), 16)
    source = ("/dts-v1/;\n/ {\n#address-cells = <0x2>;\n#size-cells = <0x2>;\npassthrough {\n"
              'compatible = "simple-bus";\nranges;\n#address-cells = <0x2>;\n#size-cells = <0x2>;\n'
              f"rtc@{base:x} {{\n"
              'compatible = "arm,pl031", "arm,primecell";\n'
              f"reg = <0x0 {base:#x} 0x0 0x1000>;\n"
              f"xen,reg = <0x0 {base:#x} 0x0 0x1000 0x0 {base:#x}>;\n"
              "xen,force-assign-without-iommu;\n};\n};\n};\n")
    return _dtc(source, out)


def xen_dtb(out: Path, image_size: int, bootargs: str, dom0_mem: int | None, domu_mem: int | None,
            partial_dtb_size: int | None = None) -> Path:
    """QEMU virt's device tree with /chosen telling Xen to boot the guest at A64_MODULE_ADDR: as dom0
    (`dom0_mem` MiB), or as a dom0less domU with a vpl011 (`domu_mem` MiB), no dom0, and with a partial
    device tree of `partial_dtb_size` bytes at A64_PARTIAL_DTB_ADDR. Properties come before subnodes (dtc
    insists)."""
    dts = _virt_dts()
    start = dts.index("\tchosen {\n")
    end = dts.index("\t};\n", start)
    props = dts[start + len("\tchosen {\n"):end]
    xen_args = XEN_A64_CMDLINE + (f" dom0_mem={dom0_mem}M" if dom0_mem else "")
    module = (f'compatible = "multiboot,kernel", "multiboot,module";\n'
              f"reg = <0x0 {A64_MODULE_ADDR:#x} 0x0 {image_size:#x}>;\nbootargs = {_dts_string(bootargs)};\n")
    if domu_mem is None:
        nodes = f"module@{A64_MODULE_ADDR:x} {{\n{module}}};\n"
    else:
        partial = ""
        if partial_dtb_size:
            partial = (f"module@{A64_PARTIAL_DTB_ADDR:x} {{\n"
                       'compatible = "multiboot,device-tree", "multiboot,module";\n'
                       f"reg = <0x0 {A64_PARTIAL_DTB_ADDR:#x} 0x0 {partial_dtb_size:#x}>;\n}};\n")
        nodes = ('domU1 {\ncompatible = "xen,domain";\n#address-cells = <0x2>;\n#size-cells = <0x2>;\n'
                 f"memory = <0x0 {domu_mem * 1024:#x}>;\ncpus = <0x1>;\nvpl011;\n"
                 f"module@{A64_MODULE_ADDR:x} {{\n{module}}};\n{partial}}};\n")
    chosen = ("\tchosen {\n#address-cells = <0x2>;\n#size-cells = <0x2>;\n"
              f"xen,xen-bootargs = {_dts_string(xen_args)};\n{props}{nodes}")
    return _dtc(dts[:start] + chosen + dts[end:], out)


def _run_xen_a64(args, timeout: float, domu: bool) -> helpers.Result:
    a = parse_args(args)
    if missing("aarch64"):
        raise XenUnavailable(missing("aarch64"))
    import tempfile
    with tempfile.TemporaryDirectory(prefix="skiff-xen-") as tmp:
        mem = a.mem or (64 if domu else 128)
        partial = rtc_passthrough_dtb(Path(tmp) / "partial.dtb") if domu else None
        dtb = xen_dtb(Path(tmp) / "xen.dtb", a.image.stat().st_size, a.cmdline, None if domu else mem,
                      mem if domu else None, partial.stat().st_size if partial else None)
        argv = [QEMU_A64, *A64_MACHINE, *QEMU_PLAIN, "-kernel", str(xen_binary("aarch64")), "-dtb", str(dtb),
                "-device", f"loader,file={a.image},addr={A64_MODULE_ADDR:#x},force-raw=on"]
        if partial:
            argv += ["-device", f"loader,file={partial},addr={A64_PARTIAL_DTB_ADDR:#x},force-raw=on"]
        prefix = b"(XEN) DOM1: " if domu else None
        until = (re.compile(rb"\(XEN\) DOM1: Skiff: exit status \d+\r?\n") if domu
                 else re.compile(rb"\(XEN\) Hardware Dom0 [^\n]*\n"))
        raw, _, timed_out = _watch(argv, until, timeout)
    problems = [f"timed out after {timeout} s"] if timed_out else []
    r = _result(argv, guest_console(raw, prefix), raw, problems)
    if not domu and not r.stderr:
        halted = b"Hardware Dom0 halted" in raw
        if halted != (r.returncode == 0):
            r = helpers.Result(argv, r.returncode, r.stdout,
                               f"xen.py: exit status {r.returncode} but Xen says "
                               + ("halted" if halted else "not halted (crashed?)"))
    return r


def run_xen_aarch64(args, timeout: float = helpers.RUN_TIMEOUT) -> helpers.Result:
    """The arm64 image as Xen's dom0 (mapped 1:1 wherever Xen puts it: the image relocates itself)."""
    return _run_xen_a64(args, timeout, domu=False)


def run_xen_aarch64_domu(args, timeout: float = helpers.RUN_TIMEOUT) -> helpers.Result:
    """The arm64 image as a dom0less domU with a vpl011, and no dom0."""
    return _run_xen_a64(args, timeout, domu=True)


RUNNERS = {
    "pvh-qemu": run_pvh_qemu,
    "xen-x86_64": run_xen_x86_64,
    "xen-aarch64": run_xen_aarch64,
    "xen-aarch64-domU": run_xen_aarch64_domu,
}


def run(runner: str, args, timeout: float = helpers.RUN_TIMEOUT) -> helpers.Result:
    """Runs `args` (as for `skiff run`) with the named runner; a missing Xen or QEMU skips the test."""
    import pytest
    try:
        return RUNNERS[runner](args, timeout)
    except XenUnavailable as e:
        pytest.skip(f"NO XEN: {e}")
