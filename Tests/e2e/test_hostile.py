"""test_hostile.py: hostile guests the other files do not already cover (issue 4, docs/security.md).

Already elsewhere: argument blocks at 0, straddling the end of memory and
wrapping past 2^64 (test_hypercalls.py, test_block.py, test_net_probe.py);
PUTS / NET_* lengths of 2^63 (test_hypercalls.py::test_puts_bad_range,
test_net_probe.py::test_net_data_out_of_range_is_fatal); unknown numbers and
wrong access sizes (test_hypercalls.py); a guest that never halts
(test_faults.py). Here:

* oversized and undersized frames (NET_WRITE and ring writes; the monitor
  does no MTU check, spec §9.5, and the tap refuses frames shorter than an
  Ethernet header);
* NET_READ and BLOCK_READ into guest memory the guest cannot see or write
  itself (the tender's page tables, the boot info page): allowed by the ABI,
  the monitor keeps using its own copies;
* a BLOCK_READ over its own argument block (arguments are copied once);
* lengths and offsets of 2^63 and more on BLOCK_READ/BLOCK_WRITE and in the
  Skiff block ring (docs/block-ring.md), and malformed ring headers;
* PUTS of 1 GiB;
* the monitor's own memory: guest RAM is never executable on the host, the
  image's read-only segments are read-only host mappings, and nothing the
  monitor writes into guest memory is a host address.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

import helpers
from helpers import (BOOT_INFO, BUF, CAPACITY, ENTRY_SIZE, ETHERTYPE, MANIFEST, MIB, R_AGAIN, R_EINVAL, R_OK,
                     expect_monitor_error, expect_status, pattern)

pytestmark = pytest.mark.kvm


# ---------------------------------------------------------------------------
# Network: frame sizes, NET_READ into the page tables (root, private namespace)

def header_at(where: str) -> str:
    """probe words writing a broadcast Ethernet header (ethertype 0x88b5) at `where`."""
    return f"0xffffffffffff {where} wr 0xb5880100000002 {where} 6 add wr"


@pytest.mark.root
@pytest.mark.parametrize("length", [1515, 9014, 65536, MIB])
def test_net_write_larger_than_the_mtu_is_accepted(net_probe, length):
    """MTU 1500: frames up to 1 MiB are handed to the tap, which takes them (OK); the run goes on."""
    r = net_probe(f"buf {length} 0x61 fill {header_at('buf')} 1 buf {length} 7 0 6 hc 24 ret {R_OK} expect "
                  "7 0 0 0 0 1 hc ok")
    expect_status(r, 0)
    assert r.stdout == b"SUCCESS\n" and r.stderr == "", r.describe()


@pytest.mark.root
@pytest.mark.parametrize("length", [0, 1, 13])
def test_net_write_shorter_than_an_ethernet_header_is_fatal(net_probe, length):
    """The tap refuses the write (EINVAL): one line, exit 1, the guest does not go on."""
    r = net_probe(f"1 buf {length} 7 0 6 hc ok")
    expect_monitor_error(r, "Fatal error when writing: Invalid argument")
    assert len(r.stderr_lines) == 1 and b"SUCCESS" not in r.stdout, r.describe()


def ring_write(length: int) -> str:
    e = "mem 128 add"
    return (f"buf {length} 0x62 fill {header_at('buf')} "
            f"{1 | 1 << 32:#x} {e} wr buf {e} 8 add wr {length | 5 << 32:#x} {e} 16 add wr "
            "1 mem wrd 0 0x600 outl mem 64 add 1 wait32 ")


@pytest.mark.root
@pytest.mark.parametrize("length", [1515, 65536, MIB])
def test_ring_write_larger_than_the_mtu_is_accepted(net_ring, net_probe, length):
    expect_status(net_probe(ring_write(length) + "ok"), 0)


@pytest.mark.root
def test_ring_write_shorter_than_an_ethernet_header_is_fatal(net_ring, net_probe):
    """The I/O thread's failure stops the vCPU (spinning in wait32): one line, exit 1, promptly."""
    t0 = time.monotonic()
    r = net_probe(ring_write(8) + "ok")
    expect_monitor_error(r, "Fatal error when writing: Invalid argument")
    assert len(r.stderr_lines) == 1 and b"SUCCESS" not in r.stdout, r.describe()
    assert time.monotonic() - t0 < 5


