#!/usr/bin/env python3
# make_fixtures.py: generate the malformed-image corpus for the Skiff
# ELF / notes / manifest loader unit tests.
#
# Spec: /work/shared/spec/hvt-abi.md sections 2 (ELF checks, loading) and 3
# (ABI1 / MFT1 notes, manifest validation). Every fixture is derived from one
# valid baseline image by changing one thing (a few "order" fixtures change
# two things on purpose, to pin which check fires first).
#
# Usage:
#   python3 make_fixtures.py           # (re)write fixtures + expected.tsv here
#   python3 make_fixtures.py --check   # verify checked-in files are up to date
#
# Stdlib only, deterministic (no time, no randomness: the "garbage" bytes come
# from a SHA-256 chain), byte-identical output on every run.
#
# Verdicts in expected.tsv assume the loader runs the whole start-up pipeline
# of spec 2.1 (ABI1 note -> MFT1 note -> mft_validate -> elf_load) with
# guest memory = 512 MiB (0x20000000), the tender default.

import hashlib
import os
import struct
import sys
from dataclasses import dataclass, field, replace
from typing import Callable, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------- constants
MEM_SIZE = 0x20000000          # loader is tested with --mem=512 MiB
MIN_BASE = 0x100000            # HVT_GUEST_MIN_BASE
PAGE = 0x1000

ELFCLASS64, ELFDATA2LSB, EV_CURRENT = 2, 1, 1
ET_REL, ET_EXEC, ET_DYN = 1, 2, 3
EM_386, EM_X86_64, EM_AARCH64 = 3, 62, 183
PT_LOAD, PT_NOTE, PT_INTERP, PT_GNU_STACK = 1, 4, 3, 0x6474E551
PF_X, PF_W, PF_R = 1, 2, 4

EHDR_SIZE, PHDR_SIZE = 64, 56

NT_ABI1 = 0x31494241           # "ABI1"
NT_MFT1 = 0x3154464D           # "MFT1"
HVT_ABI_TARGET, HVT_ABI_VERSION = 1, 2
MFT_VERSION = 1
MFT_DEV_BLOCK_BASIC, MFT_DEV_NET_BASIC = 1, 2
MFT_RESERVED_FIRST = 0x40000000
MFT_ENTRY_SIZE = 104
MFT_NAME_SIZE = 68

# x86_64: hlt; jmp .-1 ; padded with int3. Never executed by the tests.
CODE = bytes([0xF4, 0xEB, 0xFD]) + b"\xCC" * 13


def align_up(x: int, a: int) -> int:
    return (x + a - 1) & ~(a - 1)


# ---------------------------------------------------------------- notes
def note(name: bytes, ntype: int, desc: bytes, namesz: Optional[int] = None,
         descsz: Optional[int] = None) -> bytes:
    """One ELF note: 12-byte header, name padded to 4, then desc verbatim.

    Solo5 counts any descriptor alignment padding inside n_descsz, so callers
    pass the padding as part of `desc`. `namesz`/`descsz` override the header
    fields without changing the bytes that follow (for malformed notes)."""
    if namesz is None:
        namesz = len(name)
    if descsz is None:
        descsz = len(desc)
    name_padded = name + b"\0" * (align_up(len(name), 4) - len(name))
    return struct.pack("<III", namesz, descsz, ntype) + name_padded + desc


def solo5_note(ntype: int, desc: bytes, **kw) -> bytes:
    return note(b"Solo5\0", ntype, desc, **kw)


def abi1_desc(target=HVT_ABI_TARGET, version=HVT_ABI_VERSION) -> bytes:
    return struct.pack("<IIII", target, version, 0, 0)


def abi1_note(target=HVT_ABI_TARGET, version=HVT_ABI_VERSION, **kw) -> bytes:
    return solo5_note(NT_ABI1, abi1_desc(target, version), **kw)


def mft_entry(name: bytes = b"", etype: int = MFT_DEV_BLOCK_BASIC,
              attached: int = 0, name67: Optional[int] = None) -> bytes:
    assert len(name) <= 67
    n = bytearray(name + b"\0" * (MFT_NAME_SIZE - len(name)))
    if name67 is not None:
        n[67] = name67
    e = bytes(n) + struct.pack("<I", etype) + b"\0" * 16 + b"\0" * 8 \
        + bytes([attached]) + b"\0" * 7
    assert len(e) == MFT_ENTRY_SIZE
    return e


RESERVED = mft_entry(b"", MFT_RESERVED_FIRST)


def mft_desc(devices: List[bytes], version: int = MFT_VERSION,
             entries: Optional[int] = None, first: bytes = RESERVED) -> bytes:
    """Descriptor of an MFT1 note, *including* the 4 leading pad bytes."""
    body = [first] + list(devices)
    if entries is None:
        entries = len(body)
    return b"\0" * 4 + struct.pack("<II", version, entries) + b"".join(body)


def mft1_note(devices: List[bytes] = (), **kw) -> bytes:
    desc_kw = {k: kw.pop(k) for k in ("version", "entries", "first") if k in kw}
    return solo5_note(NT_MFT1, mft_desc(list(devices), **desc_kw), **kw)


OPENBSD_NOTE = note(b"OpenBSD\0", 1, struct.pack("<I", 0))  # 24 bytes


