"""test_block.py: BLOCK_READ / BLOCK_WRITE as the monitor serves them (spec §9.4, §10.1), with probe_blk.

The probe issues raw hypercalls, so it can ask for what Solo5's bindings
never would (misaligned, several blocks, bad handles). The guest HALTs with
the `ret` field, so the exit status is the solo5_result_t (0 OK, 2 EINVAL).
Argument block: handle @0, offset @8, data @16, len @24, ret @32 (preset 7,
so "untouched" is visible).
"""

from __future__ import annotations

import pytest

from helpers import CAPACITY, MANIFEST, ENTRY_SIZE, R_EINVAL, R_OK, expect_monitor_error, expect_status, pattern

pytestmark = pytest.mark.kvm

def read(handle, offset, length, data="buf"):
    return f"{handle} {offset} {data} {length} 7 5 hc 32 ret"


def write(handle, offset, length, data="buf"):
    return f"{handle} {offset} {data} {length} 7 4 hc 32 ret"


@pytest.mark.parametrize("offset,length", [(1024, 512), (100, 3)], ids=["block", "misaligned"])
def test_read_reaches_the_guest(blk, offset, length):
    """A block; and a 3-byte read at offset 100 succeeds too (spec §9.4: no alignment check in the monitor)."""
    r = blk(f"{read(1, offset, length)} 0 expect buf {length} puts 0 halt")
    expect_status(r, 0)
    assert r.stdout == pattern(CAPACITY)[offset:offset + length], r.describe()


@pytest.mark.parametrize("offset,length,fill", [(2048, 512, b"A"), (1001, 5, b"!")], ids=["block", "misaligned"])
def test_write_reaches_the_file(blk, image, offset, length, fill):
    """A block; and a 5-byte write at offset 1001 (no alignment check in the monitor)."""
    r = blk(f"buf {length} {fill[0]:#x} fill {write(1, offset, length)} halt")
    expect_status(r, R_OK)
    data, end = image.read_bytes(), offset + length
    assert data[offset:end] == fill * length
    assert data[:offset] == pattern(CAPACITY)[:offset] and data[end:] == pattern(CAPACITY)[end:], "other bytes changed"


def test_round_trip_in_guest(blk):
    prog = (f"buf 4096 0x3c fill {write(1, 8192, 4096)} 0 expect "
            f"{read(1, 8192, 4096, 'buf 0x1000 add')} 0 expect "
            f"buf buf 0x1000 add 4096 memeq 1 expect ok")
    r = blk(prog)
    expect_status(r, 0)
    assert b"SUCCESS" in r.stdout


def test_first_and_last_block(blk, image):
    r = blk(f"buf 512 0x61 fill {write(1, 0, 512)} 0 expect "
            f"buf 512 0x7a fill {write(1, CAPACITY - 512, 512)} 0 expect ok")
    expect_status(r, 0)
    data = image.read_bytes()
    assert data[:512] == b"a" * 512 and data[-512:] == b"z" * 512


def test_whole_device_in_one_call(blk):
    """The monitor does not enforce the one-block limit (a binding rule, spec §9.4)."""
    r = blk(f"{read(1, 0, CAPACITY)} 0 expect buf {CAPACITY} puts 0 halt")
    expect_status(r, 0)
    assert r.stdout == pattern(CAPACITY)


def test_zero_length_request(blk):
    expect_status(blk(f"{read(1, 0, 0)} halt"), R_OK)


@pytest.mark.parametrize("offset,length", [
    (CAPACITY, 512),            # starts exactly at capacity
    (CAPACITY + 512, 512),      # past the end
    (CAPACITY - 512, 1024),     # straddles the end
    (CAPACITY - 1, 2),
    (CAPACITY, 0),              # offset must be < capacity even for 0 bytes
    (512, -256),                # len > SSIZE_MAX
    (512, 0x7FFFFFFFFFFFFFFF),  # offset + len > capacity without overflow
    (-512, 512),                # offset 2^64 - 512
])
@pytest.mark.parametrize("op", [read, write])
def test_out_of_range_is_einval(blk, image, op, offset, length):
    r = blk(f"{op(1, offset, length)} halt")
    expect_status(r, R_EINVAL)
    assert image.read_bytes() == pattern(CAPACITY), "the image changed"


