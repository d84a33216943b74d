#!/usr/bin/env python3
"""make_seeds.py: write the hand-made seeds of Fuzz/corpus/ (deterministic; standard library only).

  Fuzz/corpus/hypercall/*.bin  records for HypercallFuzz (format in Fuzz/HypercallFuzz/main.swift)
  Fuzz/corpus/gdb/*.bin        debugger byte streams for GDBFuzz (byte 0: architecture and read size)
  Fuzz/corpus/elf/mft_*.bin    bare MFT1 descriptors (4-byte pad removed) for ELFFuzz's manifest path,
                               taken from fixtures in Tests/Fixtures/elf

Fuzz/corpus/elf/asm_hello_nmagic.elf is Tests/AsmGuests/hello.S linked with `ld.lld -n`
(no page-aligned file offsets: 1.2 KiB instead of 13 KiB), stripped, PT_LOAD p_align
patched back to 0x1000; see Fuzz/README.md.
"""
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# address modes (HypercallFuzz `address`)
IN, RAW, USABLE_END, NEAR0, NEAR4G, NEAR2_64, ALIAS4G, ALLOC_END = range(8)
# flags
P_DATA, P_LEN, GUEST_B, P_OFF, RUNLOOP, P_HANDLE = 1, 2, 4, 8, 16, 32


def rec(nr, arg_mode=IN, arg=0x400, data_mode=IN, data=0x800, flags=0, length=0, off=0, handle=0):
    flags |= (handle & 3) << 6
    return struct.pack("<BBBBQQIQ", nr, arg_mode, data_mode, flags, arg, data, length, off)


def tight(k):
    """length shape 4: usable - data + k - 4 (k in 0..7)."""
    return (4 << 28) | k


SEEDS = {
    "walltime": [rec(1)],
    "puts_in_input": [rec(2, flags=P_DATA | P_LEN, length=16)],
    "puts_tight_end": [rec(2, data_mode=USABLE_END, data=64, flags=P_DATA | P_LEN, length=tight(3)),
                       rec(2, data_mode=USABLE_END, data=64, flags=P_DATA | P_LEN, length=tight(4))],
    "poll": [rec(3), rec(3, flags=GUEST_B | RUNLOOP)],
    "block_write_read": [rec(4, flags=P_DATA | P_LEN | P_OFF | P_HANDLE, handle=1, length=512, off=512),
                         rec(5, flags=P_DATA | P_LEN | P_OFF | P_HANDLE, handle=2, length=4096, off=0)],
    "block_edges": [rec(5, flags=P_DATA | P_LEN | P_OFF | P_HANDLE, handle=1, length=(8 << 28) | 8, off=0),
                    rec(4, flags=P_DATA | P_LEN | P_OFF | P_HANDLE, handle=1, length=1, off=65535),
                    rec(5, flags=P_DATA | P_LEN | P_OFF | P_HANDLE, handle=3, length=512),
                    rec(4, data_mode=USABLE_END, data=100, flags=P_DATA | P_LEN | P_OFF | P_HANDLE,
                        handle=1, length=tight(4))],
    "net_invalid": [rec(6, flags=P_DATA | P_LEN | P_HANDLE, handle=1, length=60),
                    rec(7, flags=P_DATA | P_LEN | P_HANDLE, handle=1, length=1514)],
    # NET handles are patched to bits 6-7 + 1: 3 = /dev/null (write OK, read AGAIN), 4 = /dev/zero (read OK)
    "net_success": [rec(6, flags=P_DATA | P_LEN | P_HANDLE, handle=2, length=60),
                    rec(7, flags=P_DATA | P_LEN | P_HANDLE, handle=3, length=1514),
                    rec(7, flags=P_DATA | P_LEN | P_HANDLE, handle=2, length=64),
                    rec(6, flags=P_DATA | P_LEN | P_HANDLE | RUNLOOP, handle=3, length=4000)],
    # block ring (nr 9): flag bit 0 builds a ring at the data address, bit 1 points the argument at it.
    # data 0x..142A0B09: entries WRITE h1 4 KiB @0, WRITE h1 8 KiB @4 KiB, READ h1 4 KiB, FLUSH h2;
    # length 0x22: size 4, 4 pending; off: tail 0xFFFFFFFE (the indices wrap)
    "block_ring": [rec(9, arg=0x800, data=0x142A0B09, flags=P_DATA | P_LEN, length=0x22, off=0xFFFFFFFE00),
                   rec(9, arg=0x800, data=0x142A0B09, flags=P_DATA | P_LEN | RUNLOOP | GUEST_B, length=0x1A,
                       off=0x1200),
                   # entry 0 READs onto the ring itself (argParam byte 0 bits 6-7 = 3): a self-rewriting ring
                   rec(9, arg=0x8C0, data=0x142A090B, flags=P_DATA | P_LEN, length=0x22, off=0x300)],
    "halt": [rec(8, data=0, flags=0), rec(8, data_mode=USABLE_END, data=512, flags=P_DATA),
             rec(8, data_mode=USABLE_END, data=513, flags=P_DATA)],
    "hostile_args": [rec(nr, arg_mode=m, arg=8, flags=RUNLOOP if nr % 2 else 0)
                     for nr, m in zip(range(1, 9), [RAW, USABLE_END, NEAR0, NEAR4G, NEAR2_64, ALIAS4G, ALLOC_END, RAW])],
    "guest_b_reserved_top": [rec(2, data_mode=ALLOC_END, data=0x1000, flags=GUEST_B | P_DATA | P_LEN, length=16),
                             rec(5, data_mode=ALLOC_END, data=0x1000, flags=GUEST_B | P_DATA | P_LEN | P_HANDLE,
                                 handle=1, length=512),
                             rec(1, arg_mode=USABLE_END, arg=8, flags=GUEST_B)],
    # one record per exit of HypercallFuzz `syntheticExit` (port, MMIO, interrupted, ignored, 7 fault kinds);
    # flag bit 1 (odd i) gives the MMIO access a length and the fault a program counter
    "synthetic_exits": [rec(0xF0 + i, arg=0x1234 * i, data=i, flags=2 if i % 2 else 0) for i in range(11)],
}


