"""nested.py: a KVM machine with hardware semantics, for the real-KVM test tier (issue 10).

The host's /dev/kvm may be PVM (software nested virtualization: CPL0 emulated,
no SSE at CPL0, MMIO exits instead of EFAULT, rip after the instruction). This
module boots Debian's own kernel under QEMU TCG (`-cpu max`), where KVM runs on
an emulated CPU with hardware virtualization (x86_64: kvm_amd, nested SVM with
NPT), and runs commands inside it.

How (platform notes §9.1):
- the kernel: the newest `linux-image-6.1.0-N-<arch>-unsigned` that apt knows,
  fetched with `apt-get download` and unpacked (vmlinuz and the modules we
  load only) into `.build-nested/<arch>/<package version>/`, with busybox from
  `busybox-static`; nothing is installed on the host;
- an initramfs (cpio newc, written here) with busybox as /init and the modules,
  loaded in dependency order read from each module's .modinfo (the package has
  no modules.dep);
- one host directory shared over 9p (virtio) and mounted inside **at the same
  absolute path**: the pytest base temporary directory. Everything the suite
  builds or writes (the monitor copy, guests, disk images) lives under it, so
  a command line made for the host runs unchanged inside;
- the serial console carries only short control lines. The host writes each
  command as a script into the share and sends `RUN <id> <timeout>`; /init runs
  it with stdout and stderr redirected to files in the share (bytes exact,
  kept apart) and prints `@@NESTED <nonce> END <id> <status>`. The nonce is
  per boot, so kernel messages or guest output cannot fake a marker.

`NestedVM.run(argv, timeout) -> (returncode, stdout bytes, stderr str)` is the
whole interface (plus one TCP port in: `NestedVM.gdb_port` on the host reaches port
GDB_RELAY_PORT inside, over QEMU's user network, for gdb on the host; test_gdb.py); `NestedVM.result(argv, timeout)` wraps it as a helpers.Result.
Per-architecture facts are one `NestedArch` row each: x86_64 (the `nested_vm`
fixture's default) and aarch64 (KVM built in, §9.2; used by test_nested_arm64.py,
and by `nested_vm` with SKIFF_NESTED_ARCH=aarch64).
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import helpers
from helpers import REPO

CACHE = REPO / ".build-nested"

#: Seconds allowed from QEMU start to the READY line (measured ~6-8 s on an idle 2-core machine under TCG).
BOOT_TIMEOUT = float(os.environ.get("SKIFF_NESTED_BOOT_TIMEOUT", "180"))


@dataclass(frozen=True)
class NestedArch:
    """What differs per architecture: packages, QEMU, console, the modules /init loads."""

    name: str
    deb_arch: str                      # Debian architecture of the kernel and busybox packages
    kernel_pattern: str                # package-name regex; group 1 = ABI number (picked: the highest)
    qemu: str
    machine: tuple[str, ...]
    console: str
    kvm_modules: tuple[str, ...]       # in load order as far as they depend on nothing we resolve (ccp: optional dep)
    share_modules: tuple[str, ...] = ("virtio_pci", "9pnet_virtio", "9p")
    module_params: tuple[tuple[str, str], ...] = ()   # (module, "param=value ...") for insmod
    guest_modules: tuple[str, ...] = ()   # unpacked, not loaded: for Linux guests of the tender (initramfs)
    memory: str = "2G"
    extra_append: str = ""
    pvh: bool = False      # boot the uncompressed vmlinux through its PVH note (x86: skips decompression under TCG)


ARCHES = {
    "x86_64": NestedArch(
        name="x86_64", deb_arch="amd64",
        kernel_pattern=r"^linux-image-6\.1\.0-(\d+)-amd64-unsigned$",
        qemu="qemu-system-x86_64",
        machine=("-machine", "pc", "-accel", "tcg", "-cpu", "max"),
        console="ttyS0",
        pvh=True,
        # kvm_amd has an optional dependency on ccp (SEV); irqbypass is kvm's.
        kvm_modules=("irqbypass", "ccp", "kvm", "kvm_amd"),
        # tun: taps (test_nested_hardening.py); virtio_net: the user network of the gdb relay (test_gdb.py);
        # sch_netem, sch_ingress, cls_matchall, act_mirred, ifb: `tc netem` on a tap both ways (test_http.py)
        share_modules=("virtio_pci", "9pnet_virtio", "9p", "tun", "virtio_net",
                       "sch_netem", "sch_ingress", "cls_matchall", "act_mirred", "ifb"),
    ),
    # §9.2: KVM is built in; needs `dpkg --add-architecture arm64` for the packages (scripts/setup does it).
    "aarch64": NestedArch(
        name="aarch64", deb_arch="arm64",
        kernel_pattern=r"^linux-image-6\.1\.0-(\d+)-arm64-unsigned$",
        qemu="qemu-system-aarch64",
        machine=("-machine", "virt,virtualization=on,gic-version=3", "-accel", "tcg",
                 "-cpu", "max,pauth-impdef=on"),
        console="ttyAMA0",
        kvm_modules=(),
        # tun: the tender's taps (test_nested_arm64.py); virtio_net: the gdb relay's network (test_gdb.py)
        share_modules=("virtio_pci", "9pnet_virtio", "9p", "tun", "virtio_net"),
        guest_modules=("virtio_mmio", "virtio_blk", "virtio_net"),   # Linux under the tender (test_nested_arm64_image.py)
        memory="1G",
    ),
}


#: The port inside the machine that the host's `NestedVM.gdb_port` forwards to (test_gdb.py runs a relay on it:
#: `gdb_relay`, busybox nc from it to the gdb stub on 127.0.0.1 inside).
GDB_RELAY_PORT = 1235


def _free_port() -> int:
    """A TCP port free on the host's loopback now (QEMU binds it a moment later)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gdb_relay(stub_port: int) -> str:
    """A shell line (run inside, in the background) that relays one connection to GDB_RELAY_PORT to the gdb
    stub on 127.0.0.1:stub_port inside (busybox nc's -e): gdb on the host, TCP all the way."""
    return f"nc -l -p {GDB_RELAY_PORT} -e nc 127.0.0.1 {stub_port} &"