@pytest.mark.root
@pytest.mark.parametrize("where,what", [
    (0x2008, "PML4 entries 1.. (the guest never uses the VAs they map)"),
    (0x7000, "PD3 (3-4 GiB, nothing there with --mem=64)"),
])
def test_net_read_into_the_tender_page_tables(skiff, asm, tapns, where, what):
    """Spec §5.3: GPA 0x1000-0xFFFF is unmapped in the guest, yet a valid hypercall buffer. NET_READ there
    succeeds; the frame lands in the tables (PUTS shows it) and the monitor keeps serving the guest."""
    f = (b"\xff" * 6 + bytes.fromhex("020000000001") + ETHERTYPE.to_bytes(2, "big")
         + b"into the page tables".ljust(46, b"%"))
    prog = ("10000000000 0 0 0 0 3 hc 16 ret 1 expect "
            f"1 {where:#x} 2048 7 0 7 hc 24 ret {R_OK} expect 16 arg {len(f)} expect {where:#x} {len(f)} puts "
            f"1 buf 2048 7 0 7 hc 24 ret {R_AGAIN} expect "
            "7 0 0 0 0 1 hc 0 arg nz 1 expect ok")
    r = helpers.run_receiving(tapns, [str(skiff), "run", "--mem=64", "--net:service0=tap0", str(asm["probe_net"]),
                                      *prog.split()], f)
    expect_status(r, 0)
    assert r.stdout == f + b"SUCCESS\n", what + "\n" + r.describe()


# ---------------------------------------------------------------------------
# Block: reads over data the guest cannot write itself; copy-once arguments

def read(offset, length, data="buf", handle=1):
    return f"{handle} {offset} {data} {length} 7 5 hc 32 ret"


def write(offset, length, data="buf", handle=1):
    return f"{handle} {offset} {data} {length} 7 4 hc 32 ret"


def test_block_read_over_the_boot_info(blk, image):
    """BLOCK_READ into the read-only boot info page (boot info, manifest copy) succeeds: the guest sees the
    disk bytes there. The monitor keeps its own memory size and manifest: the device still works, a buffer
    just below the real mem_size still passes, one at mem_size still fails. (The read stops at the command
    line, 0x10110 with two manifest entries: the probe reads its program from there.)"""
    disk = bytearray(pattern(CAPACITY))
    disk[0:8] = (1 << 62).to_bytes(8, "little")           # a huge "mem_size"
    image.write_bytes(bytes(disk))
    top = 64 * MIB
    cmdline = MANIFEST + 8 + 2 * ENTRY_SIZE
    prog = (f"{read(0, cmdline - BOOT_INFO, f'{BOOT_INFO:#x}')} {R_OK} expect "
            f"{BOOT_INFO:#x} rd {1 << 62:#x} expect "
            f"{MANIFEST + 8 + ENTRY_SIZE:#x} rd {int.from_bytes(disk[0x38 + 8 + ENTRY_SIZE:][:8], 'little'):#x} expect "
            f"{read(512, 512)} {R_OK} expect "
            f"{top - 17:#x} 16 puts ok")
    r = blk(prog)
    expect_status(r, 0)
    assert r.stdout.endswith(b"SUCCESS\n"), r.describe()
    expect_monitor_error(blk(f"{read(0, cmdline - BOOT_INFO, f'{BOOT_INFO:#x}')} {R_OK} expect {top:#x} 16 puts ok"),
                         f"Invalid guest access: gpa={top:#x}, sz=16")


def test_block_write_from_the_boot_info_and_page_tables(blk, image):
    """The guest may store low memory (even what it cannot map) to its disk: BLOCK_WRITE reads it as is."""
    r = blk(f"{write(0, 4096, f'{BOOT_INFO:#x}')} {R_OK} expect {write(4096, 4096, '0x2000')} {R_OK} expect ok")
    expect_status(r, 0)
    data = image.read_bytes()
    assert int.from_bytes(data[0:8], "little") == 64 * MIB, "mem_size is the first boot info field"
    pml4_0 = int.from_bytes(data[4096:4104], "little")
    assert pml4_0 & ~0x60 == 0x3003, f"PML4[0] = {pml4_0:#x}: -> PDPT at 0x3000, P, RW (spec §6.1; A/D may be set)"


