"""test_build.py: `skiff build` refuses bad manifests and sources (Solo5 "too_many_entries elftool", spec §3.4)."""

from __future__ import annotations

import json

import pytest

import helpers

pytestmark = pytest.mark.swift

MAIN = "import Skiff\n\n@main\nstruct App {\n    static func main() { print(\"SUCCESS\") }\n}\n"


@pytest.fixture
def build(skiff, swift_builder, tmp_path):
    """build(manifest or None, source=MAIN) -> Result of `skiff build DIR -o OUT` in a fresh directory."""
    # Make the session's availability check (skips while skiff build is a placeholder).
    swift_builder.build(helpers.SWIFT_GUESTS_DIR / "quiet")

    def _build(manifest, source: str = MAIN, name: str = "app"):
        d = tmp_path / name
        d.mkdir()
        (d / "main.swift").write_text(source)
        if manifest is not None:
            (d / "manifest.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
        out = tmp_path / f"{name}.hvt"
        r = helpers.run([str(skiff), "build", str(d), "-o", str(out)], timeout=900)
        return r, out
    return _build


def manifest(n: int, kind: str = "BLOCK_BASIC"):
    return {"type": "solo5.manifest", "version": 1, "devices": [{"name": f"dev{i}", "type": kind} for i in range(n)]}


def test_too_many_entries(build):
    r, out = build(manifest(64))
    assert r.returncode == 1 and "too many entries, maximum 63" in r.stderr, r.describe()
    assert not out.exists()


def test_63_entries_accepted(build, skiff):
    r, out = build(manifest(63))
    assert r.returncode == 0, r.describe()
    j = json.loads(helpers.run([str(skiff), "inspect", "--json", str(out)]).stdout)
    assert len(j["manifest"]["devices"]) == 63


@pytest.mark.parametrize("text,phrase", [
    ('{"type": "solo5.manifest", "version": 2, "devices": []}', "version"),
    ('{"type": "other", "version": 1, "devices": []}', "type"),
    ('{"type": "solo5.manifest", "version": 1, "devices": [], "extra": 1}', "unknown key"),
    ('{"type": "solo5.manifest", "version": 1, "devices": [{"name": "a-b", "type": "BLOCK_BASIC"}]}', "name"),
    ('{"type": "solo5.manifest", "version": 1, "devices": [{"name": "' + "n" * 68 + '", "type": "BLOCK_BASIC"}]}', "name"),
    ('{"type": "solo5.manifest", "version": 1, "devices": [{"name": "a", "type": "SERIAL"}]}', "type"),
    ('{"type": "solo5.manifest", "version": 1, "devices": [{"name": "a"}]}', "type"),
    ('{"type": "solo5.manifest", "version": 1,', "JSON"),
])
def test_bad_manifest(build, text, phrase):
    r, out = build(text)
    assert r.returncode == 1 and phrase in r.stderr and "manifest.json" in r.stderr, r.describe()
    assert not out.exists()


def test_longest_device_name(build, skiff):
    name = "n" * 67
    r, out = build({"type": "solo5.manifest", "version": 1, "devices": [{"name": name, "type": "NET_BASIC"}]})
    assert r.returncode == 0, r.describe()
    j = json.loads(helpers.run([str(skiff), "inspect", "--json", str(out)]).stdout)
    assert j["manifest"]["devices"] == [{"name": name, "type": "NET_BASIC"}]


def test_swift_compile_error(build):
    r, out = build(None, source="import Skiff\n\nlet x: Int = \"not an int\"\n")
    assert r.returncode != 0, r.describe()
    assert not out.exists()


def test_no_manifest_means_no_devices(build, skiff):
    r, out = build(None)
    assert r.returncode == 0, r.describe()
    j = json.loads(helpers.run([str(skiff), "inspect", "--json", str(out)]).stdout)
    assert j["manifest"]["devices"] == []


@pytest.mark.kvm
def test_built_image_runs(build, run_skiff):
    r, out = build(None)
    assert r.returncode == 0, r.describe()
    helpers.expect_success(run_skiff("--mem=8", out))
