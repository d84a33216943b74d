"""test_nested_arm64_image.py: skiff-hvt's arm64 Linux-Image machine (issue 13, item 2) with a real Linux kernel.

The arm64 tender boots an arm64 `Image` by the Linux boot protocol on the machine of
Sources/SkiffArchAArch64/VirtLayout.swift (RAM at 0x40000000, GICv3, PL011, PL031, Skiff's exit
register, virtio-mmio block devices) with a device tree it writes itself. Skiff's own `--platform
virt` images run there as the virt-aarch64-kvm target of the conformance suite (targets.py); here
Debian's arm64 kernel (the one nested.py boots the machine with) runs under it inside the nested arm64
KVM machine, with a busybox initramfs whose /init reports what Linux found and powers off:
- the kernel reads the monitor's device tree: its command line, the root compatible, the PL011 as
  ttyAMA0, the PL031 as rtc0, the GICv3, PSCI (SYSTEM_OFF ends the run with status 0);
- virtio_net finds the `--net` tap as eth0 with the `--net-mac` address, and answers 3 pings from the
  nested machine's side of the tap;
- virtio_mmio + virtio_blk (modules from the kernel package) find both `--block` devices with their
  capacities and contents (the last one given is vda, as QEMU virt orders its -devices); a write
  through Linux's page cache and `sync` is in the file;
- the options' refusals: a missing initrd, --initrd for an hvt image, a missing tap, a bad header.
Under TCG twice over a boot takes 5-10 s; nothing is timed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import helpers
import nested
from test_nested_arm64 import a64_guests  # noqa: F401  (fixture: the assembly hvt probes)

pytestmark = pytest.mark.nested

TIMEOUT = 120

_INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in /lib/modules/*.ko; do insmod "$m" || echo "insmod failed: $m"; done
i=0; while [ ! -b /dev/vdb ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
echo "cmdline: $(cat /proc/cmdline)"
echo "compatible: $(tr '\0' ' ' < /proc/device-tree/compatible)"
echo "console: $(cat /sys/class/tty/console/active)"
echo "rtc: $(cat /sys/class/rtc/rtc0/name 2>/dev/null) $(cat /sys/class/rtc/rtc0/since_epoch 2>/dev/null)"
echo "gic: $(dmesg | grep -c 'GICv3')"
for d in vda vdb; do echo "$d: $(cat /sys/block/$d/size 2>/dev/null) sectors"; done
dd if=/dev/vdb bs=512 count=1 2>/dev/null | head -c 16; echo
echo -n "written by linux" | dd of=/dev/vda bs=512 seek=1 conv=sync 2>/dev/null
sync
ip link set eth0 up && ip addr add 10.77.0.2/24 dev eth0 && echo "net: $(cat /sys/class/net/eth0/address) mtu $(cat /sys/class/net/eth0/mtu) ready"
i=0; while [ "$(awk '/^Icmp:/ { n++; if (n == 2) print $10 }' /proc/net/snmp)" -lt 3 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
echo "echo requests: $(awk '/^Icmp:/ { n++; if (n == 2) print $10 }' /proc/net/snmp)"
echo done
poweroff -f
"""


@pytest.fixture(scope="module")
def linux(nested_arm64, tmp_path_factory) -> dict[str, Path]:
    """Debian's arm64 kernel (nested.py's bundle, an uncompressed Image) and a busybox initramfs with
    virtio_mmio, virtio_blk and virtio_net, both under the share."""
    bundle = nested_arm64.bundle
    out = tmp_path_factory.mktemp("linux-image")
    kernel = out / "Image"
    shutil.copy2(bundle.vmlinuz, kernel)
    mods = nested.module_load_order(bundle.modules, ("virtio_mmio", "virtio_blk", "virtio_net"))
    entries = [(d, 0o040755, b"") for d in ("bin", "lib", "lib/modules")]
    entries.append(("init", 0o100755, _INIT.encode()))
    entries.append(("bin/busybox", 0o100755, bundle.busybox.read_bytes()))
    # insmod in the glob's order must respect dependencies: number them in load order.
    entries += [(f"lib/modules/{i:02d}-{ko.name}", 0o100644, ko.read_bytes()) for i, ko in enumerate(mods)]
    initrd = out / "initrd.cpio"
    initrd.write_bytes(nested._cpio_newc(entries))
    return {"kernel": kernel, "initrd": initrd}