class NestedUnavailable(Exception):
    """QEMU, the kernel or busybox cannot be had on this machine: the tier skips with this reason."""


class NestedBootError(Exception):
    """The machine did not come up (or died): a test error, with the console log."""


# ---------------------------------------------------------------------------
# Kernel, modules and busybox from Debian packages

def _apt_candidates(pattern: str) -> list[str]:
    """Package names matching the pattern that apt knows, best (highest ABI number) first."""
    try:
        p = subprocess.run(["apt-cache", "search", "--names-only", pattern.replace(r"\d+", "[0-9]+")],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    names = []
    for line in p.stdout.splitlines():
        name = line.split(" - ", 1)[0].strip()
        m = re.match(pattern, name)
        if m:
            names.append((int(m.group(1)), name))
    return [n for _, n in sorted(names, reverse=True)]


def _apt_download(package: str, into: Path) -> Path:
    """`apt-get download PACKAGE` into `into`; returns the .deb (retries while another apt holds the lock)."""
    into.mkdir(parents=True, exist_ok=True)
    last = ""
    for _ in range(10):
        try:
            p = subprocess.run(["apt-get", "download", "-q", package], cwd=into, capture_output=True,
                               text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise NestedUnavailable(f"apt-get download {package} failed: {e}")
        debs = sorted(into.glob("*.deb"))
        if p.returncode == 0 and debs:
            return debs[-1]
        last = (p.stderr or p.stdout).strip()
        if "lock" not in last.lower():
            break
        time.sleep(3)
    raise NestedUnavailable(f"apt-get download {package} failed: {last[-300:]}")


def _extract(deb: Path, into: Path, members: list[str]) -> None:
    """Unpacks only `members` (tar wildcards) of a .deb: the kernel package is 70 MB, we need ~4 MB of it."""
    into.mkdir(parents=True, exist_ok=True)
    cmd = (f"dpkg-deb --fsys-tarfile {shlex.quote(str(deb))} | "
           f"tar -x -C {shlex.quote(str(into))} --wildcards " + " ".join(shlex.quote(m) for m in members))
    p = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=600)
    # A pattern that matches nothing (e.g. no kvm/ modules where KVM is built in) is fine.
    errors = [l for l in p.stderr.splitlines()
              if "Not found in archive" not in l and "due to previous errors" not in l]
    if p.returncode != 0 and errors:
        raise NestedUnavailable(f"unpacking {deb.name} failed: {p.stderr.strip()[-300:]}")


#: What of the kernel package is unpacked: the kernel, and the modules any ARCHES row loads (with what they
#: depend on), plus modules.builtin (to tell a built-in module from one the cache lacks).
_KERNEL_MEMBERS = ["./boot/vmlinuz-*", "./lib/modules/*/modules.builtin", "./lib/modules/*/kernel/arch/*/kvm/*",
                   "./lib/modules/*/kernel/virt/*", "./lib/modules/*/kernel/drivers/crypto/ccp/*",
                   "./lib/modules/*/kernel/drivers/virtio/*", "./lib/modules/*/kernel/fs/9p/*",
                   "./lib/modules/*/kernel/fs/netfs/*", "./lib/modules/*/kernel/fs/fscache/*",
                   "./lib/modules/*/kernel/net/9p/*", "./lib/modules/*/kernel/drivers/net/tun.ko",
                   "./lib/modules/*/kernel/drivers/block/virtio_blk.ko", "./lib/modules/*/kernel/drivers/net/virtio_net.ko",
                   "./lib/modules/*/kernel/drivers/net/net_failover.ko", "./lib/modules/*/kernel/net/core/failover.ko",
                   "./lib/modules/*/kernel/net/sched/sch_netem.ko", "./lib/modules/*/kernel/net/sched/sch_ingress.ko",
                   "./lib/modules/*/kernel/net/sched/cls_matchall.ko", "./lib/modules/*/kernel/net/sched/act_mirred.ko",
                   "./lib/modules/*/kernel/drivers/net/ifb.ko"]


def _wanted(arch: NestedArch) -> list[str]:
    return sorted(m.replace("-", "_") for m in arch.kvm_modules + arch.share_modules + arch.guest_modules)


def _missing_modules(pkg_dir: Path, arch: NestedArch) -> list[str]:
    """The modules /init loads that the unpacked package has neither as a .ko nor in modules.builtin."""
    roots = sorted((pkg_dir / "lib" / "modules").glob("*"))
    if not roots:
        return _wanted(arch)
    have = {ko.name[:-3].replace("-", "_") for ko in roots[-1].rglob("*.ko")}
    builtin = roots[-1] / "modules.builtin"
    if builtin.exists():
        have |= {Path(l).name.removesuffix(".ko").replace("-", "_") for l in builtin.read_text().split()}
    return [m for m in _wanted(arch) if m not in have]


def _unpack_kernel(package: str, base: Path, pkg_dir: Path, arch: NestedArch) -> None:
    """Downloads the kernel package and unpacks _KERNEL_MEMBERS into pkg_dir (over what is there)."""
    deb = _apt_download(package, base / "debs" / pkg_dir.name)
    _extract(deb, pkg_dir, _KERNEL_MEMBERS)
    shutil.rmtree(base / "debs", ignore_errors=True)
    (pkg_dir / "unpacked-for").write_text(" ".join(_wanted(arch)) + "\n")
    (pkg_dir / "done").write_text(pkg_dir.name + "\n")


@dataclass
class KernelBundle:
    package: str
    vmlinuz: Path
    modules: Path          # lib/modules/<version>/kernel
    busybox: Path


def kernel_bundle(arch: NestedArch) -> KernelBundle:
    """The newest Debian 6.1 kernel for `arch` and busybox-static, cached in .build-nested/<arch>/."""
    base = CACHE / arch.name
    candidates = _apt_candidates(arch.kernel_pattern)
    cached = sorted((d for d in base.glob("linux-image-*") if (d / "done").exists()),
                    key=lambda d: int(re.search(r"6\.1\.0-(\d+)", d.name).group(1)), reverse=True) \
        if base.exists() else []
    suffix = "" if arch.deb_arch == "amd64" else ":" + arch.deb_arch
    pkg_dir = None
    if candidates:
        want = candidates[0]
        pkg_dir = base / want
        if not (pkg_dir / "done").exists():
            try:
                _unpack_kernel(want + suffix, base, pkg_dir, arch)
                for old in cached:  # keep one kernel
                    if old != pkg_dir:
                        shutil.rmtree(old, ignore_errors=True)
            except NestedUnavailable:
                if not cached:
                    raise
                pkg_dir = None
    if pkg_dir is None:
        if not cached:
            raise NestedUnavailable(f"apt knows no package matching {arch.kernel_pattern} "
                                    "(run `apt-get update`) and .build-nested has none")
        pkg_dir = cached[0]
    # A cache unpacked when ARCHES wanted fewer modules (e.g. before x86_64 loaded tun) lacks some: unpack the
    # package again, once per wanted set (a module the package really lacks does not cause a download per run).
    missing = _missing_modules(pkg_dir, arch)
    tried = pkg_dir / "unpacked-for"
    if missing and (not tried.exists() or tried.read_text().split() != _wanted(arch)):
        try:
            _unpack_kernel(pkg_dir.name + suffix, base, pkg_dir, arch)
        except NestedUnavailable:
            pass   # offline: boot with what there is (tests needing the module skip loudly)
    vmlinuz = sorted((pkg_dir / "boot").glob("vmlinuz-*"))[-1]
    if arch.pvh:
        vmlinuz = _pvh_vmlinux(vmlinuz)
    modules = sorted((pkg_dir / "lib" / "modules").glob("*"))[-1] / "kernel"

    bb_dir = base / "busybox"
    busybox = bb_dir / "bin" / "busybox"
    if not (bb_dir / "done").exists():
        deb = _apt_download("busybox-static" + suffix, base / "debs" / "busybox")
        _extract(deb, bb_dir, ["./bin/busybox"])
        shutil.rmtree(base / "debs", ignore_errors=True)
        (bb_dir / "done").write_text("busybox-static\n")
    return KernelBundle(pkg_dir.name, vmlinuz, modules, busybox)


#: An ELF note "Xen", type 0x12 (XEN_ELFNOTE_PHYS32_ENTRY): QEMU can boot the ELF directly (PVH).
_PVH_NOTE = struct.pack("<III", 4, 8, 0x12) + b"Xen\0"


def _pvh_vmlinux(vmlinuz: Path) -> Path:
    """The ELF vmlinux inside an xz-compressed bzImage, cached beside it, when it has the PVH note:
    QEMU boots it without the in-guest decompression that costs ~5-8 s under TCG. Else vmlinuz."""
    out = vmlinuz.with_name(vmlinuz.name.replace("vmlinuz", "vmlinux"))
    if out.exists():
        return out
    import lzma
    data = vmlinuz.read_bytes()
    i = data.find(b"\xfd7zXZ\x00")
    if i < 0:
        return vmlinuz
    try:
        elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[i:])
    except lzma.LZMAError:
        return vmlinuz
    if not elf.startswith(b"\x7fELF") or _PVH_NOTE not in elf:
        return vmlinuz
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(elf)
    tmp.rename(out)
    return out


