"""test_net_probe.py: network devices through raw hypercalls (spec §5.2, §9.3, §9.5–9.6, §10.2), with probe_net.

Root only: each test gets a private network namespace (conftest `netns`)
with tap0 = 10.77.0.1/24 and runs the monitor inside it with
`ip netns exec`, so the host's interfaces are never touched. Frames are
sent and captured with rawframe.py (AF_PACKET) inside the namespace.
NET_READ/NET_WRITE argument block: handle @0, data @8, len @16, ret @24.
"""

from __future__ import annotations

import pytest

import helpers
from helpers import (BOOT_INFO, ENTRY_SIZE, ETHERTYPE, MANIFEST, MIB, R_AGAIN, R_EINVAL, R_OK,
                     expect_monitor_error, expect_status)

pytestmark = [pytest.mark.kvm, pytest.mark.root]


def frame(payload: bytes, dst: bytes = b"\xff" * 6, src: bytes = bytes.fromhex("020000000001")) -> bytes:
    return dst + src + ETHERTYPE.to_bytes(2, "big") + payload


def store(data: bytes, at: str = "buf") -> str:
    """probe words that copy `data` into guest memory at `at`."""
    data = data + bytes(-len(data) % 8)
    return " ".join(f"{int.from_bytes(data[i:i + 8], 'little'):#x} {at} {i} add wr" for i in range(0, len(data), 8))


def test_sandbox_with_net_device_is_not_killed(skiff, asm, tapns):
    """Regression: the seccomp filter (TSYNC) was installed before the ring I/O thread had made its
    start-up system calls (glibc's rseq), so about half the runs died of SIGSYS (status 159).
    20 runs with the sandbox on (the default)."""
    argv = tapns.exec_argv([str(skiff), "run", "--mem=64", "--net:service0=tap0", str(asm["probe_net"]), "5", "halt"])
    statuses = [helpers.run(argv).returncode for _ in range(20)]
    assert statuses == [5] * 20, f"exit statuses of 20 runs (159 / -31 = SIGSYS): {statuses}"


def test_boot_info_with_net_device(net_probe, asm):
    e1 = MANIFEST + 8 + ENTRY_SIZE
    kend = helpers.elf_kernel_end(asm["probe_net"])
    prog = (f"{BOOT_INFO:#x} rd {64 * MIB:#x} expect "           # mem_size stays 64 MiB (the ring is extra)
            f"rsp {64 * MIB - 8:#x} expect "
            f"{BOOT_INFO + 8:#x} rd {kend:#x} expect "
            f"{BOOT_INFO + 24:#x} rd {MANIFEST + 8 + 2 * ENTRY_SIZE:#x} expect "
            f"{e1:#x} rd {int.from_bytes(b'service0', 'little'):#x} expect "
            f"{e1 + 68:#x} rdd 2 expect "
            f"{e1 + 72:#x} rd 0xffffffffffff and 0x010000000002 expect "   # --net-mac
            f"{e1 + 78:#x} rdd 0xffff and 1500 expect "                      # tap MTU
            f"{e1 + 96:#x} rdb 1 expect "
            f"{BOOT_INFO + 40:#x} rdd print {BOOT_INFO + 48:#x} rd print ok")
    r = net_probe(prog, "--net-mac:service0=02:00:00:00:00:01")
    expect_status(r, 0)
    lines = r.stdout.decode().split()
    features, ring = int(lines[0], 16), int(lines[1], 16)
    assert features in (0, 1), r.describe()
    assert ring == (64 * MIB if features & 1 else 0), "net_ring must equal mem_size when ring I/O is offered:\n" + r.describe()


def test_net_mac_option_before_net_option(net_probe):
    e1 = MANIFEST + 8 + ENTRY_SIZE
    r = net_probe(f"{e1 + 72:#x} rd 0xffffffffffff and 0xefcdab896742 expect ok",
                  nets=("--net-mac:service0=42:67:89:ab:cd:ef", "--net:service0=tap0"))
    expect_status(r, 0)


def test_random_mac_is_local_unicast(net_probe):
    e1 = MANIFEST + 8 + ENTRY_SIZE
    r = net_probe(f"{e1 + 72:#x} rd 0xffffffffffff and print")
    expect_status(r, 0)
    mac = int(r.stdout.decode(), 16).to_bytes(6, "little")
    assert mac[0] & 0x03 == 0x02, f"MAC {mac.hex(':')}: must be locally administered and unicast"


def test_ring_area_is_mapped_but_not_a_hypercall_buffer(net_probe):
    """The 2 MiB above mem_size hold the ring: mapped for the guest, refused as a hypercall buffer."""
    expect_status(net_probe("mem rd drop mem 0x1ffff8 add rd drop ok"), 0)
    expect_monitor_error(net_probe("mem 0x200000 add rd"), "exit_reason=0x8")
    expect_monitor_error(net_probe("1 mem 64 7 0 7 hc"), "Invalid guest access")
    expect_monitor_error(net_probe("mem 16 puts"), "Invalid guest access")