def test_block_read_over_its_own_argument_block(blk, image):
    """The argument block is copied before the read: the read may overwrite it (handle, offset, data, len)
    and the monitor still does exactly the request it decoded, then writes only `ret` (offset 32)."""
    a = BUF + 0x1000                                    # the argument block, inside the buffer read into
    prog = (f"1 {a:#x} wr 1024 {a + 8:#x} wr {a:#x} {a + 16:#x} wr 512 {a + 24:#x} wr 7 {a + 32:#x} wr "
            f"{a:#x} 0x505 outl "
            f"{a:#x} 512 puts ok")
    r = blk(prog)
    expect_status(r, 0)
    want = bytearray(pattern(CAPACITY)[1024:1536])
    want[32:36] = R_OK.to_bytes(4, "little")
    assert r.stdout == bytes(want) + b"SUCCESS\n", r.describe()


@pytest.mark.parametrize("op", [read, write])
@pytest.mark.parametrize("offset,length,data", [
    (0, 1 << 63, "buf"),
    (0, (1 << 64) - 1, "buf"),
    (0, 1 << 63, "0"),
    (1 << 63, 512, "buf"),
    ((1 << 64) - 512, (1 << 63) + 512, "buf"),   # offset + len wraps to 0
])
def test_block_huge_lengths_and_offsets_are_einval(blk, image, op, offset, length, data):
    r = blk(f"{op(offset, length, data)} halt")
    expect_status(r, R_EINVAL)
    assert image.read_bytes() == pattern(CAPACITY), "the image changed"


# ---------------------------------------------------------------------------
# The Skiff block ring (hypercall 9, docs/block-ring.md)

RING = BUF + 0x100000
OP_READ, OP_WRITE, OP_FLUSH = 1, 2, 3


def ring_header(size: int, head: int, tail: int, at: int = RING) -> str:
    return f"{size | head << 32:#x} {at:#x} wr {tail:#x} {at + 8:#x} wr "


def ring_entry(slot: int, op: int, offset: int, data: str, length: int, handle: int = 1, at: int = RING) -> str:
    e = at + 16 + 40 * slot
    return (f"{op | handle << 32:#x} {e:#x} wr {offset:#x} {e + 8:#x} wr {data} {e + 16:#x} wr "
            f"{length:#x} {e + 24:#x} wr 7 {e + 32:#x} wr ")


def ring_call(at: str = f"{RING:#x}") -> str:
    return f"{at} 0x700000007 0 0 0 9 hc "


def entry_ret(slot: int, want: int, at: int = RING) -> str:
    return f"{at + 16 + 40 * slot + 32:#x} rdd {want} expect "


@pytest.mark.parametrize("length", [1 << 63, (1 << 64) - 512, 8 * MIB, 0, 100])
def test_block_ring_bad_entry_length_is_einval_others_served(blk, image, length):
    prog = ("buf 512 0x51 fill " + ring_header(2, 2, 0)
            + ring_entry(0, OP_READ, 0, "buf 0x1000 add", length)
            + ring_entry(1, OP_WRITE, 512, "buf", 512)
            + ring_call() + f"12 ret {R_OK} expect 8 ret 2 expect "
            + entry_ret(0, R_EINVAL) + entry_ret(1, R_OK) + f"{RING + 8:#x} rdd 2 expect ok")
    expect_status(blk(prog), 0)
    data = image.read_bytes()
    assert data[512:1024] == b"Q" * 512 and data[:512] + data[1024:] == pattern(CAPACITY)[:512] + pattern(CAPACITY)[1024:]


