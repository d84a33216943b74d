"""test_bench_smoke.py: `skiff bench` runs end to end and reports every measure (no timing assertions);
the benchmark's C floor (Bench/kvmfloor.c) prints the same guest output as the tender."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import REPO

pytestmark = [pytest.mark.kvm, pytest.mark.swift]


def _tender() -> Path:
    """skiff-hvt: $SKIFF_HVT, else the one beside $SKIFF (default .build/debug/skiff), as scripts/bench finds it."""
    if os.environ.get("SKIFF_HVT"):
        return Path(os.environ["SKIFF_HVT"]).resolve()
    skiff = Path(os.environ.get("SKIFF", REPO / ".build" / "debug" / "skiff"))
    path = (Path.cwd() / skiff).resolve().parent / "skiff-hvt"
    if not path.exists():
        pytest.fail(f"no tender at {path}: run scripts/build (or set SKIFF_HVT)")
    return path


def test_bench_runs_and_reports_everything(skiff, tmp_path):
    # skiff and skiff-hvt side by side in a private directory, so `skiff run` execs the tender as installed.
    shutil.copy2(skiff, tmp_path / "skiff")
    shutil.copy2(_tender(), tmp_path / "skiff-hvt")
    env = dict(os.environ, SKIFF=str(tmp_path / "skiff"), BENCH_RUNS="2", BENCH_EXITS="500", BENCH_ITERS="1000000",
               BENCH_PINGS="100")
    env.pop("SKIFF_HVT", None)
    p = subprocess.run([str(REPO / "scripts/bench"), "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(p.stdout)
    s = res["startup"]
    assert s["spawn_floor_ms"] > 0 and s["halt_ms"] > 0 and s["hello_ms"] > 0 and s["first_instruction_ms"] > 0
    # (not compared with `true`: a static musl monitor can start faster and smaller than glibc's `true`)
    assert s["peak_rss_hello_512MiB_kib"] > 0 and s["peak_rss_true_kib"] > 0
    t = res["tender"]
    for g in ("halt", "hello_64", "hello_512"):
        for prog in ("floor", "tender", "skiff_run"):
            assert t["wall_ms"][g][prog] > 0 and t["wall_ms"]["true"] > 0
            assert t["peak_rss_kib"][g][prog] > 0
        assert t["ratio_tender_to_floor"][g] > 0 and t["ratio_skiff_run_to_tender"][g] > 0
    assert t["same_output"] and t["hello_output"] == "hello: bench\n"
    assert all(v > 0 for v in t["first_instruction_ms"].values())
    b = t["binaries"]["skiff-hvt"]
    assert b["file_bytes"] > 0 and b["text_bytes"] > 0
    assert t["binaries"]["kvmfloor"]["static"]
    e = res["exits_cpl0"]
    assert e["bare_exit_ns"] > 0 and e["walltime_ratio_to_floor"] > 0 and e["puts_ratio_to_floor"] > 0
    assert res["compute"]["guest_ms"] > 0 and res["compute"]["linux_ms"] > 0
    for op in ("read", "write"):
        for label in ("512B", "4KiB", "32KiB", "ring 1MiB x16"):
            assert res["block"][f"{op} {label}"] > 0
    if os.geteuid() == 0 and "skipped" not in res["net"]:
        for mode in ("hypercalls", "ring"):
            assert res["net"][f"{mode} pkt/s"] > 0
            assert res["net"][f"{mode} loss %"] < 50


def test_c_floor_prints_what_the_tender_prints(example, tmp_path):
    """The floor is only a floor if it really runs the guest: same stdout and exit status as skiff-hvt."""
    if not shutil.which("cc"):
        pytest.fail("no cc: run scripts/setup")
    floor = tmp_path / "kvmfloor"
    subprocess.run(["cc", "-O2", "-static", "-o", str(floor), str(REPO / "Bench/kvmfloor.c")], check=True)
    hello = example("hello")
    tender = _tender()
    for args in (["--mem=64", str(hello), "a", "b c"], [str(hello)], ["--mem=512", str(hello), "bench"]):
        f = subprocess.run([str(floor), *args], capture_output=True, timeout=60)
        h = subprocess.run([str(tender), *args], capture_output=True, timeout=60)
        assert (f.returncode, f.stdout) == (h.returncode, h.stdout), (args, f, h)
        assert f.returncode == 0 and f.stdout.startswith(b"hello:"), (args, f)


def test_tender_baseline_is_an_extra_column(skiff, tmp_path):
    """--tender-baseline puts another tender binary into the start-up comparison: its wall times, peak RSS,
    first-instruction time, ratios and binary facts, with its guest output checked like the others'."""
    shutil.copy2(skiff, tmp_path / "skiff")
    shutil.copy2(_tender(), tmp_path / "skiff-hvt")
    shutil.copy2(_tender(), tmp_path / "other-hvt")
    env = dict(os.environ, SKIFF=str(tmp_path / "skiff"), BENCH_RUNS="2")
    env.pop("SKIFF_HVT", None)
    p = subprocess.run([str(REPO / "scripts/bench"), "--json", "--startup-only",
                        "--tender-baseline", f"prev={tmp_path / 'other-hvt'}"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(p.stdout)
    assert set(res) == {"startup", "tender"}   # --startup-only: nothing after the start-up table
    t = res["tender"]
    for g in ("halt", "hello_64", "hello_512"):
        assert t["wall_ms"][g]["baseline:prev"] > 0 and t["peak_rss_kib"][g]["baseline:prev"] > 0
        b = t["baselines"]["prev"]
        assert b["ratio_to_floor"][g] > 0 and b["ratio_tender_to_baseline"][g] > 0
    assert t["first_instruction_ms"]["baseline:prev"] > 0
    assert t["binaries"]["prev"]["file_bytes"] == (tmp_path / "other-hvt").stat().st_size
    # The table names the column and prints its ratios.
    p = subprocess.run([str(REPO / "scripts/bench"), "--startup-only", "--tender-baseline", str(tmp_path / "other-hvt")],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "other-hvt" in p.stdout.splitlines()[1] and "--tender-baseline other-hvt" in p.stdout


@pytest.mark.parametrize("args, message", [
    (["--tender-baseline"], "--tender-baseline needs a path ([LABEL=]PATH)"),
    (["--tender-baseline", "/nonexistent/hvt"], "--tender-baseline: /nonexistent/hvt is not an executable file"),
    (["--tender-baseline", "tender=/bin/true"], "--tender-baseline: label 'tender' is empty, reserved or given twice"),
])
def test_tender_baseline_refusals(args, message, tmp_path):
    """A bad --tender-baseline is refused before anything is built or run: one line, status 2."""
    env = dict(os.environ, SKIFF=str(tmp_path / "skiff"))
    p = subprocess.run([str(REPO / "scripts/bench"), *args], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 2 and p.stderr == f"bench: {message}\n", p