# ---------------------------------------------------------------- image model
@dataclass
class Phdr:
    role: str
    p_type: int
    p_flags: int
    p_offset: int
    p_vaddr: int
    p_paddr: int
    p_filesz: int
    p_memsz: int
    p_align: int

    def pack(self) -> bytes:
        return struct.pack("<IIQQQQQQ", self.p_type, self.p_flags,
                           self.p_offset, self.p_vaddr, self.p_paddr,
                           self.p_filesz, self.p_memsz, self.p_align)


@dataclass
class Ehdr:
    ident: bytearray
    e_type: int = ET_EXEC
    e_machine: int = EM_X86_64
    e_version: int = EV_CURRENT
    e_entry: int = 0
    e_phoff: int = EHDR_SIZE
    e_shoff: int = 0
    e_flags: int = 0
    e_ehsize: int = EHDR_SIZE
    e_phentsize: int = PHDR_SIZE
    e_phnum: int = 0
    e_shentsize: int = 0
    e_shnum: int = 0
    e_shstrndx: int = 0

    def pack(self) -> bytes:
        return bytes(self.ident) + struct.pack(
            "<HHIQQQIHHHHHH", self.e_type, self.e_machine, self.e_version,
            self.e_entry, self.e_phoff, self.e_shoff, self.e_flags,
            self.e_ehsize, self.e_phentsize, self.e_phnum, self.e_shentsize,
            self.e_shnum, self.e_shstrndx)


def default_ident() -> bytearray:
    ident = bytearray(16)
    ident[0:4] = b"\x7fELF"
    ident[4] = ELFCLASS64
    ident[5] = ELFDATA2LSB
    ident[6] = EV_CURRENT
    return ident


@dataclass
class Spec:
    """Abstract description of a (possibly slightly wrong) image."""
    machine: int = EM_X86_64
    # Each group becomes one PT_NOTE; the notes of a group are contiguous.
    note_groups: List[List[bytes]] = field(
        default_factory=lambda: [[abi1_note()], [mft1_note()]])
    rodata: bytes = b"Hello, Solo5!\0"
    data: Optional[bytes] = b"RUCCESS\0" * 2
    bss_memsz: Optional[int] = 0x2000
    interp: bool = False           # PT_INTERP "/nonexistent/solo5/" first
    gnu_stack: bool = False        # PT_GNU_STACK (ignored by the loader)
    single_load: bool = False      # one R+X PT_LOAD holding everything


@dataclass
class Image:
    ehdr: Ehdr
    phdrs: List[Phdr]
    body: bytearray                # whole file; headers rewritten at emit

    def ph(self, role: str) -> Phdr:
        for p in self.phdrs:
            if p.role == role:
                return p
        raise KeyError(role)

    def emit(self) -> bytes:
        out = bytearray(self.body)
        out[0:EHDR_SIZE] = self.ehdr.pack()
        table = b"".join(p.pack() for p in self.phdrs)
        out[EHDR_SIZE:EHDR_SIZE + len(table)] = table
        return bytes(out)


def layout(spec: Spec) -> Image:
    """Lay out `spec` as a well-formed ET_EXEC.

    File:   [ehdr][phdrs][code] | [interp][note groups][rodata] | [data]
    Memory: text   PT_LOAD R+X  at 0x100000 (file offset 0, covers headers)
            rodata PT_LOAD R    next page (holds interp + notes, like Solo5)
            data   PT_LOAD RW   next page
            bss    PT_LOAD RW   next page, p_filesz 0
    p_offset and p_vaddr are congruent modulo p_align (0x1000)."""
    roles = []
    if spec.interp:
        roles.append("interp")
    roles.append("text")
    if not spec.single_load:
        roles.append("rodata")
        if spec.data is not None:
            roles.append("data")
    if spec.bss_memsz is not None:
        roles.append("bss")
    roles += ["note%d" % i for i in range(len(spec.note_groups))]
    if spec.gnu_stack:
        roles.append("stack")

    body = bytearray(EHDR_SIZE + PHDR_SIZE * len(roles))

    def put(blob: bytes, align: int) -> int:
        body.extend(b"\0" * (align_up(len(body), align) - len(body)))
        off = len(body)
        body.extend(blob)
        return off

    code_off = put(CODE, 16)
    text_end = len(body)

    # read-only content: interp, note groups (8-aligned), rodata string
    ro_start = align_up(len(body), 16) if not spec.single_load else None
    interp_off = put(b"/nonexistent/solo5/\0", 16) if spec.interp else None
    group_offs = []
    for g in spec.note_groups:
        group_offs.append((put(b"".join(g), 8), sum(len(n) for n in g)))
    rodata_off = put(spec.rodata, 8)
    ro_end = len(body)

    phdrs = {}

    if spec.single_load:
        text_filesz = ro_end
        ro_base_vaddr = MIN_BASE          # everything is inside text
        ro_start = 0
        rx_end_vaddr = MIN_BASE + text_filesz
    else:
        text_filesz = text_end
        rx_end_vaddr = MIN_BASE + text_filesz
    phdrs["text"] = Phdr("text", PT_LOAD, PF_R | PF_X, 0, MIN_BASE, MIN_BASE,
                         text_filesz, text_filesz, PAGE)
    next_page = align_up(rx_end_vaddr, PAGE)

    if not spec.single_load:
        ro_vaddr = next_page + (ro_start & (PAGE - 1))
        phdrs["rodata"] = Phdr("rodata", PT_LOAD, PF_R, ro_start, ro_vaddr,
                               ro_vaddr, ro_end - ro_start,
                               ro_end - ro_start, PAGE)
        ro_base_vaddr = ro_vaddr
        next_page = align_up(ro_vaddr + ro_end - ro_start, PAGE)

    def ro_va(off: int) -> int:
        return ro_base_vaddr + (off - ro_start)

    if "data" in roles:
        data_off = put(spec.data, 16)
        d_vaddr = next_page + (data_off & (PAGE - 1))
        phdrs["data"] = Phdr("data", PT_LOAD, PF_R | PF_W, data_off, d_vaddr,
                             d_vaddr, len(spec.data), len(spec.data), PAGE)
        next_page = align_up(d_vaddr + len(spec.data), PAGE)

    if spec.bss_memsz is not None:
        phdrs["bss"] = Phdr("bss", PT_LOAD, PF_R | PF_W, len(body), next_page,
                            next_page, 0, spec.bss_memsz, PAGE)

    if spec.interp:
        n = len(b"/nonexistent/solo5/\0")
        phdrs["interp"] = Phdr("interp", PT_INTERP, PF_R, interp_off,
                               ro_va(interp_off), ro_va(interp_off), n, n, 1)
    for i, (off, size) in enumerate(group_offs):
        phdrs["note%d" % i] = Phdr("note%d" % i, PT_NOTE, PF_R, off,
                                   ro_va(off), ro_va(off), size, size, 4)
    if spec.gnu_stack:
        phdrs["stack"] = Phdr("stack", PT_GNU_STACK, PF_R | PF_W, 0, 0, 0,
                              0, 0, 16)

    ehdr = Ehdr(ident=default_ident(), e_machine=spec.machine,
                e_entry=MIN_BASE + code_off, e_phnum=len(roles))
    img = Image(ehdr, [phdrs[r] for r in roles], body)
    assert len(img.emit()) == len(body)
    return img