@pytest.mark.parametrize("offset", [1 << 63, (1 << 64) - 512, CAPACITY, 100])
def test_block_ring_bad_entry_offset_is_einval(blk, image, offset):
    prog = (ring_header(1, 1, 0) + ring_entry(0, OP_WRITE, offset, "buf", 512)
            + ring_call() + f"12 ret {R_OK} expect 8 ret 1 expect " + entry_ret(0, R_EINVAL) + "ok")
    expect_status(blk(prog), 0)
    assert image.read_bytes() == pattern(CAPACITY)


@pytest.mark.parametrize("size,head,tail", [
    (0, 0, 0), (3, 1, 0), (2048, 1, 0), (1 << 31, 1, 0), (0xFFFFFFFF, 1, 0),
    (1, 5, 0),                    # more pending than slots
    (4, 0, 1),                    # head behind tail: 2^32 - 1 pending
])
def test_block_ring_bad_header_is_einval_and_nothing_done(blk, image, size, head, tail):
    prog = (ring_header(size, head, tail) + ring_entry(0, OP_WRITE, 0, "buf", 512)
            + ring_call() + f"12 ret {R_EINVAL} expect 8 ret 0 expect " + entry_ret(0, 7)
            + f"{RING + 8:#x} rdd {tail} expect ok")
    expect_status(blk(prog), 0)
    assert image.read_bytes() == pattern(CAPACITY)


def test_block_ring_indices_wrap(blk, image):
    """Free-running u32 indices: tail 0xffffffff, head 0 is one pending entry (slot 0 of a 1-entry ring)."""
    prog = ("buf 512 0x57 fill " + ring_header(1, 0, 0xFFFFFFFF) + ring_entry(0, OP_WRITE, 0, "buf", 512)
            + ring_call() + f"12 ret {R_OK} expect 8 ret 1 expect " + entry_ret(0, R_OK)
            + f"{RING + 8:#x} rdd 0 expect ok")
    expect_status(blk(prog), 0)
    assert image.read_bytes()[:512] == b"W" * 512


@pytest.mark.parametrize("program,what", [
    (ring_header(1, 1, 0, at=64 * MIB - 48) + ring_call(f"{64 * MIB - 48:#x}"), "ring straddles the end of memory"),
    (ring_header(1024, 1, 0, at=64 * MIB - 0x8000) + ring_call(f"{64 * MIB - 0x8000:#x}"),
     "ring of 1024 entries (40976 bytes) runs past the end of memory"),
    (ring_call("mem 8 sub"), "argument block straddles the end of memory"),
    (ring_call("mem 16 sub"), "argument block ends exactly at mem_size (strict bound)"),
    (ring_header(1, 1, 0) + ring_entry(0, OP_READ, 0, "mem 256 sub", 512) + ring_call(), "entry buffer past the end"),
    (ring_header(1, 1, 0) + ring_entry(0, OP_READ, 0, "-0x100", 512) + ring_call(), "entry buffer wraps past 2^64"),
])
def test_block_ring_out_of_memory_is_fatal(blk, image, program, what):
    r = blk(program + "ok")
    expect_monitor_error(r, "Invalid guest access")
    assert b"SUCCESS" not in r.stdout, what + "\n" + r.describe()
    assert image.read_bytes() == pattern(CAPACITY)


def test_block_ring_needs_a_block_device(probe):
    """Without block devices hypercall 9 does not exist: port 0x509 is an invalid port, as upstream."""
    expect_monitor_error(probe(ring_call() + "ok"), "Invalid guest port access: port=0x509")


# ---------------------------------------------------------------------------
# PUTS of 1 GiB

def test_puts_of_one_gib(skiff, asm):
    """Out of range with 64 MiB (Invalid guest access); with 2 GiB all 2^30 bytes reach stdout, exit 0."""
    r = helpers.run([str(skiff), "run", "--mem=64", str(asm["probe"]), "0x100000", "0x40000000", "puts", "ok"])
    expect_monitor_error(r, "Invalid guest access: gpa=0x100000, sz=1073741824")
    p = helpers.popen([str(skiff), "run", "--mem=2048", str(asm["probe"]), "0x100000", "0x40000000", "puts", "0", "halt"])
    total, head = 0, b""
    try:
        fd = p.stdout.fileno()
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            if len(head) < 16:
                head += chunk[:16 - len(head)]
            total += len(chunk)
        r = helpers.finish(p, timeout=30)
    finally:
        helpers.stop(p)
    expect_status(r, 0)
    assert total == 1 << 30, f"{total} bytes on stdout"
    assert head == asm["probe"].read_bytes()[0x1000:0x1010], "stdout does not start with the guest's text"