def mft_descriptor(elf: bytes) -> bytes:
    phoff, = struct.unpack_from("<Q", elf, 32)
    phnum, = struct.unpack_from("<H", elf, 56)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", elf, phoff + 56 * i)
        if p_type != 4 or p_filesz < 20:
            continue
        namesz, descsz, ntype = struct.unpack_from("<III", elf, p_offset)
        if ntype == 0x3154464D and elf[p_offset + 12:p_offset + 18] == b"Solo5\0":
            return elf[p_offset + 24:p_offset + 20 + descsz]
    raise ValueError("no MFT1 note")


def gdb_packet(payload: bytes) -> bytes:
    return b"$" + payload + b"#" + b"%02x" % (sum(payload) & 0xFF)


#: name -> (header byte, packets): a gdb session's opening, memory and registers, run control, odd framing.
GDB_SEEDS = {
    "attach_x86": (0x00, [b"qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+", b"vMustReplyEmpty",
                          b"QStartNoAckMode", b"Hg0", b"qXfer:features:read:target.xml:0,ffb", b"qTStatus",
                          b"?", b"qfThreadInfo", b"qsThreadInfo", b"qAttached:1", b"Hc-1", b"qC", b"g"]),
    "attach_arm64": (0x11, [b"qSupported", b"qXfer:features:read:target.xml:0,ffb", b"?", b"g", b"p20", b"qOffsets"]),
    "memory": (0x08, [b"m100000,40", b"mfffc0,80", b"m4000,10", b"m5000,1", b"M2000,4:01020304", b"M4000,1:cc",
                      b"X3000,3:a}\x03b", b"mffffffffffffffff,10"]),
    "registers": (0x00, [b"P10=0010100000000000", b"P0=ffffffffffffffff", b"G" + b"00" * 536, b"p39"]),
    "run": (0x02, [b"Z0,100010,1", b"vCont?", b"vCont;s:1;c", b"\x03", b"s", b"c100000", b"z0,100010,1",
                   b"Z2,2000,8", b"D;1", b"k"]),
}


def main():
    gdb_out = HERE / "corpus" / "gdb"
    gdb_out.mkdir(parents=True, exist_ok=True)
    for name, (head, packets) in GDB_SEEDS.items():
        stream = b"".join(p if p == b"\x03" else b"+" + gdb_packet(p) for p in packets)
        (gdb_out / f"{name}.bin").write_bytes(bytes([head]) + stream + b"$g#00-$m0,4*!#00")
    out = HERE / "corpus" / "hypercall"
    out.mkdir(parents=True, exist_ok=True)
    for name, records in SEEDS.items():
        (out / f"{name}.bin").write_bytes(b"".join(records))
    elf_out = HERE / "corpus" / "elf"
    elf_out.mkdir(parents=True, exist_ok=True)
    for fx in ["ok_baseline", "ok_two_devices", "ok_63_block_devices", "ok_mft_unknown_type"]:
        d = mft_descriptor((ROOT / "Tests" / "Fixtures" / "elf" / f"{fx}.elf").read_bytes())
        (elf_out / f"mft_{fx.removeprefix('ok_')}.bin").write_bytes(d)


if __name__ == "__main__":
    main()