def _modinfo_depends(ko: Path) -> list[str]:
    m = re.search(rb"(?:^|\0)depends=([^\0]*)\0", ko.read_bytes())
    return [d for d in (m.group(1).decode().split(",") if m else []) if d]


def module_load_order(kernel_dir: Path, wanted: tuple[str, ...]) -> list[Path]:
    """The .ko files for `wanted` and what they depend on, dependencies first. A wanted module that is
    not a file is taken to be built in (e.g. KVM on arm64)."""
    index = {ko.name[:-3].replace("-", "_"): ko for ko in kernel_dir.rglob("*.ko")}
    order: list[Path] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        name = name.replace("-", "_")
        if name in seen or name not in index:
            return
        seen.add(name)
        for dep in _modinfo_depends(index[name]):
            visit(dep)
        order.append(index[name])

    for w in wanted:
        visit(w)
    return order


# ---------------------------------------------------------------------------
# The initramfs

def _cpio_newc(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A cpio "newc" archive of (path, mode, data) entries (directories: mode 0o040755, data b"")."""
    out = bytearray()

    def pad4() -> None:
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (name, mode, data) in enumerate(entries + [("TRAILER!!!", 0, b"")], start=1):
        nb = name.encode() + b"\0"
        fields = (ino if name != "TRAILER!!!" else 0, mode, 0, 0, 1 if not mode & 0o040000 else 2, 0,
                  len(data), 0, 0, 0, 0, len(nb), 0)
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields))
        out.extend(nb)
        pad4()
        out.extend(data)
        pad4()
    return bytes(out)


_INIT = r"""#!/bin/busybox sh
# /init of the nested KVM machine (Tests/e2e/nested.py). Control lines on the console only.
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
echo 4 > /proc/sys/kernel/printk   # errors and worse reach the console log (attached to failures)
M="@@NESTED __NONCE__"
__INSMOD__
mkdir -p '__SHARE__'
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host '__SHARE__' || echo "$M ERROR mount 9p"
# Loopback (the gdb stub listens on 127.0.0.1) and QEMU's user network, whose only use is the host's
# forward to GDB_RELAY_PORT (nested.py); restrict=on: nothing goes out.
ip link set lo up 2>/dev/null
ip link set eth0 up 2>/dev/null && ip addr add 10.0.2.15/24 dev eth0 2>/dev/null
i=0
while [ ! -c /dev/kvm ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
[ -c /dev/kvm ] || echo "$M ERROR no /dev/kvm"
stty raw -echo 2>/dev/null
C='__SHARE__/.nested'
# Heartbeat: the host notices within seconds when the whole machine freezes (see FREEZE in nested.py).
# On request (the host creates $C/diag) it also reports the processes, for the log of a hung command.
(while :; do
  echo "$M TICK"
  if [ -e "$C/diag" ]; then
    { ps -o pid,stat,args; for p in /proc/[0-9]*; do s=$(cat $p/stat 2>/dev/null); case "$s" in *") D "*|*") R "*) echo "== $p: $s"; cat $p/stack 2>/dev/null;; esac; done; } > "$C/diag.out" 2>&1
    rm -f "$C/diag"
  fi
  sleep 1
done) &
echo "$M READY $(uname -r) uptime=$(cut -d" " -f1 /proc/uptime) kvm_amd.npt=$(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null)"
# One command per line: "RUN <id> ." runs $C/<id>.sh (it carries its own timeout). Bytes typed at the
# serial port are occasionally lost, so a line counts only when whole: the host resends otherwise.
while read -r cmd id end rest; do
  case "$cmd $end $rest" in
  "RUN . ")
    if [ -e "$C/$id.sh" ] && [ ! -e "$C/$id.out" ]; then
      sh "$C/$id.sh" > "$C/$id.out" 2> "$C/$id.err" < /dev/null
      st=$?
      echo $st > "$C/$id.status"
      echo "$M END $id $st"
    else
      echo "$M BADLINE $cmd $id"
    fi ;;
  "QUIT . ")
    sync; poweroff -f ;;
  "  ") ;;
  *)
    echo "$M BADLINE $cmd $id" ;;
  esac
