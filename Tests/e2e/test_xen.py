"""test_xen.py: what only the Xen platform's targets have (`skiff build --platform xen`, docs/platform-xen.md).

The conformance guests run on these targets in test_conformance.py (targets.py:
pvh-qemu, xen-x86_64); here: Examples/hello with arguments (the issue's
"done when"), blocking sleeps (an idle guest costs the host next to no CPU),
devices reported as absent through the Swift API, and the image itself (the
PVH note QEMU and Xen boot from). Each test skips, loudly, when QEMU or the
Xen packages cannot be had (xen.py).
"""

from __future__ import annotations

import os
import struct

import pytest

import helpers
import targets
from helpers import expect_status, expect_success

pytestmark = [pytest.mark.swift]

XEN_ROWS = tuple(t.name for t in targets.TARGETS if t.platform == "xen")
on_xen = pytest.mark.parametrize("tv", targets.params(only=XEN_ROWS))
# Rows whose QEMU is this process's child (a nested machine's QEMU outlives each run: its CPU is not a run's).
on_xen_own_qemu = pytest.mark.parametrize("tv", targets.params(only=tuple(
    n for n in XEN_ROWS if not targets.BY_NAME[n].runner.startswith("nested"))))


@on_xen
def test_hello_example(t):
    """Examples/hello prints its arguments (the issue's acceptance line) and exits 0."""
    r = t.run(t.example("hello"), "a", "b")
    expect_status(r, 0)
    assert r.stdout == b"hello: a b\n" and r.stderr == "", r.describe()


@on_xen_own_qemu
def test_sleep_blocks(t):
    """Two 1 s sleeps (the time guest) cost QEMU well under a second of CPU more than a run that does not
    sleep: the guest blocks (Xen: a single-shot timer event and HLT = SCHEDOP_block; arm64: WFI on the virtual
    timer; bare QEMU: HLT + the APIC timer), it does not spin."""
    def cpu_of(*args) -> float:
        before = os.times()
        r = t.run(*args)
        after = os.times()
        expect_success(r)
        return (after.children_user - before.children_user) + (after.children_system - before.children_system)

    base = cpu_of(t.guest("hello"), "Hello_Solo5")
    sleeping = cpu_of(t.guest("time"))
    assert sleeping - base < 1.0, f"2 s of sleeping cost {sleeping - base:.2f} s of CPU (a run without: {base:.2f} s)"


@on_xen
def test_devices_not_available(t):
    """No devices on this platform: the Swift API says so (SkiffError.notFound), the guest goes on."""
    r = t.run(t.guest("blk"))
    expect_status(r, 1)
    assert "FAILURE: no block device 'storage'" in r.out, r.describe()


@on_xen
def test_exit_status_line_is_the_status(t):
    """The status a harness reads from `Skiff: exit status N` is the guest's (here 1, from a wrong argument)."""
    r = t.run(t.guest("hello"), "Hello")
    expect_status(r, 1)
    assert b"FAILURE: expected the command line Hello_Solo5" in r.stdout, r.describe()


@pytest.mark.parametrize("tv", targets.params(only=("pvh-qemu", "pvh-x86_64")))
def test_pvh_system_area_is_supervisor_only(t):
    """Without Xen the PVH runtime runs at CPL3 (docs/platform-xen.md, "Privilege"), and the final page tables
    keep the GDT, the IDT and the page-table pool from it: a write there is a user-mode #PF (error code 0x7),
    while a write to a user page (the bottom of the trap stack, unused until a fault) goes through."""
    image = t.guest("poke")
    sym = helpers.elf_symbols(image)
    for name in ("skiff_gdt", "skiff_idt", "__skiff_pt_start"):
        r = t.run(image, f"{sym[name]:x}")
        expect_status(r, 255)
        assert "type=#PF ec=0x7 " in r.out and f"cr2={sym[name]:#x}" in r.out, name + ":\n" + r.describe()
    r = t.run(image, f"{sym['__skiff_trap_stack_bottom']:x}")
    expect_status(r, 0)
    assert "SUCCESS" in r.out, r.describe()


def test_pvh_note_is_4_byte_aligned(builders):
    """QEMU pads the note name to the PT_NOTE's alignment: the PHYS32_ENTRY note's segment must be 4-aligned,
    its 8-byte descriptor the ELF entry (platform-notes 9.3; `skiff build` checks it too)."""
    image = builders["pvh-qemu"].build(helpers.EXAMPLES_DIR / "hello").read_bytes()
    entry, phoff = struct.unpack_from("<QQ", image, 24)
    phentsize, phnum = struct.unpack_from("<HH", image, 54)
    notes = []
    for i in range(phnum):
        p_type, _, off, _, _, filesz, _, align = struct.unpack_from("<IIQQQQQQ", image, phoff + i * phentsize)
        if p_type == 4:
            namesz, descsz, ntype = struct.unpack_from("<III", image, off)
            notes.append((image[off + 12:off + 12 + namesz], ntype, align, image[off + 16:off + 16 + descsz]))
    xen = [n for n in notes if n[0] == b"Xen\0" and n[1] == 18]
    assert len(xen) == 1, notes
    assert xen[0][2] == 4 and struct.unpack("<Q", xen[0][3])[0] == entry


def test_pvh_image_under_skiff_run_on_this_host(skiff, builders):
    """`skiff run` hands a PVH image to skiff-hvt, which boots it by PVH (docs/boot-x86_64-pvh.md), also on a PVM
    host (this one: /dev/kvm from kvm_pvm), where ring-0 code is emulated and SSE fails at ring 0: without Xen the
    runtime runs at CPL3. Arguments arrive, the exit status is the process's (the pvh-x86_64 row runs the rest)."""
    why = helpers.kvm_missing()
    if why:
        pytest.skip("NO KVM: " + why)
    image = builders["pvh-qemu"].build(helpers.EXAMPLES_DIR / "hello")
    r = helpers.run([str(skiff), "run", "--mem=64", str(image), "a", "b"])
    expect_status(r, 0)
    assert r.stdout == b"hello: a b\nSkiff: exit status 0\n" and r.stderr == "", r.describe()
