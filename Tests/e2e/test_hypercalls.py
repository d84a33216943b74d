"""test_hypercalls.py: hypercall transport, dispatch and guest-address checks (spec §8–9) with probe.S.

probe's `hc` word stores five qwords at its argument block and does
`outl argblk, 0x500+nr`; `outl`/`outw`/`outb`/`inl` are raw port accesses.
"""

from __future__ import annotations

import re
import time

import pytest

from helpers import expect_monitor_error, expect_status

pytestmark = pytest.mark.kvm


# ---------------------------------------------------------------------------
# Dispatch

@pytest.mark.parametrize("nr", [0])
def test_reserved_hypercall_number(probe, nr):
    expect_monitor_error(probe(f"argblk {0x500 + nr:#x} outl"), f"Invalid guest hypercall: num={nr}")


@pytest.mark.parametrize("port", [0x509, 0x5FF, 0x4FF, 0x600, 0x3F8, 0x0, 0xFFFF])
def test_port_outside_hypercall_range(probe, port):
    expect_monitor_error(probe(f"argblk {port:#x} outl"), f"Invalid guest port access: port={port:#x}")


@pytest.mark.parametrize("word", ["outb", "outw", "inl"])
def test_wrong_access_kind_on_hypercall_port(probe, word):
    expect_monitor_error(probe(f"0x502 {word}"), "Invalid guest port access: port=0x502")


@pytest.mark.parametrize("nr", [4, 5])
def test_block_hypercalls_without_block_device(probe, nr):
    expect_monitor_error(probe(f"1 0 buf 512 7 {nr} hc"), f"Invalid guest hypercall: num={nr}")


@pytest.mark.parametrize("nr", [6, 7])
def test_net_hypercalls_without_net_device(probe, nr):
    expect_monitor_error(probe(f"1 buf 64 7 0 {nr} hc"), f"Invalid guest hypercall: num={nr}")


@pytest.mark.parametrize("where", ["mem", "mem 8 sub", "mem 15 sub", "mem 16 sub", "0xfffffff0"])
def test_argument_block_out_of_range(probe, where):
    """The argument block itself is checked with its structure size (PUTS: 16 bytes)."""
    expect_monitor_error(probe(f"{where} 0x502 outl"), "Invalid guest access")


def test_argument_block_at_gpa_zero_is_not_an_error(probe):
    """GPA 0 is inside guest memory (only unmapped in the guest's page tables)."""
    r = probe("0 0x502 outl 3 halt")
    expect_status(r, 3)


# ---------------------------------------------------------------------------
# PUTS

def test_puts_from_gpa_zero(probe):
    r = probe("0 16 puts 0 halt")
    expect_status(r, 0)
    assert r.stdout == bytes(16), r.describe()


def test_puts_zero_length(probe):
    r = probe("buf 0 puts 0 halt")
    expect_status(r, 0)
    assert r.stdout == b"", r.describe()


def test_puts_exact_bytes(probe):
    r = probe("0x0a434241 buf wr buf 4 puts 0 halt")
    expect_status(r, 0)
    assert r.stdout == b"ABC\n", r.describe()


def test_puts_ending_one_below_the_last_byte(probe):
    r = probe("mem 17 sub 16 puts 0 halt")
    expect_status(r, 0)
    assert len(r.stdout) == 16, r.describe()


@pytest.mark.parametrize("gpa,length", [
    ("mem 8 sub", "16"),            # straddles the end of memory
    ("mem 16 sub", "16"),           # ends exactly at mem_size: refused (strict bound, spec §15.1)
    ("mem 1 sub", "1"),             # the last byte itself
    ("mem", "0"),                   # starts at mem_size
    ("mem", "1"),
    ("0x1000", "-0x800"),           # gpa + len wraps past 2^64
    ("0x1000", "0x8000000000000000"),  # len = 2^63
    ("0xffffffffffffff00", "0x10"),  # gpa beyond any memory
    ("0x100000000", "1"),           # 4 GiB
])
def test_puts_bad_range(probe, gpa, length):
    r = probe(f"{gpa} {length} puts 0 halt")
    expect_monitor_error(r, "Invalid guest access")
    assert r.stdout == b"", r.describe()


def test_puts_large_output(probe):
    """One PUTS of 64 KiB reaches stdout whole."""
    r = probe("buf 0x10000 0x5a fill buf 0x10000 puts 0 halt")
    expect_status(r, 0)
    assert r.stdout == b"Z" * 0x10000, f"got {len(r.stdout)} bytes"


# ---------------------------------------------------------------------------
# WALLTIME, POLL

def test_walltime(probe):
    before = time.time_ns()
    r = probe("7 0 0 0 0 1 hc 0 arg print")
    after = time.time_ns()
    expect_status(r, 0)
    ns = int(r.stdout.decode().strip(), 16)
    assert before - 10**9 <= ns <= after + 10**9, f"walltime {ns} not within [{before}, {after}]"


def test_walltime_argument_out_of_range(probe):
    expect_monitor_error(probe("mem 4 sub 0x501 outl"), "Invalid guest access")


def test_poll_without_net_is_a_sleep(probe):
    t0 = time.monotonic()
    r = probe("300000000 0xff 0xff 0 0 3 hc 8 arg print 16 ret print")
    elapsed = time.monotonic() - t0
    expect_status(r, 0)
    assert r.stdout == b"0x0\n0x0\n", "ready_set and ret must be 0 on timeout:\n" + r.describe()
    assert 0.29 <= elapsed < 5, f"POLL(300 ms) took {elapsed:.3f} s"


def test_poll_zero_timeout_returns(probe):
    t0 = time.monotonic()
    r = probe("0 0 0 0 0 3 hc 16 ret halt")
    expect_status(r, 0)
    assert time.monotonic() - t0 < 5


def test_poll_argument_out_of_range(probe):
    expect_monitor_error(probe("mem 16 sub 0x503 outl"), "Invalid guest access")


def test_invalid_access_message_format(probe):
    """Spec §8: `<source>:<line>: Invalid guest access: gpa=0x…, sz=<n>`."""
    r = probe("mem 8 sub 16 puts")
    expect_monitor_error(r, "Invalid guest access: gpa=0x3fffff8, sz=16")
    line = next(l for l in r.stderr_lines if "Invalid guest access" in l)
    site = line.split("Invalid guest access")[0]
    assert re.search(r"\S+:\d+: $", site), f"no source:line before the message: {line!r}"
    r = probe("mem 255 haltc")
    expect_monitor_error(r, "Invalid guest access: gpa=0x4000000, sz=512")