# ---------------------------------------------------------------------------
# The monitor's own memory

def host_maps(pid: int) -> list[tuple[int, int, str, str]]:
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            out.append((lo, hi, parts[1], parts[5].strip() if len(parts) > 5 else ""))
    return out


def guest_ram(maps, size: int) -> list[tuple[int, int, str, str]]:
    """The anonymous mappings tiling guest RAM: [base, base + size) with a mapping boundary at
    base + 1 MiB (the image's read-only text starts there)."""
    anon = {lo: m for m in maps for lo in [m[0]] if m[3] == ""}
    for base in anon:
        parts, at = [], base
        while at < base + size and at in anon:
            parts.append(anon[at])
            at = anon[at][1]
        if at == base + size and any(m[0] == base + MIB for m in parts):
            return parts
    raise AssertionError("no run of anonymous mappings of the guest's size:\n" + "\n".join(map(str, maps)))


def spinning(argv: list[str], marker: bytes):
    p = helpers.popen(argv)
    helpers.wait_for_output(p, marker)
    return p


def test_guest_memory_is_never_executable_on_the_host(skiff, asm):
    """Spec §2.4/§13: guest RAM is mapped without PROT_EXEC; the image's text and rodata (R, R+X segments)
    are read-only host mappings, its data read-write."""
    p = spinning([str(skiff), "run", "--mem=64", str(asm["probe"]), "1", "print", "spin"], b"0x1\n")
    try:
        parts = guest_ram(host_maps(p.pid), 64 * MIB)
    finally:
        p.send_signal(signal.SIGTERM)
        helpers.finish(p, timeout=10)
        helpers.stop(p)
    base = parts[0][0]
    assert all("x" not in m[2] for m in parts), f"executable guest RAM on the host: {parts}"
    syms = helpers.elf_symbols(asm["probe"])
    layout = [(m[0] - base, m[1] - base, m[2]) for m in parts]
    text_rodata = next(m for m in layout if m[0] == MIB)
    assert text_rodata[2].startswith("r--") and text_rodata[1] >= syms["words"] + 1, \
        f"text and rodata must be read-only on the host: {layout}"
    data = next(m for m in layout if m[0] <= syms["argblk"] < m[1])
    assert data[2].startswith("rw-"), f"data must be writable: {layout}"


def test_no_host_address_in_guest_memory(skiff, asm, tmp_path):
    """Everything the monitor writes below the image (GDT, page tables, boot info, manifest copy with the
    attached block device, command line) is read back with PUTS: no 8-byte word in it points into any
    mapping of the running monitor."""
    img = tmp_path / "disk.img"
    img.write_bytes(bytes(4096))
    p = spinning([str(skiff), "run", "--mem=64", f"--block:storage={img}", str(asm["probe_blk"]),
                  "0", "0x100000", "puts", "1", "print", "spin"], b"")
    try:
        low = b""
        while len(low) < MIB + 4:
            chunk = os.read(p.stdout.fileno(), MIB + 4 - len(low))
            assert chunk, "the monitor exited early"
            low += chunk
        maps = host_maps(p.pid)
    finally:
        p.send_signal(signal.SIGTERM)
        helpers.finish(p, timeout=10)
        helpers.stop(p)
    assert low[MIB:] == b"0x1\n"
    assert int.from_bytes(low[BOOT_INFO:BOOT_INFO + 8], "little") == 64 * MIB, "not the boot info"
    leaks = []
    for off in range(0, MIB, 8):
        v = int.from_bytes(low[off:off + 8], "little")
        if v >= 1 << 32 and any(lo <= v < hi for lo, hi, _, _ in maps):   # GPAs are below 4 GiB
            leaks.append(f"gpa {off:#x}: {v:#x}")
    assert not leaks, "host addresses in guest memory: " + ", ".join(leaks[:20])
