#!/usr/bin/env python3
"""make_image_fixtures.py: small arm64 `Image` files (Linux-Image protocol) and x86_64 PVH ELFs for skiff-hvt, and their verdicts.

  python3 make_image_fixtures.py           # (re)write every *.img and expected.tsv here
  python3 make_image_fixtures.py --check   # exit 1 if anything checked in is out of date

Deterministic, standard library only. The verdicts are those of
Sources/SkiffBoot/LinuxArm64Boot.swift (chosen by BootProtocols.select on aarch64) and
PVHBoot.swift (on x86_64: an ELF with XEN_ELFNOTE_PHYS32_ENTRY and no Solo5 ABI note),
with --mem=512 and no devices; the Swift test is Tests/SkiffBootTests/ImageFixtureTests.swift
and scripts/fuzz seeds its ELF/Image fuzzer with these files. Each fixture is the
baseline with one thing changed. Layout of the 64-byte header (booting.rst):
code0/code1 at 0, text_offset at 8, image_size at 16, flags at 24, magic "ARM\\x64" at 56;
Skiff's SKIFFIMG block at 64 (docs/boot-aarch64.md): magic, version, then (offset, size)
of the MFT1 note and of the platform note.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MIB = 1 << 20


def header(text_offset=0x200000, image_size=None, flags=0, magic=b"ARM\x64", size=4096):
    h = bytearray(64)
    struct.pack_into("<II", h, 0, 0x91005a4d, 0x14000000)   # `add x13, x18, #0x16` (MZ), `b +0`
    struct.pack_into("<QQQ", h, 8, text_offset, size if image_size is None else image_size, flags)
    h[56:60] = magic
    return h


def note(name, ntype, desc):
    n = name + b"\0"
    out = struct.pack("<III", len(n), len(desc), ntype) + n
    out += b"\0" * (-len(out) % 4) + desc
    return out + b"\0" * (-len(out) % 4)


def mft1(entries=1, version=1):
    d = struct.pack("<II", version, entries)
    d += bytes(68) + struct.pack("<I", 0x40000000) + bytes(32)                 # the reserved entry (104 bytes)
    for i in range(entries - 1):
        name = b"storage%d" % i
        d += name + bytes(68 - len(name)) + struct.pack("<I", 1) + bytes(32)  # BLOCK_BASIC
    return note(b"Solo5", 0x3154464D, bytes(4) + d)


def skiff_image(mft=None, mft_at=0x100, mft_size=None, version=1, size=4096, **kw):
    b = header(size=size, **kw) + bytearray(size - 64)
    m = mft1() if mft is None else mft
    b[mft_at:mft_at + len(m)] = m
    platform = note(b"Skiff", 0x54524956, struct.pack("<IIII", 1, 183, 0x200000, 0))
    b[0x800:0x800 + len(platform)] = platform
    blk = b"SKIFFIMG" + struct.pack("<II", version, 64) + struct.pack(
        "<QQQQQQ", mft_at, len(m) if mft_size is None else mft_size, 0x800, len(platform), 0x40200000, 0)
    b[64:128] = blk
    return bytes(b)


def pvh_elf(entry=0x100200, note_desc=None, vaddr=0x100000, flags=5, size=0x1000):
    """ELF64 x86_64 EXEC: one PT_LOAD (file offset 0 at `vaddr`, `flags`) and a PT_NOTE with Xen's PHYS32_ENTRY."""
    desc = struct.pack("<I", entry) if note_desc is None else note_desc
    n = note(b"Xen", 18, desc)
    b = bytearray(size)
    b[0:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
    struct.pack_into("<HHIQQQIHHHHHH", b, 16, 2, 62, 1, vaddr + 0x200, 64, 0, 0, 64, 56, 2, 64, 0, 0)
    struct.pack_into("<IIQQQQQQ", b, 64, 1, flags, 0, vaddr, vaddr, size, size, 0x1000)               # PT_LOAD
    struct.pack_into("<IIQQQQQQ", b, 120, 4, 4, 0x100, vaddr + 0x100, vaddr + 0x100, len(n), len(n), 4)  # PT_NOTE
    b[0x100:0x100 + len(n)] = n
    b[0x200:0x202] = b"\xf4\xeb"                                                                   # hlt; jmp
    return bytes(b)


def plain(size=4096, **kw):
    return bytes(header(size=size, **kw) + bytearray(size - 64))


FIXTURES = [
    # name, bytes, verdict, substring, comment
    ("ok_plain.img", plain(), "ok", "", "a kernel's header, text_offset 0x200000"),
    ("ok_plain_old.img", plain(text_offset=0, image_size=0), "ok", "", "text_offset and image_size 0: a pre-3.17 kernel at 0x80000"),
    ("ok_skiff.img", skiff_image(), "ok", "", "a Skiff virt image: SKIFFIMG block, empty manifest, platform note"),
    ("ok_skiff_3_devices.img", skiff_image(mft=mft1(entries=4)), "ok", "",
     "manifest with three block devices (this run attaches none: the device checks are ModuleSet's)"),
    ("ok_image_size_larger.img", plain(image_size=64 * MIB), "ok", "", "image_size (BSS included) larger than the file"),
    ("bad_big_endian.img", plain(flags=1), "reject", "big-endian", "flags bit 0: a big-endian kernel"),
    ("bad_image_size_small.img", plain(image_size=100), "reject", "smaller than the file", "image_size below the file size"),
    ("bad_text_offset_unaligned.img", plain(text_offset=0x200100), "reject", "does not fit", "text_offset not page-aligned"),
    ("bad_text_offset_beyond_memory.img", plain(text_offset=600 * MIB), "reject", "does not fit", "text_offset past 512 MiB"),
    ("bad_image_size_beyond_memory.img", plain(image_size=511 * MIB), "reject", "does not fit", "image_size + text_offset past 512 MiB"),
    ("bad_image_size_huge.img", plain(image_size=(1 << 64) - 4096), "reject", "does not fit", "image_size near 2^64 (no wrap)"),
    ("bad_skiff_note_outside.img", skiff_image(mft_at=0x100, mft_size=0x10000), "reject", "outside the image",
     "SKIFFIMG points past the end of the file"),
    ("bad_skiff_manifest.img", skiff_image(mft=mft1(version=2)), "reject", "manifest is invalid", "MFT1 version 2"),
    ("bad_skiff_manifest_count.img", skiff_image(mft=mft1(entries=0)), "reject", "manifest is invalid", "MFT1 with no entries"),
    ("notimage_magic.img", plain(magic=b"ARM\x65"), "reject", "", "wrong magic: not an Image (read as hvt: not an ELF)"),
    ("notimage_short.img", bytes(header())[:60], "reject", "", "60 bytes: too short for a header (read as hvt)"),
    ("ok_pvh.pvh", pvh_elf(), "ok", "", "PVH: PHYS32_ENTRY inside the R+X PT_LOAD at 1 MiB"),
    ("ok_pvh_desc8.pvh", pvh_elf(note_desc=struct.pack("<Q", 0x100200)), "ok", "", "PVH: an 8-byte note descriptor"),
    ("bad_pvh_entry_outside.pvh", pvh_elf(entry=0x300000), "reject", "outside the executable segments",
     "PVH: the entry past every segment"),
    ("bad_pvh_entry_in_data.pvh", pvh_elf(flags=6), "reject", "outside the executable segments",
     "PVH: the only PT_LOAD is R+W, not executable"),
    ("bad_pvh_note_short.pvh", pvh_elf(note_desc=b"\x00\x02"), "reject", "no 32-bit entry", "PVH: a 2-byte descriptor"),
    ("bad_pvh_beyond_memory.pvh", pvh_elf(vaddr=0x3FF00000, entry=0x3FF00200), "reject", "",
     "PVH: the PT_LOAD at 1 GiB, past 512 MiB (the hvt loader's refusal)"),
    ("bad_pvh_below_1mib.pvh", pvh_elf(vaddr=0x1000, entry=0x1200), "reject", "",
     "PVH: the PT_LOAD below 1 MiB, over the boot data (the hvt loader's refusal)"),
]


def render():
    files = {f[0]: f[1] for f in FIXTURES}
    rows = ["file\texpect\tsubstring\tarch\tcomment\n"] + [
        "\t".join([n, v, s, "x86_64" if n.endswith(".pvh") else "aarch64", c]) + "\n" for n, _, v, s, c in FIXTURES]
    files["expected.tsv"] = "".join(rows).encode()
    return files


def main(argv):
    files = render()
    if "--check" in argv:
        stale = [n for n, b in files.items() if not os.path.exists(os.path.join(HERE, n))
                 or open(os.path.join(HERE, n), "rb").read() != b]
        stale += [n for n in os.listdir(HERE) if n.endswith((".img", ".pvh")) and n not in files]
        if stale:
            print("out of date: " + ", ".join(sorted(stale)))
            return 1
        return 0
    for n in os.listdir(HERE):
        if n.endswith((".img", ".pvh")) and n not in files:
            os.remove(os.path.join(HERE, n))
    for n, b in files.items():
        with open(os.path.join(HERE, n), "wb") as f:
            f.write(b)
    print("wrote %d fixtures and expected.tsv to %s" % (len(FIXTURES), HERE))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
