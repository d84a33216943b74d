"""test_faults.py: how runs end when the guest misbehaves or the monitor is signalled (spec §6.2–6.6, §13).

probe.S runs at CPL0 with the monitor's initial state: no IDT, so every
exception is a triple fault (KVM_EXIT_SHUTDOWN). Exact rip values come from
the guest's symbol table; MMIO-style exits (write to a read-only host
mapping, access to unbacked memory) may report rip after the faulting
instruction, so those accept [symbol, symbol + 8].
"""

from __future__ import annotations

import os
import re
import select
import signal
import time

import pytest

import helpers
from helpers import expect_monitor_error, stderr_line_with

pytestmark = pytest.mark.kvm


def reported_rip(r: helpers.Result, what: str) -> int:
    line = stderr_line_with(r, what)
    m = re.search(r"rip=(0x[0-9a-fA-F]+)", line)
    assert m, f"no rip= in {line!r}"
    return int(m.group(1), 16)


@pytest.fixture(scope="module")
def syms(asm):
    return helpers.elf_symbols(asm["probe"])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_spinning_guest_ends_on_signal(skiff, asm, sig):
    p = helpers.popen([str(skiff), "run", "--mem=64", str(asm["probe"]), "1", "print", "spin"])
    try:
        # Wait until the guest has printed, i.e. it is running, then signal.
        ready, _, _ = select.select([p.stdout], [], [], 30)
        assert ready, "the guest printed nothing within 30 s"
        assert os.read(p.stdout.fileno(), 64) == b"0x1\n"
        time.sleep(0.2)
        assert p.poll() is None, "the spinning guest exited by itself"
        p.send_signal(sig)
        r = helpers.finish(p, timeout=10)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    expect_monitor_error(r, f"Exiting on signal {int(sig)}")


def test_signal_during_poll(skiff, asm):
    """A guest blocked in POLL (a host-side sleep) also ends promptly on SIGTERM."""
    p = helpers.popen([str(skiff), "run", "--mem=64", str(asm["probe"]), "1", "print",
                       "30000000000", "0", "0", "0", "0", "3", "hc", "0", "halt"])
    try:
        ready, _, _ = select.select([p.stdout], [], [], 30)
        assert ready
        time.sleep(0.2)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        r = helpers.finish(p, timeout=10)
        assert time.monotonic() - t0 < 5
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    expect_monitor_error(r, "Exiting on signal 15")


def test_triple_fault_on_ud2(probe, syms):
    r = probe("ud2")
    expect_monitor_error(r, "exit_reason=0x8")
    assert reported_rip(r, "exit_reason=0x8") == syms["probe_ud2"], r.describe()


def test_hlt_is_an_unhandled_exit(probe, syms):
    r = probe("hlt")
    expect_monitor_error(r, "exit_reason=0x5")
    assert syms["probe_hlt"] <= reported_rip(r, "exit_reason=0x5") <= syms["probe_hlt"] + 1, r.describe()


@pytest.mark.parametrize("where", ["0x100000", "0x100010"])
def test_write_to_text_is_a_translation_fault(probe, syms, where):
    """Spec §2.4 (Linux): text is read-only on the host; Skiff reports the MMIO-style exit as a translation fault."""
    r = probe(f"0 {where} wr")
    expect_monitor_error(r, "translation fault")
    rip = reported_rip(r, "translation fault")
    assert syms["probe_wr_store"] <= rip <= syms["probe_wr_store"] + 8, r.describe()


def test_write_to_rodata_is_a_translation_fault(probe, syms):
    rodata = syms["words"]
    r = probe(f"0 {rodata:#x} wr")
    expect_monitor_error(r, "translation fault")


def test_reading_text_and_last_byte_is_allowed(probe):
    r = probe("0x100000 rd drop mem 8 sub rd drop 7 halt")
    helpers.expect_status(r, 7)


@pytest.mark.parametrize("where,what", [
    ("0x10000", "boot info page: read-only in the guest page tables"),
    ("0x10ff8", "reserved low memory: read-only"),
    ("8", "zero page: not mapped"),
    ("0x2000", "page tables: not mapped"),
])
def test_write_to_protected_low_memory_triple_faults(probe, syms, where, what):
    r = probe(f"0 {where} wr")
    expect_monitor_error(r, "exit_reason=0x8")
    assert reported_rip(r, "exit_reason=0x8") == syms["probe_wr_store"], what + "\n" + r.describe()


@pytest.mark.parametrize("where", ["0x400000000", "0x100000000", "0x4000000", "0x4200000"])
def test_read_of_unmapped_memory_triple_faults(probe, syms, where):
    """Above the allocation (64 MiB here) nothing is mapped: #PF with no IDT."""
    r = probe(f"{where} rd")
    expect_monitor_error(r, "exit_reason=0x8")
    assert reported_rip(r, "exit_reason=0x8") == syms["probe_rd_load"], r.describe()


@pytest.mark.parametrize("where", ["0x100000000", "0x140000000", "0x4000000"])
def test_mmio_to_unbacked_memory(probe, syms, where):
    """The guest maps a GPA with no memory behind it (own page tables) and stores to it: an MMIO exit, exit 1."""
    r = probe(f"{where} mmio")
    expect_monitor_error(r, "exit_reason=0x6")
    assert where in stderr_line_with(r, "exit_reason=0x6"), r.describe()
    rip = reported_rip(r, "exit_reason=0x6")
    assert syms["probe_mmio_store"] <= rip <= syms["probe_mmio_store"] + 8, r.describe()



def test_sse_at_cpl0(probe, syms):
    """Host-dependent: hardware KVM runs SSE at CPL0 (CR4.OSFXSR is set); a PVM host's instruction
    emulator cannot, which must end the run as an internal-error exit naming rip (exit 1)."""
    r = probe("sse 7 halt")
    if r.returncode == 7:
        return
    expect_monitor_error(r, "internal error exit")
    assert reported_rip(r, "internal error exit") == syms["probe_sse"], r.describe()


def test_signal_during_setup_is_not_lost(skiff, asm):
    """SIGTERM at 0-20 ms after start (while the monitor sets up the VM) must still end the run."""
    for i in range(80):
        p = helpers.popen([str(skiff), "run", "--mem=512", str(asm["probe"]), "spin"])
        try:
            time.sleep(i * 0.00025)
            p.send_signal(signal.SIGTERM)
            try:
                _, err = p.communicate(timeout=3)
            except Exception:
                raise AssertionError(f"SIGTERM sent {i * 0.25:.2f} ms after start was lost: the monitor kept running")
            assert p.returncode == -signal.SIGTERM or (p.returncode == 1 and b"Exiting on signal 15" in err), \
                f"after SIGTERM at {i * 0.25:.2f} ms: status {p.returncode}, stderr {err!r}"
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