def test_linux_boots_on_the_monitors_device_tree(nested_arm64, arm64_tender, linux, tmp_path):
    a = tmp_path / "a.img"
    a.write_bytes(b"first disk here." + bytes(4 * 1024 * 1024 - 16))
    b = helpers.zero_image(tmp_path / "b.img", 8 * 1024 * 1024)
    tap = nested.Tap("ltap0", "10.77.0.1/24")
    argv = [str(arm64_tender), "--mem=256", f"--initrd={linux['initrd']}", f"--block:root={a}", f"--block:data={b}",
            "--net:service0=ltap0", "--net-mac:service0=02:00:00:5e:00:42", str(linux["kernel"]),
            "console=ttyAMA0", "quiet", "panic=-1", "skiff.test=1"]
    (ping,), r = nested.net_session(nested_arm64, [tap], argv, [nested.Ping("10.77.0.2", 3)], tmp_path, TIMEOUT)
    helpers.expect_all_replies(ping, 3)
    helpers.expect_status(r, 0)
    out = r.stdout.decode(errors="replace")
    assert "cmdline: console=ttyAMA0 quiet panic=-1 skiff.test=1" in out, r.describe()
    assert "compatible: skiff,virt linux,dummy-virt" in out, r.describe()
    assert "console: ttyAMA0" in out, r.describe()
    assert "rtc: rtc-pl031 " in out, r.describe()
    assert "gic: 0" not in out, r.describe()
    # The first `--block` is at the highest slot, as QEMU virt plugs its first -device: Linux probes the
    # lowest address first, so `data` is vda and `root` vdb (as under QEMU with the same two devices).
    assert "vda: 16384 sectors" in out and "vdb: 8192 sectors" in out, r.describe()
    assert "insmod failed" not in out, r.describe()
    assert "first disk here." in out, r.describe()
    assert "net: 02:00:00:5e:00:42 mtu 1500 ready" in out and "echo requests: 3" in out, r.describe()
    assert "done" in out and r.stderr == "", r.describe()
    data = b.read_bytes()
    assert data[512:528] == b"written by linux" and data[528:1024] == bytes(496) and data[:512] == bytes(512)


@pytest.mark.parametrize("case", ["missing initrd", "initrd for hvt", "missing tap", "truncated header"])
def test_image_option_refusals(nested_arm64, arm64_tender, linux, a64_guests, tmp_path, case):
    """Refused before any VM exists, in one line, status 1."""
    kernel = str(linux["kernel"])
    if case == "missing initrd":
        argv, want = ["--initrd=/nonexistent.cpio", kernel], "/nonexistent.cpio"
    elif case == "initrd for hvt":
        argv, want = [f"--initrd={linux['initrd']}", str(a64_guests["probe"]), "hello"], "--initrd is for arm64 Linux Images"
    elif case == "missing tap":
        argv, want = ["--net:service0=notap9", kernel], "notap9"
    else:
        bad = tmp_path / "bad.img"
        head = bytearray(linux["kernel"].read_bytes()[:4096])
        head[0x10:0x18] = (100).to_bytes(8, "little")          # image_size smaller than the file
        bad.write_bytes(bytes(head))
        argv, want = [str(bad)], "image_size 100 is smaller than the file"
    r = nested_arm64.result([str(arm64_tender), "--mem=64", *argv], TIMEOUT)
    helpers.expect_status(r, 1)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("skiff-hvt: "), r.describe()
    assert want in lines[0], r.describe()