# ---------------------------------------------------------------- fixtures
@dataclass
class Fixture:
    name: str
    expect: str                    # "ok" | "reject"
    substring: str                 # "" = any message (see README)
    comment: str
    spec: Spec = field(default_factory=Spec)
    mutate: Optional[Callable[[Image], None]] = None
    raw: Optional[Callable[[bytes], bytes]] = None
    arch: str = "x86_64"           # "any" | "x86_64" | "aarch64"
    extra_rows: List[tuple] = field(default_factory=list)  # (expect, sub, arch, comment)

    def build(self) -> bytes:
        img = layout(self.spec)
        if self.mutate:
            self.mutate(img)
        out = img.emit()
        if self.raw:
            out = self.raw(out)
        return out


def S(**kw) -> Spec:
    return replace(Spec(), **kw)


def setf(role: str, **fields):
    def m(img: Image):
        p = img.ph(role)
        for k, v in fields.items():
            setattr(p, k, v)
    return m


def seteh(**fields):
    def m(img: Image):
        for k, v in fields.items():
            setattr(img.ehdr, k, v)
    return m


def chain(*fs):
    def m(img: Image):
        for f in fs:
            f(img)
    return m


def garbage(n: int, seed: bytes) -> bytes:
    out, h = b"", seed
    while len(out) < n:
        h = hashlib.sha256(h).digest()
        out += h
    out = out[:n]
    return out if out[0] != 0x7F else b"\0" + out[1:]


def blk(name: bytes) -> bytes:
    return mft_entry(name, MFT_DEV_BLOCK_BASIC)


def net(name: bytes) -> bytes:
    return mft_entry(name, MFT_DEV_NET_BASIC)


def notes(abi=None, mft=None) -> List[List[bytes]]:
    return [[abi1_note() if abi is None else abi],
            [mft1_note() if mft is None else mft]]


def swap_ro_data(img: Image):
    i, j = img.phdrs.index(img.ph("rodata")), img.phdrs.index(img.ph("data"))
    img.phdrs[i], img.phdrs[j] = img.phdrs[j], img.phdrs[i]


def data_to(vaddr: int, filesz: Optional[int] = None,
            memsz: Optional[int] = None):
    """Move the data PT_LOAD (keeping its file bytes) to another vaddr."""
    def m(img: Image):
        d = img.ph("data")
        d.p_vaddr = d.p_paddr = vaddr
        if filesz is not None:
            d.p_filesz = filesz
        d.p_memsz = d.p_filesz if memsz is None else memsz
    return m


def data_at_mem_top(img: Image):
    """Data PT_LOAD in the last page, congruent, memsz up to mem_size."""
    d = img.ph("data")
    d.p_vaddr = d.p_paddr = MEM_SIZE - PAGE + (d.p_offset & (PAGE - 1))
    d.p_memsz = MEM_SIZE - d.p_vaddr


MAX_DEVICES = [blk(b"storage%d" % i) for i in range(63)]

INV = "invalid or unsupported executable"
NOTE_SIZE = "note does not fall within valid size"
NO_ABI = "No Solo5 ABI information found in executable"
NOT_HVT = "Executable is not for the solo5-hvt target"
BAD_VER = "Executable requests unsupported ABI version"
NO_MFT = "No Solo5 manifest found in executable"
MFT_INV = "Solo5 manifest is invalid"
ENTRY = "e_entry does not fall within the memory allocation range"
VADDR_MIN = "p_vaddr outside of valid memory range"
ORDER = "p_vaddr is not in ascending order"
ALIGN = "align_down"
START = "p_vaddr_start is outside of memory range"
FILESEG = "program file segment falls outside of valid range"
MEMSEG = "program memory segment falls outside of valid range"
SHORT = "host file segment mismatched"
WX = "requests WRITE and EXEC permissions"
UNALIGNED_START = "p_vaddr_start not aligned with architectural page size"
UNALIGNED_END = "p_vaddr_end not aligned with architectural page size"


