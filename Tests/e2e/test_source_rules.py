"""test_source_rules.py: rules of the monitor's sources that a reader relies on (docs/architecture.md).

Raw pointers stay in the few files docs/architecture.md lists, and every use carries a `// SAFETY:` line
next to it (within six lines above, or the first line inside the closure)."""

from __future__ import annotations

import re

import helpers

UNSAFE = re.compile(r"withUnsafe|assumingMemoryBound|Unsafe(Mutable)?(Raw)?(Buffer)?Pointer\b|unsafeBitCast")


def unsafe_uses() -> dict[str, list[tuple[int, list[str]]]]:
    uses: dict[str, list[tuple[int, list[str]]]] = {}
    for f in sorted((helpers.REPO / "Sources").rglob("*.swift")):
        lines = f.read_text().splitlines()
        for i, line in enumerate(lines):
            if UNSAFE.search(line) and not line.lstrip().startswith("//"):
                rel = str(f.relative_to(helpers.REPO / "Sources"))
                uses.setdefault(rel, []).append((i + 1, lines[max(0, i - 6):i + 2]))
    return uses


def documented_files() -> set[str]:
    text = (helpers.REPO / "docs" / "architecture.md").read_text()
    para = text[text.index("Raw pointers live in a few files"):]
    para = para[:para.index("The builder has none")]
    names = re.findall(r"`((?:\w+/)?\w+(?:\+\w+)?\.swift)`", para)
    # A bare `KVMVCPU+x.swift` after `SkiffKVM/KVMVCPU+y.swift` is in the same module.
    return {n if "/" in n else "SkiffKVM/" + n for n in names}


def test_raw_pointers_only_in_the_documented_files():
    uses = unsafe_uses()
    assert uses, "the pattern finds nothing: it is out of date"
    undocumented = set(uses) - documented_files()
    assert not undocumented, f"raw pointers in files docs/architecture.md does not list: {sorted(undocumented)}"


def test_every_raw_pointer_use_says_why_it_is_safe():
    missing = [f"{f}:{n}" for f, sites in unsafe_uses().items() for n, window in sites
               if not any("SAFETY:" in l for l in window)]
    assert not missing, "uses without a `// SAFETY:` line: " + ", ".join(missing)