def test_net_write_reaches_the_tap(tapns, net_probe):
    f = frame(b"skiff e2e: guest to host".ljust(46, b"."))
    def send():
        r = net_probe(f"{store(f)} 1 buf {len(f)} 7 0 6 hc 24 ret halt")
        expect_status(r, R_OK)
    c = helpers.capture_during(tapns, send)
    assert c.returncode == 0 and f.hex() in c.stdout.decode(), "frame not seen on tap0:\n" + c.describe()


def test_net_read_from_the_tap(skiff, asm, tapns):
    f = frame(b"skiff e2e: host to guest".ljust(60, b"#"))
    prog = ("10000000000 0 0 0 0 3 hc 8 arg print 16 ret print "
            f"1 buf 2048 7 0 7 hc 24 ret print 16 arg print buf {len(f)} puts "
            f"1 buf 2048 7 0 7 hc 24 ret print 16 arg print")
    r = helpers.run_receiving(tapns, [str(skiff), "run", "--mem=64", "--net:service0=tap0", str(asm["probe_net"]),
                                      *prog.split()], f)
    expect_status(r, 0)
    want = (b"0x2\n0x1\n"                       # ready_set = handle 1, ret = 1 ready device
            + f"{R_OK:#x}\n{len(f):#x}\n".encode() + f
            + f"{R_AGAIN:#x}\n0x800\n".encode())  # then nothing: AGAIN, len untouched
    assert r.stdout == want, r.describe()


def test_net_read_nothing_pending(net_probe):
    r = net_probe(f"1 buf 1514 7 0 7 hc 24 ret {R_AGAIN} expect 16 arg 1514 expect ok")
    expect_status(r, 0)


def test_poll_timeout_with_idle_net(net_probe):
    import time
    t0 = time.monotonic()
    r = net_probe("300000000 0xff 0xff 0 0 3 hc 8 arg 0 expect 16 ret 0 expect ok")
    expect_status(r, 0)
    assert time.monotonic() - t0 >= 0.29


@pytest.mark.parametrize("nr", [6, 7])
@pytest.mark.parametrize("handle", [0, 2, 63, 0xFFFFFFFF])
def test_net_bad_handle_is_einval(net_probe, nr, handle):
    expect_status(net_probe(f"{handle} buf 64 7 0 {nr} hc 24 ret halt"), R_EINVAL)


def test_net_handle_truncated_to_32_bits(net_probe):
    r = net_probe(f"0x100000001 buf 1514 7 0 7 hc 24 ret halt")
    expect_status(r, R_AGAIN)


def test_handles_are_typed(tapns, net_probe, tmp_path):
    """In a manifest with storage (1) and service0 (2), each call refuses the other type's handle."""
    img = tmp_path / "disk.img"
    img.write_bytes(bytes(4096))
    r = net_probe(f"1 buf 64 7 0 6 hc 24 ret {R_EINVAL} expect "          # NET_WRITE on the block device
                  f"1 buf 64 7 0 7 hc 24 ret {R_EINVAL} expect "          # NET_READ on the block device
                  f"2 0 buf 512 7 5 hc 32 ret {R_EINVAL} expect "         # BLOCK_READ on the net device
                  f"1 0 buf 512 7 5 hc 32 ret {R_OK} expect "
                  f"2 buf 64 7 0 7 hc 24 ret {R_AGAIN} expect ok",
                  f"--block:storage={img}", guest="probe_blknet")
    expect_status(r, 0)


@pytest.mark.parametrize("nr", [6, 7])
@pytest.mark.parametrize("data,length", [("mem", "64"), ("mem 32 sub", "64"), ("mem 64 sub", "64"),
                                         ("0x1000", "-0x800"), ("0x1000", "0x8000000000000000")])
def test_net_data_out_of_range_is_fatal(net_probe, nr, data, length):
    expect_monitor_error(net_probe(f"1 {data} {length} 7 0 {nr} hc"), "Invalid guest access")


def test_net_argument_block_out_of_range(net_probe):
    expect_monitor_error(net_probe("mem 16 sub 0x507 outl"), "Invalid guest access")


def test_tap_mtu_9000(tapns, net_probe):
    tapns.add_tap("tap9", "10.79.0.1/24", mtu=9000)
    e1 = MANIFEST + 8 + ENTRY_SIZE
    r = net_probe(f"{e1 + 78:#x} rdd 0xffff and 9000 expect ok", nets=("--net:service0=tap9",))
    expect_status(r, 0)


def test_tap_down_is_refused(tapns, net_probe):
    tapns.ip("tuntap", "add", "tapd", "mode", "tap")
    r = net_probe("ok", nets=("--net:service0=tapd",))
    expect_monitor_error(r, "Could not attach interface: tapd")


