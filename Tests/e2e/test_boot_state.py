"""test_boot_state.py: the guest's first-instruction state and boot data (spec §5.3–5.4, §6.1–6.3).

probe.S records RDI, RSP, RFLAGS and the OR of the other GPRs before it
changes anything, reads CR0/CR3/CR4/EFER itself (CPL0), and checks each
value with `expect`, which prints got/want and exits 1 on a mismatch.
"""

from __future__ import annotations

import pytest

import helpers
from helpers import BOOT_INFO, ENTRY_SIZE, MANIFEST, expect_status

pytestmark = pytest.mark.kvm

MIB = 1 << 20


def name_qword(name: str) -> int:
    return int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little")


def cpu_state(mem: int) -> str:
    return (f"rdi {BOOT_INFO:#x} expect "
            f"rsp {mem - 8:#x} expect "
            f"rflags 2 expect "
            f"gprs 0 expect "
            f"cr0 0x80010021 expect "
            f"cr3 0x2000 expect "
            f"cr4 0x620 expect "
            f"efer 0x500 expect "
            f"cs 8 expect ss 0x10 expect ")


def boot_info(mem: int, entries: int, kernel_end: int) -> str:
    cmdline = MANIFEST + 8 + ENTRY_SIZE * entries
    return (f"{BOOT_INFO:#x} rd {mem:#x} expect "
            f"{BOOT_INFO + 8:#x} rd {kernel_end:#x} expect "
            f"{BOOT_INFO + 16:#x} rd nz 1 expect "                 # cpu_cycle_freq
            f"{BOOT_INFO + 16:#x} rd 1000 mod 0 expect "           # KVM kHz x 1000
            f"{BOOT_INFO + 24:#x} rd {cmdline:#x} expect "
            f"{BOOT_INFO + 32:#x} rd {MANIFEST:#x} expect "
            f"{cmdline:#x} rdb {ord('r')} expect "                 # the program itself starts with 'rdi'
            f"{MANIFEST:#x} rdd 1 expect "                         # version
            f"{MANIFEST + 4:#x} rdd {entries} expect "
            f"{MANIFEST + 8:#x} rd 0 expect "                      # e[0]: empty name,
            f"{MANIFEST + 8 + 68:#x} rdd 0x40000000 expect "       # MFT_RESERVED_FIRST
            f"{MANIFEST + 8 + 96:#x} rdb 0 expect ")               # never attached


@pytest.mark.parametrize("mem", [2, 64, 66, 512])
def test_cpu_state_and_boot_info(probe, asm, mem):
    kend = helpers.elf_kernel_end(asm["probe"])
    m = mem * MIB
    prog = (cpu_state(m) + boot_info(m, 1, kend)
            + f"{BOOT_INFO + 40:#x} rdd 0 expect "                 # host_features: no ring without net
            + f"{BOOT_INFO + 48:#x} rd 0 expect "                  # net_ring
            + "ok")
    r = probe(prog, mem=mem)
    expect_status(r, 0)
    assert b"SUCCESS" in r.stdout, r.describe()


def test_command_line_is_nul_terminated_in_place(probe):
    cmdline = MANIFEST + 8 + ENTRY_SIZE
    tail = " rdb 0 expect ok"
    length = 10 + len(tail)                       # "0x%08x" is 10 characters
    prog = f"{cmdline + length:#010x}{tail}"
    assert len(prog) == length
    expect_status(probe(prog), 0)
    tail = f" rdb {ord('k')} expect ok"
    length = 10 + len(tail)
    prog = f"{cmdline + length - 1:#010x}{tail}"  # its own last character
    assert len(prog) == length
    expect_status(probe(prog), 0)
    # The 8192-byte buffer ends with NULs after the string.
    expect_status(probe(f"{cmdline + 8191:#x} rdb 0 expect ok"), 0)


def test_boot_info_with_block_device(probe, asm, tmp_path):
    img = tmp_path / "disk.img"
    img.write_bytes(bytes(8192))
    kend = helpers.elf_kernel_end(asm["probe_blk"])
    e1 = MANIFEST + 8 + ENTRY_SIZE
    prog = (cpu_state(64 * MIB) + boot_info(64 * MIB, 2, kend)
            + f"{e1:#x} rd {name_qword('storage'):#x} expect "
            + f"{e1 + 68:#x} rdd 1 expect "
            + f"{e1 + 72:#x} rd 8192 expect "
            + f"{e1 + 80:#x} rdd 0xffff and 512 expect "
            + f"{e1 + 96:#x} rdb 1 expect "
            + "ok")
    r = probe(prog, f"--block:storage={img}", guest="probe_blk")
    expect_status(r, 0)


def test_boot_data_is_read_only_for_the_guest(probe):
    """The boot info page is mapped read-only: a write is a #PF, i.e. a triple fault here."""
    r = probe(f"1 {BOOT_INFO:#x} wr ok")
    helpers.expect_monitor_error(r, "exit_reason=0x8")