done
poweroff -f
"""


def build_initramfs(bundle: KernelBundle, arch: NestedArch, share: Path, nonce: str, out: Path) -> list[str]:
    """Writes the initramfs; returns the module names in load order."""
    mods = module_load_order(bundle.modules, arch.kvm_modules + arch.share_modules)
    names = [ko.name[:-3] for ko in mods]
    params = dict(arch.module_params)
    insmod = "\n".join(f'insmod /lib/modules/{n}.ko {params.get(n.replace("-", "_"), "")} || echo "$M ERROR insmod {n}"'
                       for n in names)
    init = (_INIT.replace("__NONCE__", nonce).replace("__INSMOD__", insmod)
            .replace("__SHARE__", str(share)))
    entries = [(d, 0o040755, b"") for d in ("bin", "lib", "lib/modules", "dev", "proc", "sys", "tmp")]
    entries.append(("init", 0o100755, init.encode()))
    entries.append(("bin/busybox", 0o100755, bundle.busybox.read_bytes()))
    entries += [(f"lib/modules/{ko.name}", 0o100644, ko.read_bytes()) for ko in mods]
    out.write_bytes(_cpio_newc(entries))
    return names


# ---------------------------------------------------------------------------
# The machine

def _die_with_parent() -> None:
    """preexec_fn: QEMU gets SIGKILL when pytest dies, however it dies (PR_SET_PDEATHSIG)."""
    import ctypes
    import signal
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


@dataclass
class NestedVM:
    """One booted machine. `run(argv, timeout)` executes argv inside; paths under `share` are the same inside."""

    arch: NestedArch
    share: Path
    work: Path
    nonce: str = field(default_factory=lambda: secrets.token_hex(6))
    proc: subprocess.Popen | None = None
    bundle: KernelBundle | None = None
    modules: list[str] = field(default_factory=list)
    kernel_release: str = ""
    boot_seconds: float = 0.0
    _log: bytearray = field(default_factory=bytearray)
    _lines: list[str] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _count: int = 0
    _broken: str | None = None
    _last_tick: float = 0.0
    _frozen: bool = False
    _ticks: int = 0
    resends: int = 0
    freezes: list = field(default_factory=list)

    # -- life cycle ---------------------------------------------------------

    @classmethod
    def qemu_missing(cls, arch: NestedArch) -> str | None:
        if shutil.which(arch.qemu) is None:
            pkg = "qemu-system-x86" if arch.name == "x86_64" else "qemu-system-arm"
            return f"`{arch.qemu}` is not installed (Debian package {pkg}; scripts/setup installs it)"
        return None

    def boot(self) -> None:
        why = self.qemu_missing(self.arch)
        if why:
            raise NestedUnavailable(why)
        self.bundle = kernel_bundle(self.arch)
        (self.share / ".nested").mkdir(parents=True, exist_ok=True)
        initrd = self.work / "initrd.cpio"
        self.modules = build_initramfs(self.bundle, self.arch, self.share, self.nonce, initrd)
        self.initrd = initrd
        self._start()

    def _start(self) -> None:
        """Starts QEMU and waits for READY (also after a wedge: same initramfs, fresh console log)."""
        initrd = self.initrd
        self._log = bytearray()
        self._lines = []
        argv = [self.arch.qemu, *self.arch.machine, "-smp", "1", "-m", self.arch.memory,
                "-nodefaults", "-nic", "none", "-display", "none", "-serial", "stdio", "-no-reboot",
                "-kernel", str(self.bundle.vmlinuz), "-initrd", str(initrd),
                "-append", f"console={self.arch.console} panic=-1 quiet {self.arch.extra_append}".strip(),
                "-virtfs", f"local,path={self.share},mount_tag=host,security_model=none"]
        # One way in, for gdb on the host (test_gdb.py): host 127.0.0.1:gdb_port -> GDB_RELAY_PORT inside.
        # romfile= (empty): no option ROM, which --no-install-recommends machines lack (efi-virtio.rom).
        self.gdb_port = _free_port()
        argv += ["-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{self.gdb_port}-:{GDB_RELAY_PORT}",
                 "-device", "virtio-net-pci,netdev=n0,romfile="]
        self.argv = argv
        t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
        threading.Thread(target=self._reader, args=(self.proc,), daemon=True).start()
        ready = self._wait_for(lambda l: l.split()[2:3] == ["READY"] or l.split()[2:3] == ["ERROR"],
                               BOOT_TIMEOUT)
        errors = [l for l in self._lines if l.split()[2:3] == ["ERROR"]]
        if ready is None or errors or not any(l.split()[2:3] == ["READY"] for l in self._lines):
            self._wait_for(lambda l: l.split()[2:3] == ["READY"], 20)  # let errors and the console finish
            what = "; ".join(errors) if errors else f"no READY line within {BOOT_TIMEOUT:.0f} s"
            self.close()
            raise NestedBootError(f"the nested KVM machine did not boot: {what}\n" + self.describe())
        self.boot_seconds = self.boot_seconds or time.monotonic() - t0   # the first boot
        ready_line = next(l for l in self._lines if l.split()[2:3] == ["READY"])
        self.kernel_release = ready_line.split()[3]
        # The machine's clock starts at 1970 (no RTC driver loaded): walltime should be the host's.
        self._run_once(["date", "-u", "-s", f"@{int(time.time())}"], 10)

    def close(self) -> None:
        """Powers the machine off (QUIT), or kills QEMU after 3 s; nothing inside needs flushing (9p writes
        go straight to the host)."""
        p = self.proc
        if p is None or p.poll() is not None:
            return
        try:
            p.stdin.write(b"QUIT - .\n")
            p.stdin.flush()
            p.wait(timeout=3)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self._kill()

    def _kill(self) -> None:
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            os.killpg(p.pid, 9)
            p.wait()
        for f in (p.stdin, p.stdout):
            try:
                f.close()
            except OSError:
                pass

    def describe(self) -> str:
        log = self._log.decode("utf-8", "replace")
        if len(log) > 12000:
            log = log[:4000] + "\n[...]\n" + log[-8000:]
        return (f"qemu: {' '.join(getattr(self, 'argv', []))}\nqemu status: "
                f"{self.proc.poll() if self.proc else None}\n--- console ---\n{log}")

    # -- the console --------------------------------------------------------

    def _reader(self, proc: subprocess.Popen) -> None:
        buf = b""
        out = proc.stdout
        while True:
            chunk = os.read(out.fileno(), 65536)
            with self._cond:
                if proc is not self.proc:
                    return
                if not chunk:
                    self._cond.notify_all()
                    return
                buf += chunk
                *done, buf = re.split(rb"\r?\n", buf)
                for raw in done:
                    line = raw.decode("utf-8", "replace")
                    i = line.find("@@NESTED " + self.nonce)
                    if i >= 0 and line[i:].split()[2:3] == ["TICK"]:
                        self._last_tick = time.monotonic()
                        self._ticks += 1
                        continue
                    self._log.extend(raw + b"\n")
                    if i >= 0:
                        self._lines.append(line[i:])
                self._cond.notify_all()

    def _wait_for(self, pred, timeout: float, heartbeat: bool = False) -> str | None:
        """The first marker line matching pred; None on timeout, when QEMU exits, or (heartbeat=True)
        when no TICK came for FREEZE seconds (then self._frozen is set)."""
        deadline = time.monotonic() + timeout
        self._frozen = False
        with self._cond:
            while True:
                for l in self._lines:
                    if pred(l):
                        return l
                left = deadline - time.monotonic()
                if heartbeat and time.monotonic() - self._last_tick > self.FREEZE:
                    self._frozen = True
                    return None
                if left <= 0 or self.proc.poll() is not None:
                    # one last look after QEMU exited
                    return next((l for l in self._lines if pred(l)), None)
                self._cond.wait(min(left, 0.5))

    # -- running commands ---------------------------------------------------

    def run(self, argv: list, timeout: float = helpers.RUN_TIMEOUT) -> tuple[int | None, bytes, str]:
        """Runs argv inside; (status, stdout, stderr). status None: killed after `timeout` s.

        Paths under `share` are valid inside as they are; stdin is /dev/null. An executable under the
        share is run from a copy in the machine's tmpfs (same file name, so `solo5-hvt` stays
        `solo5-hvt`): exec over 9p rereads the 6 MB monitor every time. Raises NestedBootError when
        the machine is gone or stops answering (it is then rebooted for the next test, at most twice).
        """
        if self._broken:
            raise NestedBootError(self._broken)
        argv = [str(a) for a in argv]
        for attempt in (1, 2):
            got = self._run_once(argv, timeout)
            if got is not None:
                return got
            # The whole machine froze (no heartbeat): QEMU's problem, not the command's. Reboot, retry once.
            what = (f"the nested machine froze (no heartbeat for {self.FREEZE:.0f} s) while running "
                    f"{' '.join(argv)[:300]}")
            self.freezes.append(what)
            import warnings
            warnings.warn(what + ("; rebooted and retried" if attempt == 1 else "; rebooted, gave up"))
            self._wedged(what, retry=attempt == 1)
        raise AssertionError("unreachable")

    def _run_once(self, argv: list[str], timeout: float) -> tuple[int | None, bytes, str] | None:
        """One attempt; None when the machine froze (no heartbeat).

        Completion is the END line or, should that be lost, the <id>.status file. Until the command has
        started (<id>.out exists), the RUN line is resent after a BADLINE or RESEND seconds."""
        argv = list(argv)
        prologue = self._exe_prologue(argv)
        self._count += 1
        cid = f"c{self._count}"
        ctl = self.share / ".nested"
        seconds = max(1, int(timeout + 0.999))
        (ctl / f"{cid}.sh").write_text(prologue + f"exec timeout -s KILL {seconds} "
                                       + " ".join(shlex.quote(a) for a in argv) + "\n")
        t0 = time.monotonic()
        self._last_tick = t0
        sent_at, sends, seen = 0.0, 0, len(self._lines)
        status = None
        while status is None:
            now = time.monotonic()
            started = (ctl / f"{cid}.out").exists()
            bad = any(l.split()[2:3] == ["BADLINE"] for l in self._lines[seen:])
            if not started and (sends == 0 or bad or now - sent_at > self.RESEND):
                if sends > 5:
                    self._wedged(f"the nested machine did not take command {cid} after {sends} tries")
                seen = len(self._lines)
                try:
                    self.proc.stdin.write(f"RUN {cid} .\n".encode())
                    self.proc.stdin.flush()
                except OSError as e:
                    self._wedged(f"the nested machine is gone ({e})")
                sent_at, sends = now, sends + 1
            end = self._wait_for(lambda l: l.split()[2:4] == ["END", cid], 0.5, heartbeat=True)
            if end is not None:
                status = int(end.split()[4])
            elif self._frozen:
                return None
            elif (ctl / f"{cid}.status").exists():
                text = (ctl / f"{cid}.status").read_text().strip()
                status = int(text) if text.isdigit() else None
            if status is None and time.monotonic() - t0 > seconds + self.GRACE:
                self._wedged(f"the nested machine did not finish command {cid} ({' '.join(argv)[:300]}) within "
                             f"{seconds + self.GRACE:.0f} s (its own timeout was {seconds} s)")
            if self.proc.poll() is not None:
                self._wedged(f"QEMU exited ({self.proc.returncode}) during command {cid}")
        stdout = (ctl / f"{cid}.out").read_bytes()
        stderr = (ctl / f"{cid}.err").read_bytes().decode("utf-8", "replace")
        for ext in ("sh", "out", "err", "status"):
            (ctl / f"{cid}.{ext}").unlink(missing_ok=True)
        self.resends += sends - 1
        if status == 137 and time.monotonic() - t0 >= seconds:
            # killed by busybox `timeout -s KILL` (the shell reports 128 + 9)
            return None, stdout, stderr
        return status, stdout, stderr

    #: Seconds before a RUN line that started nothing is sent again.
    RESEND = 1.5

    #: Seconds without a heartbeat after which the machine counts as frozen. QEMU 7.2's TCG nested SVM
    #: sometimes stops the whole machine (timer interrupts and the console included) while KVM runs a
    #: guest, about once in 40-130 monitor runs, whatever the guest does (README: the nested tier).
    FREEZE = float(os.environ.get("SKIFF_NESTED_FREEZE", "12"))

    #: Seconds past a command's own timeout before the machine counts as wedged.
    GRACE = 30
    #: Reboots after a freeze or wedge, per session.
    MAX_REBOOTS = int(os.environ.get("SKIFF_NESTED_MAX_REBOOTS", "5"))

    def _exe_prologue(self, argv: list[str]) -> str:
        """Shell lines that put argv[0] (when it is a file under the share) into /tmp/exe once; rewrites argv[0]."""
        path = Path(argv[0])
        try:
            real = path.resolve(strict=True)
            real.relative_to(self.share)
        except (OSError, ValueError):
            return ""
        st = real.stat()
        key = f"{abs(hash((str(real), st.st_size, st.st_mtime_ns))):x}"
        d = f"/tmp/exe/{key}"
        argv[0] = f"{d}/{path.name}"
        q = shlex.quote
        # The tender beside `skiff` comes along, so `skiff run` inside execs skiff-hvt as on the host.
        files = [real] + [f for f in (real.parent / "skiff-hvt",) if f.exists() and f != real]
        copy = "".join(f"[ -x {q(d + '/' + f.name)} ] || {{ mkdir -p {q(d)} && cp {q(str(f))} {q(d + '/.tmp')} && "
                       f"mv {q(d + '/.tmp')} {q(d + '/' + f.name)}; }} || exit 126\n" for f in files)
        return copy + (f"[ -e {q(argv[0])} ] || ln -s {q(real.name)} {q(argv[0])}\n" if path.name != real.name else "")

    def _diagnose(self) -> str:
        """Asks the heartbeat loop for the process list (works while the command loop is stuck)."""
        ctl = self.share / ".nested"
        (ctl / "diag.out").unlink(missing_ok=True)
        (ctl / "diag").write_text("")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if not (ctl / "diag").exists() and (ctl / "diag.out").exists():
                return "--- processes inside ---\n" + (ctl / "diag.out").read_text(errors="replace")[-6000:]
            time.sleep(0.2)
        return "--- processes inside: no answer (heartbeat loop stuck too) ---"

    def _wedged(self, what: str, retry: bool = False):
        """Kills and reboots the machine (at most MAX_REBOOTS times per session). retry: return for a
        second attempt; else fail the current command with the console log."""
        alive = self.proc is not None and self.proc.poll() is None
        diag = self._diagnose() if alive and not self._frozen else ""
        message = (f"{what}\n(heartbeats: {self._ticks}, last {time.monotonic() - self._last_tick:.1f} s ago)\n"
                   + self.describe() + diag)
        self._kill()
        self.reboots = getattr(self, "reboots", 0) + 1
        if self.reboots > self.MAX_REBOOTS:
            self._broken = f"(the nested machine wedged {self.reboots} times; no more reboots)\n" + message
            raise NestedBootError(message)
        try:
            self._start()
        except NestedBootError as e:
            self._broken = str(e)
            raise NestedBootError(message)
        if not retry:
            raise NestedBootError(message)

    def result(self, argv: list, timeout: float = helpers.RUN_TIMEOUT) -> helpers.Result:
        """run() as a helpers.Result; a timeout fails the test as helpers.run does."""
        import pytest
        status, so, se = self.run(argv, timeout)
        if status is None:
            pytest.fail(f"timed out after {timeout}s inside the nested machine: {' '.join(map(str, argv))[:400]}\n"
                        f"--- stdout ---\n{so.decode('utf-8', 'replace')[-2000:]}\n--- stderr ---\n{se[-2000:]}",
                        pytrace=False)
        return helpers.Result([str(a) for a in argv], status, so, se)


# ---------------------------------------------------------------------------
# The pytest fixture (registered for the whole suite by conftest.py)

try:
    import pytest as _pytest
except ImportError:  # nested.py is also usable as a plain module
    _pytest = None

def booted(arch, tmp_path_factory, name: str = "nested"):
    """Generator for fixtures: a NestedVM of `arch` booted (skipping loudly when QEMU or the kernel cannot be
    had; failing with the console log when the boot fails), yielded, then closed."""
    why = NestedVM.qemu_missing(arch)
    if why:
        _pytest.skip("NO QEMU: " + why)
    vm = NestedVM(arch, tmp_path_factory.getbasetemp().resolve(), tmp_path_factory.mktemp(name))
    try:
        vm.boot()
    except NestedUnavailable as e:
        _pytest.skip(f"NO NESTED KERNEL ({arch.name}): " + str(e))
    except NestedBootError as e:
        _pytest.fail(str(e), pytrace=False)
    try:
        yield vm
    finally:
        vm.close()


if _pytest is not None:
    @_pytest.fixture(scope="session")
    def nested_vm(tmp_path_factory, request):
        """The nested KVM machine, booted once per session; shares the pytest base temporary directory.

        Skips (loudly) only when QEMU or the Debian kernel cannot be had; a boot failure is an error
        with the console log. $SKIFF_NESTED_ARCH picks the row of ARCHES (default x86_64).
        """
        arch = ARCHES[os.environ.get("SKIFF_NESTED_ARCH", "x86_64")]
        boot = booted(arch, tmp_path_factory)
        vm = next(boot)
        try:
            yield vm
        finally:
            next(boot, None)
            line = (f"nested KVM machine: {vm.bundle.package if vm.bundle else '?'} under {arch.qemu}, first boot "
                    f"{vm.boot_seconds:.1f} s, {vm._count} commands, {vm.resends} console lines resent, "
                    f"{len(vm.freezes)} freezes, {getattr(vm, 'reboots', 0)} reboots")

            class _Summary:  # after the run, where output is not captured
                @staticmethod
                def pytest_terminal_summary(terminalreporter):
                    terminalreporter.write_line(line, yellow=bool(vm.freezes))

            request.config.pluginmanager.register(_Summary(), "nested-kvm-summary")

    @_pytest.fixture(scope="session")
    def nested_arm64(tmp_path_factory):
        """The nested arm64 KVM machine (ARCHES["aarch64"]), booted once per session: test_nested_arm64.py and
        the hvt-aarch64 target of targets.py run in it."""
        yield from booted(ARCHES["aarch64"], tmp_path_factory, "nested-arm64")

    @_pytest.fixture(scope="session")
    def arm64_tender(tmp_path_factory) -> Path:
        """The arm64 Embedded Swift tender ($SKIFF_HVT_AARCH64, else .build-aarch64/release/skiff-hvt built by
        `scripts/build-embedded aarch64` if out of date), copied into the share as `skiff-hvt`."""
        given = os.environ.get("SKIFF_HVT_AARCH64")
        if given:
            built = Path(given)
        else:
            r = subprocess.run([str(REPO / "scripts" / "build-embedded"), "aarch64"], cwd=REPO, capture_output=True,
                               text=True, timeout=1800)
            built = REPO / ".build-aarch64" / "release" / "skiff-hvt"
            assert r.returncode == 0 and built.exists(), "scripts/build-embedded aarch64 failed:\n" + r.stdout + r.stderr
        copy = tmp_path_factory.mktemp("a64tender") / "skiff-hvt"
        shutil.copy2(built, copy)
        return copy


# ---------------------------------------------------------------------------
# Host programs inside the x86_64 machine

def host_program(exe: str, into: Path) -> list[str]:
    """Copies the host's `exe` (strace, tc, ...), the libraries `ldd` lists for it and the dynamic loader into
    `into` (a directory under the share); returns the argv prefix that runs it wherever `into` is at the same
    path, as inside the machine: [LOADER, --library-path, into, into/NAME] (just [into/NAME] when static).
    The x86_64 machine runs Debian's kernel; the loader needs nothing else of it."""
    into.mkdir(parents=True, exist_ok=True)
    name = Path(exe).name
    copy = into / name
    shutil.copy2(os.path.realpath(exe), copy)
    p = subprocess.run(["ldd", exe], capture_output=True, text=True, timeout=30)
    if "not a dynamic executable" in p.stdout + p.stderr:
        return [str(copy)]
    assert p.returncode == 0, p.stderr
    loader = None
    for line in p.stdout.splitlines():
        words = line.split()
        path = words[2] if "=>" in words and len(words) > 2 else words[0] if words else ""
        if not path.startswith("/"):
            continue                     # linux-vdso.so.1: the kernel's
        shutil.copy2(os.path.realpath(path), into / Path(path).name)
        if "=>" not in words:
            loader = into / Path(path).name
    assert loader is not None, f"ldd names no dynamic loader for {exe}:\n" + p.stdout
    return [str(loader), "--library-path", str(into), str(copy)]