def test_two_interfaces_ready_set(skiff, asm, tapns):
    """A frame on the second tap sets bit 2 of ready_set only; each handle reads its own tap."""
    tapns.add_tap("tap1", "10.78.0.1/24")
    f = frame(b"to service1".ljust(50, b"1"))
    prog = ("10000000000 0 0 0 0 3 hc 8 arg print "
            "1 buf 2048 7 0 7 hc 24 ret print "
            f"2 buf 2048 7 0 7 hc 24 ret print 16 arg print buf {len(f)} puts")
    r = helpers.run_receiving(tapns, [str(skiff), "run", "--mem=64", "--net:service0=tap0", "--net:service1=tap1",
                                      str(asm["probe_net2"]), *prog.split()], f, tap="tap1")
    expect_status(r, 0)
    assert r.stdout == b"0x4\n" + f"{R_AGAIN:#x}\n{R_OK:#x}\n{len(f):#x}\n".encode() + f, r.describe()


# ---------------------------------------------------------------------------
# Ring I/O (spec §11), driven by hand: the probe fills ring entries with `wr`,
# bumps ent_tail, kicks port 0x600 and waits with `wait32`.

RING_ENTRIES, RING_COMMITS = 128, 32896
OP_WRITE, OP_READ = 1, 2


def ring_entry(slot: int, op: int, handle: int, data: str, length: int, ident: int) -> str:
    e = f"mem {RING_ENTRIES + 32 * slot} add"
    return (f"{op | handle << 32:#x} {e} wr "
            f"{data} {e} 8 add wr "
            f"{length | ident << 32:#x} {e} 16 add wr ")


def ring_submit(count: int) -> str:
    """Publish `count` entries (ent_tail), kick, wait for the host to retire them (ent_head)."""
    return f"{count} mem wrd 0 0x600 outl mem 64 add {count} wait32 "


def print_commit(slot: int) -> str:
    c = f"mem {RING_COMMITS + 16 * slot} add"
    return f"{c} rdd print {c} 4 add rdd print {c} 8 add rdd print "


def test_ring_write_reaches_the_tap(net_ring, tapns, net_probe):
    f = frame(b"skiff e2e: through the ring".ljust(50, b"r"))
    def send():
        r = net_probe(store(f) + " " + ring_entry(0, OP_WRITE, 1, "buf", len(f), 5) + ring_submit(1)
                      + "mem 68 add rdd 0 expect ok")   # writes produce no commit
        expect_status(r, 0)
    c = helpers.capture_during(tapns, send)
    assert c.returncode == 0 and f.hex() in c.stdout.decode(), "frame not seen on tap0:\n" + c.describe()


def test_ring_read_from_the_tap(net_ring, skiff, asm, tapns):
    f = frame(b"skiff e2e: ring read".ljust(70, b"R"))
    prog = ("10000000000 0 0 0 0 3 hc "
            + ring_entry(0, OP_READ, 1, "buf", 2048, 7) + ring_submit(1) + "mem 68 add 1 wait32 "
            + print_commit(0) + f"buf {len(f)} puts "
            + ring_entry(1, OP_READ, 1, "buf", 2048, 8) + ring_submit(2) + "mem 68 add 2 wait32 "
            + print_commit(1)
            + ring_entry(2, OP_READ, 9, "buf", 2048, 9) + ring_submit(3) + "mem 68 add 3 wait32 "
            + print_commit(2) + "0 halt")
    r = helpers.run_receiving(tapns, [str(skiff), "run", "--mem=64", "--net:service0=tap0", str(asm["probe_net"]),
                                      *prog.split()], f)
    expect_status(r, 0)
    want = (f"0x7\n{R_OK:#x}\n{len(f):#x}\n".encode() + f
            + f"0x8\n{R_AGAIN:#x}\n0x0\n".encode()       # nothing more pending
            + f"0x9\n{R_EINVAL:#x}\n0x0\n".encode())     # bad handle: EINVAL commit, not fatal
    assert r.stdout == want, r.describe()


@pytest.mark.parametrize("data", ["mem", "mem 32 sub", "0x100000000"])
def test_ring_write_out_of_range_is_fatal(net_ring, net_probe, data):
    """A ring entry whose buffer fails the bounds check stops the run (exit 1), like the hypercall."""
    r = net_probe(ring_entry(0, OP_WRITE, 1, data, 64, 1) + ring_submit(1) + "0 halt")
    expect_monitor_error(r, "Invalid guest access")


def test_ring_write_bad_handle_is_dropped(net_ring, net_probe):
    r = net_probe(ring_entry(0, OP_WRITE, 9, "buf", 64, 1) + ring_entry(1, OP_WRITE, 0, "buf", 64, 2)
                  + ring_submit(2) + "mem 68 add rdd 0 expect ok")
    expect_status(r, 0)


@pytest.mark.parametrize("mem,guest_mem", [(4096, 0xFFE00000), (4094, 4094 * MIB), (2, 2 * MIB)])
def test_ring_reservation_sizes(tapns, skiff, asm, mem, guest_mem):
    """Spec §5.2: the ring's 2 MiB come on top of --mem, capped at 4 GiB in all (4096 -> 0xFFE00000)."""
    prog = f"mem {guest_mem:#x} expect rsp {guest_mem - 8:#x} expect ok"
    r = helpers.run(tapns.exec_argv([str(skiff), "run", f"--mem={mem}", "--net:service0=tap0", str(asm["probe_net"]),
                                     *prog.split()]))
    expect_status(r, 0)
