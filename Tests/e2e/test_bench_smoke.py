"""test_bench_smoke.py: `skiff bench` runs end to end and reports every measure (no timing assertions)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

pytestmark = [pytest.mark.kvm, pytest.mark.swift]


def test_bench_runs_and_reports_everything(skiff):
    env = dict(os.environ, SKIFF=str(skiff), BENCH_RUNS="2", BENCH_EXITS="500", BENCH_ITERS="1000000",
               BENCH_PINGS="100")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.run([os.path.join(root, "scripts/bench"), "--json"], capture_output=True, text=True,
                       env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(p.stdout)
    s = res["startup"]
    assert 0 < s["spawn_floor_ms"] < s["halt_ms"] and s["hello_ms"] > 0 and s["first_instruction_ms"] > 0
    assert s["peak_rss_hello_512MiB_kib"] > s["peak_rss_true_kib"] > 0
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