def fixtures() -> List[Fixture]:
    F = Fixture
    fx = [
        # ---------------------------------------------------- valid images
        F("ok_baseline.elf", "ok", "", "baseline: text R+X @0x100000, rodata R (holds both notes), data RW, bss RW filesz 0, PT_NOTE ABI1 (hvt, v2), PT_NOTE MFT1 (reserved entry only)"),
        F("ok_minimal.elf", "ok", "", "single R+X PT_LOAD holding headers, code and both notes; no data, no bss",
          spec=S(single_load=True, bss_memsz=None)),
        F("ok_two_devices.elf", "ok", "", "manifest: reserved + BLOCK_BASIC 'storage' + NET_BASIC 'service0' (attach fails later unless both are given)",
          spec=S(note_groups=notes(mft=mft1_note([blk(b"storage"), net(b"service0")])))),
        F("ok_63_block_devices.elf", "ok", "", "manifest: 64 entries (reserved + storage0..storage62), n_descsz 6668 = the maximum",
          spec=S(note_groups=notes(mft=mft1_note(MAX_DEVICES)))),
        F("ok_pure_bss.elf", "ok", "", "writable memory is only a filesz-0 PT_LOAD of 1 MiB (no data segment)",
          spec=S(data=None, bss_memsz=0x100000)),
        F("ok_realistic_layout.elf", "ok", "", "Solo5-like: PT_INTERP /nonexistent/solo5/ first, OpenBSD note in the first PT_NOTE, PT_GNU_STACK; all ignored",
          spec=S(interp=True, gnu_stack=True,
                 note_groups=[[OPENBSD_NOTE], [abi1_note()], [mft1_note()]])),
        F("ok_osabi_set.elf", "ok", "", "EI_OSABI=9 (FreeBSD), EI_ABIVERSION=1: not checked (2.2)",
          mutate=lambda i: (i.ehdr.ident.__setitem__(7, 9), i.ehdr.ident.__setitem__(8, 1))),
        F("ok_paddr_garbage.elf", "ok", "", "p_paddr of every PT_LOAD = 0xdeadbeefdeadbeef: p_paddr is ignored (2.3)",
          mutate=lambda i: [setattr(p, "p_paddr", 0xDEADBEEFDEADBEEF) for p in i.phdrs if p.p_type == PT_LOAD]),
        F("ok_entry_last_byte.elf", "ok", "", "e_entry = mem_size-1, outside every segment: only the range is checked (2.3)",
          mutate=seteh(e_entry=MEM_SIZE - 1)),
        F("ok_segment_ends_at_mem_top.elf", "ok", "", "no bss; data PT_LOAD moved to the last page, aligned end = mem_size 0x20000000 exactly (check 9 is <=)",
          spec=S(bss_memsz=None), mutate=data_at_mem_top),
        F("ok_abi1_descsz_32.elf", "ok", "", "ABI1 n_descsz 32 = the maximum; 16 extra zero bytes after abi1_info",
          spec=S(note_groups=notes(abi=solo5_note(NT_ABI1, abi1_desc() + b"\0" * 16)))),
        F("ok_abi1_name_pad_garbage.elf", "ok", "", "bytes 6..7 of the 8-byte name field are 'XY': only the 6 name bytes are compared",
          spec=S(note_groups=notes(abi=abi1_note().replace(b"Solo5\0\0\0", b"Solo5\0XY")))),
        F("ok_note_filesz_16_skipped.elf", "ok", "", "an extra first PT_NOTE with p_filesz 16 (a well-formed 'XYZ' note, 12..19 bytes) is skipped, not rejected",
          spec=S(note_groups=[[note(b"XYZ\0", 1, b"")], [abi1_note()], [mft1_note()]])),
        F("ok_abi1_duplicate_first_wins.elf", "ok", "", "valid ABI1 PT_NOTE, then a second ABI1 with target spt: first match wins",
          spec=S(note_groups=[[abi1_note()], [abi1_note(target=2)], [mft1_note()]])),
        F("ok_mft_name_67_chars.elf", "ok", "", "device name of 67 chars, name[67]=0",
          spec=S(note_groups=notes(mft=mft1_note([blk(b"n" * 67)])))),
        F("ok_mft_duplicate_names.elf", "ok", "", "two BLOCK_BASIC 'storage': passes mft_validate; fails only at attach (4.5)",
          spec=S(note_groups=notes(mft=mft1_note([blk(b"storage"), blk(b"storage")])))),
        F("ok_mft_unknown_type.elf", "ok", "", "device type 7 (not BLOCK/NET): passes mft_validate; fails only at attach ('<undefined type>', 4.5)",
          spec=S(note_groups=notes(mft=mft1_note([mft_entry(b"weird", 7)])))),
        F("ok_mft_reserved_type_in_entry1.elf", "ok", "", "entry 1 also has type MFT_RESERVED_FIRST: types of entries >= 1 are not validated and >= 0x40000000 needs no attach",
          spec=S(note_groups=notes(mft=mft1_note([mft_entry(b"", MFT_RESERVED_FIRST)])))),
        F("ok_bss_beyond_memory.elf", "ok", "", "QUIRK 2.3/15.2: filesz-0 PT_LOAD at 0xF0000000 is skipped entirely (no range check)",
          mutate=setf("bss", p_vaddr=0xF0000000, p_paddr=0xF0000000)),
        F("ok_bss_below_min_wx.elf", "ok", "", "QUIRK 2.3/15.2: filesz-0 PT_LOAD at 0x1000, flags RWX, out of order: skipped entirely",
          mutate=setf("bss", p_vaddr=0x1000, p_paddr=0x1000, p_flags=PF_R | PF_W | PF_X)),

        # ---------------------------------------------------- ELF header
        F("hdr_empty.elf", "reject", INV, "0-byte file (short header read)", arch="any", raw=lambda b: b""),
        F("hdr_truncated_30.elf", "reject", INV, "first 30 bytes of ok_baseline (short header read)", arch="any", raw=lambda b: b[:30]),
        F("hdr_only_64.elf", "reject", INV, "valid 64-byte header, phdr table missing (short phdr read)", arch="any", raw=lambda b: b[:64]),
        F("hdr_not_elf.elf", "reject", INV, "256 pseudo-random bytes (SHA-256 chain), no ELF magic", arch="any",
          raw=lambda b: garbage(256, b"skiff-not-elf")),
        F("hdr_bad_magic.elf", "reject", INV, "baseline with e_ident[3] = 'G'", arch="any",
          mutate=lambda i: i.ehdr.ident.__setitem__(3, ord("G"))),
        F("hdr_class32.elf", "reject", INV, "EI_CLASS = ELFCLASS32 (layout stays ELF64)", arch="any",
          mutate=lambda i: i.ehdr.ident.__setitem__(4, 1)),
        F("hdr_big_endian.elf", "reject", INV, "EI_DATA = ELFDATA2MSB (fields stay little-endian)", arch="any",
          mutate=lambda i: i.ehdr.ident.__setitem__(5, 2)),
        F("hdr_e_version_0.elf", "reject", INV, "e_version = EV_NONE (0)", arch="any", mutate=seteh(e_version=0)),
        F("hdr_e_ehsize_52.elf", "reject", INV, "e_ehsize = 52 (the ELF32 size)", arch="any", mutate=seteh(e_ehsize=52)),
        F("hdr_e_phentsize_64.elf", "reject", INV, "e_phentsize = 64", arch="any", mutate=seteh(e_phentsize=64)),
        F("hdr_e_phnum_0.elf", "reject", INV, "e_phnum = 0", arch="any", mutate=seteh(e_phnum=0)),
        F("hdr_e_phnum_ffff.elf", "reject", INV, "e_phnum = 0xffff: 3.6 MB phdr table, mostly past EOF (short read)", arch="any",
          mutate=seteh(e_phnum=0xFFFF)),
        F("hdr_et_dyn.elf", "reject", INV, "e_type = ET_DYN (PIE refused)", arch="any", mutate=seteh(e_type=ET_DYN)),
        F("hdr_et_rel.elf", "reject", INV, "e_type = ET_REL", arch="any", mutate=seteh(e_type=ET_REL)),
        F("hdr_em_386.elf", "reject", INV, "e_machine = EM_386 (3)", arch="any", mutate=seteh(e_machine=EM_386)),
        F("hdr_machine_aarch64.elf", "reject", INV, "e_machine = EM_AARCH64: wrong machine for an x86_64 loader",
          spec=S(machine=EM_AARCH64),
          extra_rows=[("ok", "", "aarch64", "same file: valid for an aarch64 loader (code bytes are never run)")]),
        F("hdr_phoff_past_eof.elf", "reject", INV, "e_phoff = file size - 100: phdr table runs past EOF (short read)", arch="any",
          raw=lambda b: b[:32] + struct.pack("<Q", len(b) - 100) + b[40:]),
        F("hdr_phoff_huge.elf", "reject", INV, "e_phoff = 0xfffffffffffffff0 (offset + size overflows u64; upstream: pread error)", arch="any",
          mutate=seteh(e_phoff=0xFFFFFFFFFFFFFFF0)),

        # ---------------------------------------------------- ABI1 note
        F("abi_missing.elf", "reject", NO_ABI, "no ABI1 PT_NOTE (MFT1 present)",
          spec=S(note_groups=[[mft1_note()]])),
        F("abi_target_spt.elf", "reject", NOT_HVT, "ABI1 abi_target = 2 (SPT)",
          spec=S(note_groups=notes(abi=abi1_note(target=2)))),
        F("abi_version_1.elf", "reject", BAD_VER + " 1", "ABI1 abi_version = 1",
          spec=S(note_groups=notes(abi=abi1_note(version=1)))),
        F("abi_version_3.elf", "reject", BAD_VER + " 3", "ABI1 abi_version = 3",
          spec=S(note_groups=notes(abi=abi1_note(version=3)))),
        F("abi_descsz_0.elf", "reject", NOTE_SIZE, "ABI1 n_descsz = 0 (< 1); PT_NOTE still 36 bytes",
          spec=S(note_groups=notes(abi=abi1_note(descsz=0)))),
        F("abi_descsz_33.elf", "reject", NOTE_SIZE, "ABI1 n_descsz = 33 (> 32); PT_NOTE p_filesz 53 covers it, so only the max check fails",
          spec=S(note_groups=notes(abi=solo5_note(NT_ABI1, abi1_desc() + b"\0" * 17)))),
        F("abi_descsz_4.elf", "reject", "", "ABI1 n_descsz = 4: holds abi_target only, abi_version missing (following bytes are 0). Spec silent; upstream over-reads its heap buffer. Any rejection",
          spec=S(note_groups=[[abi1_note(descsz=4)[:24] + b"\0" * 12], [mft1_note()]])),
        F("abi_wrong_name.elf", "reject", NO_ABI, "ABI1 note named 'Solo6': skipped",
          spec=S(note_groups=notes(abi=note(b"Solo6\0", NT_ABI1, abi1_desc())))),
        F("abi_namesz_5.elf", "reject", NO_ABI, "ABI1 n_namesz = 5 (NUL not counted): skipped",
          spec=S(note_groups=notes(abi=abi1_note(namesz=5)))),
        F("abi_in_second_note_of_segment.elf", "reject", NO_ABI, "one PT_NOTE holding [OpenBSD note, ABI1]: only the first note of a PT_NOTE is examined",
          spec=S(note_groups=[[OPENBSD_NOTE, abi1_note()], [mft1_note()]])),
        F("abi_duplicate_first_bad.elf", "reject", NOT_HVT, "ABI1 (spt) then a valid ABI1 in a later PT_NOTE: first match wins",
          spec=S(note_groups=[[abi1_note(target=2)], [abi1_note()], [mft1_note()]])),

        # ---------------------------------------------------- generic PT_NOTE
        F("note_filesz_8.elf", "reject", NOTE_SIZE, "ABI1 PT_NOTE p_filesz = 8 (< 12): executable rejected",
          mutate=setf("note0", p_filesz=8, p_memsz=8)),
        F("note_filesz_16.elf", "reject", NO_ABI, "ABI1 PT_NOTE p_filesz = 16 (12..19): skipped, so ABI1 is not found",
          mutate=setf("note0", p_filesz=16, p_memsz=16)),
        F("note_filesz_lt_desc.elf", "reject", NOTE_SIZE, "ABI1 PT_NOTE p_filesz = 35 < 20 + n_descsz (36)",
          mutate=setf("note0", p_filesz=35, p_memsz=35)),
        F("note_offset_past_eof.elf", "reject", "", "ABI1 PT_NOTE p_offset = 0x100000, past EOF: the 20-byte note header read is short. Spec silent (upstream: 'bytes read mismatches note size'). Any rejection",
          mutate=setf("note0", p_offset=0x100000)),
        F("note_desc_past_eof.elf", "reject", "", "file truncated 8 bytes into the MFT1 descriptor: p_filesz/n_descsz consistent but the descriptor read is short. Spec silent. Any rejection",
          spec=S(rodata=b"", data=None, bss_memsz=None),
          raw=lambda b: b[:len(b) - (len(mft1_note()) - 24 - 8)]),

        # ---------------------------------------------------- MFT1 note / manifest
        F("mft_missing.elf", "reject", NO_MFT, "no MFT1 PT_NOTE (ABI1 valid)",
          spec=S(note_groups=[[abi1_note()]])),
        F("mft_in_second_note_of_segment.elf", "reject", NO_MFT, "one PT_NOTE holding [ABI1, MFT1]: ABI1 found, MFT1 never examined",
          spec=S(note_groups=[[abi1_note(), mft1_note()]])),
        F("mft_descsz_1.elf", "reject", NOTE_SIZE, "MFT1 n_descsz = 1, smaller than its 4-byte pad: usable size underflows (upstream tests/test_buggyelf)",
          spec=S(note_groups=notes(mft=mft1_note(descsz=1)))),
        F("mft_descsz_4.elf", "reject", NOTE_SIZE, "MFT1 n_descsz = 4 = the pad: usable size 0",
          spec=S(note_groups=notes(mft=mft1_note(descsz=4)))),
        F("mft_descsz_8.elf", "reject", MFT_INV, "MFT1 n_descsz = 8: usable size 4 < 8 (validation rule 1)",
          spec=S(note_groups=notes(mft=mft1_note(descsz=8)))),
        F("mft_descsz_6669.elf", "reject", NOTE_SIZE, "MFT1 n_descsz = 6669 (> 6668); PT_NOTE p_filesz 6689 covers it, so only the max check fails",
          spec=S(note_groups=notes(mft=solo5_note(NT_MFT1, mft_desc(MAX_DEVICES) + b"\0")))),
        F("mft_version_2.elf", "reject", MFT_INV, "struct mft version = 2",
          spec=S(note_groups=notes(mft=mft1_note(version=2)))),
        F("mft_entries_0.elf", "reject", MFT_INV, "entries = 0 (descriptor still carries the reserved entry)",
          spec=S(note_groups=notes(mft=mft1_note(entries=0)))),
        F("mft_entries_65.elf", "reject", MFT_INV, "entries = 65 (> 64) with one entry present",
          spec=S(note_groups=notes(mft=mft1_note(entries=65)))),
        F("mft_entries_u32max.elf", "reject", MFT_INV, "entries = 0xffffffff: 8 + 104*entries overflows 32 bits",
          spec=S(note_groups=notes(mft=mft1_note(entries=0xFFFFFFFF)))),
        F("mft_size_mismatch.elf", "reject", MFT_INV, "entries = 2 but the descriptor holds 3 entries (usable size must be exactly 8+104*entries)",
          spec=S(note_groups=notes(mft=mft1_note([blk(b"a"), blk(b"b")], entries=2)))),
        F("mft_size_short.elf", "reject", MFT_INV, "entries = 3 but the descriptor holds 2 entries",
          spec=S(note_groups=notes(mft=mft1_note([blk(b"a")], entries=3)))),
        F("mft_first_not_reserved.elf", "reject", MFT_INV, "e[0].type = BLOCK_BASIC instead of MFT_RESERVED_FIRST",
          spec=S(note_groups=notes(mft=mft1_note(first=blk(b""))))),
        F("mft_first_named.elf", "reject", MFT_INV, "e[0] has name 'x'",
          spec=S(note_groups=notes(mft=mft1_note(first=mft_entry(b"x", MFT_RESERVED_FIRST))))),
        F("mft_name_unterminated.elf", "reject", MFT_INV, "e[1].name[67] = 'A' (68 non-NUL bytes)",
          spec=S(note_groups=notes(mft=mft1_note([mft_entry(b"n" * 67, MFT_DEV_BLOCK_BASIC, name67=ord("A"))])))),
        F("mft_attached.elf", "reject", MFT_INV, "e[1].attached = 1",
          spec=S(note_groups=notes(mft=mft1_note([mft_entry(b"storage", MFT_DEV_BLOCK_BASIC, attached=1)])))),
        F("mft_first_attached.elf", "reject", MFT_INV, "e[0].attached = 1 (rule 6 covers every entry)",
          spec=S(note_groups=notes(mft=mft1_note(first=mft_entry(b"", MFT_RESERVED_FIRST, attached=1))))),

        # ---------------------------------------------------- e_entry
        F("entry_below_min.elf", "reject", ENTRY, "e_entry = 0xfffff", mutate=seteh(e_entry=0xFFFFF)),
        F("entry_zero.elf", "reject", ENTRY, "e_entry = 0", mutate=seteh(e_entry=0)),
        F("entry_at_mem_size.elf", "reject", ENTRY, "e_entry = 0x20000000 = mem_size (bound is <)", mutate=seteh(e_entry=MEM_SIZE)),
        F("entry_u64max.elf", "reject", ENTRY, "e_entry = 0xffffffffffffffff", mutate=seteh(e_entry=0xFFFFFFFFFFFFFFFF)),

        # ---------------------------------------------------- PT_LOAD
        F("seg_below_min.elf", "reject", VADDR_MIN, "text p_vaddr = 0xff000 (< 0x100000), phdr[0]",
          mutate=setf("text", p_vaddr=0xFF000, p_paddr=0xFF000)),
        F("seg_out_of_order.elf", "reject", ORDER, "rodata and data phdrs swapped in the table",
          mutate=swap_ro_data),
        F("seg_overlap.elf", "reject", START, "rodata p_vaddr = 0x100100, inside text's bytes: aligned start < e_end",
          mutate=setf("rodata", p_vaddr=0x100100, p_paddr=0x100100)),
        F("seg_overlap_same_page.elf", "reject", START, "rodata p_vaddr = 0x100800: no byte overlap with text (ends 0x1001a0) but the same 0x1000 alignment unit",
          mutate=setf("rodata", p_vaddr=0x100800, p_paddr=0x100800)),
        F("seg_align_start_below_min.elf", "reject", START, "text p_align = 0x200000: p_vaddr 0x100000 aligns down to 0 (< 0x100000)",
          mutate=setf("text", p_align=0x200000)),
        F("seg_align_0.elf", "reject", ALIGN, "rodata p_align = 0",
          mutate=setf("rodata", p_align=0)),
        F("seg_align_not_pow2.elf", "reject", ALIGN, "rodata p_align = 0x1800",
          mutate=setf("rodata", p_align=0x1800)),
        F("seg_wx.elf", "reject", WX, "data p_flags = R+W+X",
          mutate=setf("data", p_flags=PF_R | PF_W | PF_X)),
        F("seg_wx_no_read.elf", "reject", WX, "text p_flags = W+X (no R)",
          mutate=setf("text", p_flags=PF_W | PF_X)),
        F("seg_memsz_lt_filesz.elf", "reject", MEMSEG, "data p_memsz = p_filesz - 1",
          mutate=lambda i: setattr(i.ph("data"), "p_memsz", i.ph("data").p_filesz - 1)),
        F("seg_beyond_memory.elf", "reject", FILESEG, "data p_vaddr = 0xF0000000 >= mem_size 512 MiB",
          mutate=data_to(0xF0000000)),
        F("seg_vaddr_at_mem_size.elf", "reject", FILESEG, "data p_vaddr = 0x20000000 = mem_size (bound is <)",
          mutate=data_to(MEM_SIZE)),
        F("seg_filesz_crosses_mem_top.elf", "reject", FILESEG, "data at mem_size-8 with p_filesz 16: p_vaddr+p_filesz > mem_size",
          mutate=data_to(MEM_SIZE - 8)),
        F("seg_filesz_overflow.elf", "reject", FILESEG, "data p_filesz = 0xfffffffffffff000: p_vaddr + p_filesz overflows u64",
          mutate=chain(setf("data", p_filesz=0xFFFFFFFFFFFFF000),
                       lambda i: setattr(i.ph("data"), "p_memsz", 0xFFFFFFFFFFFFF000))),
        F("seg_memsz_beyond_memory.elf", "reject", MEMSEG, "data at mem_size-0x1000, p_memsz 0x2000: aligned end > mem_size",
          mutate=data_to(MEM_SIZE - PAGE, memsz=0x2000)),
        F("seg_memsz_overflow.elf", "reject", MEMSEG, "data p_memsz = 0xfffffffffffffff0: p_vaddr + p_memsz overflows u64",
          mutate=setf("data", p_memsz=0xFFFFFFFFFFFFFFF0)),
        F("seg_memsz_align_up_overflow.elf", "reject", MEMSEG, "data p_vaddr + p_memsz = 2^64-16: align_up to 0x1000 overflows",
          mutate=lambda i: setattr(i.ph("data"), "p_memsz", (1 << 64) - 16 - i.ph("data").p_vaddr)),
        F("seg_offset_past_eof.elf", "reject", SHORT, "text p_offset = 0x10000, past EOF (notes are still readable)",
          mutate=setf("text", p_offset=0x10000)),
        F("seg_filesz_past_eof.elf", "reject", SHORT, "data p_filesz/p_memsz = 0x800: p_offset + p_filesz runs past EOF",
          mutate=setf("data", p_filesz=0x800, p_memsz=0x800)),
        F("seg_offset_huge.elf", "reject", SHORT, "data p_offset = 0xfffffffffffffff8: p_offset + p_filesz overflows u64 (upstream: pread error, different text)",
          mutate=setf("data", p_offset=0xFFFFFFFFFFFFFFF8)),
        F("seg_unaligned_start.elf", "reject", UNALIGNED_START, "rodata p_align = 0x10: aligned start = p_vaddr, not a multiple of 0x1000",
          mutate=setf("rodata", p_align=0x10)),
        F("seg_unaligned_end.elf", "reject", UNALIGNED_END, "text p_align = 0x10: start 0x100000 aligned, end 0x1001a0 not",
          mutate=setf("text", p_align=0x10)),

        # ---------------------------------------------------- check order
        F("order_abi_before_mft.elf", "reject", BAD_VER + " 3", "ABI1 version 3 AND no MFT1: the ABI1 note is checked first",
          spec=S(note_groups=[[abi1_note(version=3)]])),
        F("order_mft_before_load.elf", "reject", MFT_INV, "manifest version 2 AND e_entry 0 AND W+X data: the manifest is validated before loading",
          spec=S(note_groups=notes(mft=mft1_note(version=2))),
          mutate=chain(seteh(e_entry=0), setf("data", p_flags=PF_R | PF_W | PF_X))),
        F("order_entry_before_segments.elf", "reject", ENTRY, "e_entry 0 AND text below 0x100000: e_entry is checked before any phdr",
          mutate=chain(seteh(e_entry=0), setf("text", p_vaddr=0xFF000, p_paddr=0xFF000))),
        F("order_phdr_table_order.elf", "reject", WX, "text is W+X (phdr[0]) AND data p_vaddr beyond memory (phdr[2]): phdrs are checked in table order",
          mutate=chain(setf("text", p_flags=PF_W | PF_X), data_to(0xF0000000))),
    ]
    return fx