# ---------------------------------------------------------------------------
# Networks inside a machine: taps, a guest and pings in one shell script

@dataclass(frozen=True)
class Tap:
    """A tap of a network test: its name, the host side's address (CIDR or None) and MTU (None: default)."""

    name: str
    address: str | None = None
    mtu: int | None = None


@dataclass(frozen=True)
class Ping:
    """One ping run during a network test (busybox ping inside the machine: `-A` stands in for `-f`)."""

    ip: str
    count: int
    options: tuple[str, ...] = ()


def net_session(vm: NestedVM, taps: list[Tap], argv: list, pings: list[Ping], work: Path,
                timeout: float, ready: str = "ready", fetches: tuple[str, ...] = (), setup: tuple[str, ...] = (),
                report: tuple[str, ...] = ()) -> tuple[list[helpers.Result], helpers.Result]:
    """Inside `vm`: makes `taps` (IPv6 off, so no DAD/RS frames reach the guest first), starts `argv` (a
    monitor), waits until it prints `ready` (as helpers.start_guest does on the host; not when there are no
    pings), runs `pings` at once, waits for the guest; the taps are deleted however it ends.
    With `fetches` (http://ADDR[:PORT]/PATH), a server: each is fetched in turn by an HTTP/1.0 GET through
    busybox nc after the pings (the response, headers included, is the Result's stdout), then the guest is
    stopped with SIGTERM. `setup`: shell lines run after the taps are up and before the guest starts (a failing
    one ends the script with status 94); `report`: shell lines run after the fetches, before SIGTERM (their
    output goes where they send it). Returns (one Result per ping, then one per fetch, the
    guest's Result). `work` is a directory under the share."""
    q = shlex.quote
    w = str(work)
    lines = ["for f in default all; do echo 1 > /proc/sys/net/ipv6/conf/$f/disable_ipv6; done 2>/dev/null",
             "trap '" + "; ".join(f"tunctl -d {t.name} >/dev/null 2>&1" for t in taps) + "' EXIT"]
    for t in taps:
        lines.append(f"tunctl -t {t.name} >/dev/null || exit 90")
        if t.mtu is not None:
            lines.append(f"ip link set {t.name} mtu {t.mtu} || exit 91")
        if t.address is not None:
            lines.append(f"ip addr add {t.address} dev {t.name} || exit 92")
        lines.append(f"ip link set {t.name} up || exit 93")
    lines += [f"{line} || exit 94" for line in setup]
    prologue = vm._exe_prologue(argv := [str(a) for a in argv])
    lines.append(prologue.rstrip("\n"))
    lines.append(" ".join(q(a) for a in argv) + f" >{w}/guest.out 2>{w}/guest.err & g=$!")
    if pings or fetches:
        lines.append(f"i=0; while ! grep -q {q(ready)} {w}/guest.out && kill -0 $g 2>/dev/null && [ $i -lt 300 ];"
                     " do sleep 0.1; i=$((i+1)); done")
        for n, p in enumerate(pings):
            lines.append(f"ping -c {p.count} -W 5 {' '.join(map(q, p.options))} {p.ip} >{w}/ping{n}.out 2>&1 & p{n}=$!")
        for n in range(len(pings)):
            lines.append(f"wait $p{n}; echo $? >{w}/ping{n}.status")
        for n, url in enumerate(fetches):
            # busybox nc, not its wget (which crashes in the nested machines' static busybox): HTTP/1.0, so the
            # server closes the connection after the response; headers and body are in the file.
            host, _, path = url.removeprefix("http://").partition("/")
            addr, _, port = host.partition(":")
            lines.append(f"printf 'GET /{path} HTTP/1.0\\r\\nHost: {addr}\\r\\n\\r\\n' | nc -w 60 {addr} {port or 80}"
                         f" >{w}/fetch{n}.body 2>{w}/fetch{n}.out; echo $? >{w}/fetch{n}.status")
        lines += list(report)
        if fetches:
            lines.append("kill -TERM $g")
    lines.append(f"wait $g; echo $? >{w}/guest.status")
    status, out, err = vm.run(["sh", "-c", "\n".join(lines)], timeout)
    assert status == 0, f"network script inside the machine failed ({status}):\n{err}\n" + "\n".join(lines)

    def result(name: str, args: list, stdout: bytes, stderr: str) -> helpers.Result:
        st = (work / f"{name}.status").read_text().strip()
        return helpers.Result([str(a) for a in args], int(st), stdout, stderr)
    pr = [result(f"ping{n}", ["ping", p.ip], (work / f"ping{n}.out").read_bytes(), "") for n, p in enumerate(pings)]
    pr += [result(f"fetch{n}", ["wget", url], (work / f"fetch{n}.body").read_bytes() if (work / f"fetch{n}.body").exists() else b"",
                  (work / f"fetch{n}.out").read_text(errors="replace")) for n, url in enumerate(fetches)]
    guest = result("guest", argv, (work / "guest.out").read_bytes(),
                   (work / "guest.err").read_bytes().decode("utf-8", "replace"))
    return pr, guest