@pytest.mark.parametrize("handle", [0, 2, 63, 64, 0xFFFFFFFF, 0x100000000, -1])
@pytest.mark.parametrize("op", [read, write])
def test_bad_handle_is_einval(blk, op, handle):
    expect_status(blk(f"{op(handle, 0, 512)} halt"), R_EINVAL)


def test_handle_truncated_to_32_bits(blk):
    """Spec §9 / §15.6: 0x1_0000_0001 acts as handle 1."""
    expect_status(blk(f"{read(0x100000001, 0, 512)} halt"), R_OK)


@pytest.mark.parametrize("data", ["mem", "mem 256 sub", "mem 512 sub", "-0x100", "0x100000000"])
@pytest.mark.parametrize("op", [read, write])
def test_data_out_of_guest_memory_is_fatal(blk, op, data):
    r = blk(f"{op(1, 0, 512, data)} halt")
    expect_monitor_error(r, "Invalid guest access")


def test_request_checks_come_before_the_address_check(blk):
    """An out-of-range offset is EINVAL even when the buffer is also bad (spec §9.4 order)."""
    expect_status(blk(f"{read(1, CAPACITY, 512, 'mem')} halt"), R_EINVAL)
    expect_status(blk(f"{read(7, 0, 512, 'mem')} halt"), R_EINVAL)


def test_data_ending_one_below_memory_top(blk):
    expect_status(blk(f"{read(1, 0, 512, 'mem 513 sub')} halt"), R_OK)


def test_block_argument_block_out_of_range(blk):
    expect_monitor_error(blk("mem 32 sub 0x505 outl"), "Invalid guest access")


def test_manifest_copy_block_entry(blk):
    e = MANIFEST + 8 + ENTRY_SIZE
    prog = (f"{e} rd {int.from_bytes(b'storage', 'little')} expect "
            f"{e + 68} rdd 1 expect "
            f"{e + 72} rd {CAPACITY} expect "
            f"{e + 80} rdd 0xffff and 512 expect "
            f"{e + 96} rdb 1 expect ok")
    expect_status(blk(prog), 0)


def test_sector_size_4096(probe, image):
    e = MANIFEST + 8 + ENTRY_SIZE
    prog = (f"{e + 80} rdd 0xffff and 4096 expect "
            f"{read(1, 4096, 4096)} 0 expect {read(1, 4096 + 512, 512, 'buf 0x1000 add')} 0 expect ok")
    r = probe(prog, f"--block:storage={image}", "--block-sector-size:storage=4096", guest="probe_blk")
    expect_status(r, 0)


def test_sector_size_option_before_block_option(probe, image):
    e = MANIFEST + 8 + ENTRY_SIZE
    r = probe(f"{e + 80} rdd 0xffff and 1024 expect ok", "--block-sector-size:storage=1024",
              f"--block:storage={image}", guest="probe_blk")
    expect_status(r, 0)


def test_writes_are_durable_after_abort(blk, image):
    """Acknowledged writes are in the file whatever way the run ends."""
    r = blk(f"buf 512 0x42 fill {write(1, 0, 512)} 0 expect 0 0x100000 wr")
    assert r.returncode == 1, r.describe()
    assert image.read_bytes()[:512] == b"B" * 512



def test_63_block_devices(probe, tmp_path):
    """The manifest maximum (63 devices, handles 1..63): write the first and the last, check both files."""
    images = []
    for i in range(63):
        img = tmp_path / f"storage{i}.img"
        img.write_bytes(bytes(4096))
        images.append(img)
    e63 = MANIFEST + 8 + ENTRY_SIZE * 63
    prog = (f"{MANIFEST + 4:#x} rdd 64 expect "
            f"{e63 + 96:#x} rdb 1 expect {e63 + 72:#x} rd 4096 expect "
            f"buf 512 0x31 fill {write(1, 0, 512)} 0 expect "
            f"buf 512 0x32 fill {write(63, 3584, 512)} 0 expect "
            f"{write(64, 0, 512)} {R_EINVAL} expect ok")
    r = probe(prog, *(f"--block:storage{i}={img}" for i, img in enumerate(images)), guest="probe_maxdev")
    expect_status(r, 0)
    assert images[0].read_bytes()[:512] == b"1" * 512
    assert images[62].read_bytes()[3584:] == b"2" * 512
    assert all(img.read_bytes() == bytes(4096) for img in images[1:62])