# ---------------------------------------------------------------- main
TSV_HEADER = "file\texpect\tsubstring\tarch\tcomment\n"
SIZE_LIMIT = 8192
README = "README.md"
BEGIN = "<!-- BEGIN GENERATED TABLE (make_fixtures.py rewrites this block) -->\n"
END = "<!-- END GENERATED TABLE -->\n"


def read(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def render():
    """Return {file name: bytes} for every file this script owns."""
    files, rows, table = {}, [TSV_HEADER], []
    for f in fixtures():
        assert f.name not in files, f.name
        assert not f.name.startswith("fuzz_"), "fuzz_ prefix is reserved"
        data = f.build()
        assert len(data) < SIZE_LIMIT, (f.name, len(data))
        files[f.name] = data
        for expect, sub, arch, comment in [(f.expect, f.substring, f.arch, f.comment)] + f.extra_rows:
            assert expect in ("ok", "reject") and arch in ("any", "x86_64", "aarch64")
            assert expect == "reject" or sub == ""
            for t in (sub, comment):
                assert "\t" not in t and "\n" not in t and "|" not in t
            rows.append("\t".join([f.name, expect, sub, arch, comment]) + "\n")
            verdict = expect if not sub else "%s: `%s`" % (expect, sub)
            if expect == "reject" and not sub:
                verdict = "reject (any message)"
            table.append("| `%s` | %d | %s | %s | %s |\n"
                         % (f.name, len(data), arch, verdict, comment))

    # Hand-added fuzz_ rows survive regeneration.
    old = read(os.path.join(HERE, "expected.tsv"))
    if old:
        rows += [l + "\n" for l in old.decode().splitlines() if l.startswith("fuzz_")]
    files["expected.tsv"] = "".join(rows).encode()

    readme = read(os.path.join(HERE, README)).decode()
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    block = ("| file | bytes | arch | verdict | what |\n|---|---|---|---|---|\n"
             + "".join(table))
    files[README] = (head + BEGIN + block + END + tail).encode()
    return files


def main(argv):
    check = "--check" in argv[1:]
    files = render()
    stale = []
    for name, data in files.items():
        path = os.path.join(HERE, name)
        if check:
            if read(path) != data:
                stale.append(name)
        else:
            with open(path, "wb") as fh:
                fh.write(data)
    for name in sorted(os.listdir(HERE)):
        if name.endswith(".elf") and name not in files and not name.startswith("fuzz_"):
            print("warning: %s is not generated by this script" % name, file=sys.stderr)
    if check:
        if stale:
            print("out of date: " + ", ".join(stale), file=sys.stderr)
            return 1
        print("%d files up to date" % len(files))
    else:
        print("wrote %d fixtures, expected.tsv and the README table to %s"
              % (len(files) - 2, HERE))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
