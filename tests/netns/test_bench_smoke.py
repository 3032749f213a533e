"""The benchmarks run (``make bench``): one trial each at tiny scale, vipkeeper and keepalived.

Not a measurement and no thresholds on the figures: this only proves that the benchmark
code, the results JSON, the table and the chart work, and that a run leaves nothing behind.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab.netns import netns_names
from tests.conftest import require_binary, require_netns

pytestmark = [pytest.mark.netns, pytest.mark.keepalived]

ROOT = Path(__file__).resolve().parents[2]
ONLY = [
    "failover_v3_10ms",
    "handover_v3_10ms",
    "cpu_master",
    "cpu_backup",
    "rss_master",
    "rss_backup",
    "jitter_load",
    "jitter_load_rt",
    "startup",
    "pg_promote",
]


def _processes_using(path: str) -> list[str]:
    out = subprocess.run(["pgrep", "-a", "-f", path], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def test_bench_quick_run_writes_json_table_and_chart(tmp_path):
    require_netns()
    require_binary("keepalived")
    require_binary("tcpdump")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--quick",
            "--only",
            ",".join(ONLY),
            "--jitter-seconds",
            "1",
            "--scale-instances",
            "3",
            "--scale-window",
            "1",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == 1, proc.stdout + proc.stderr
    doc = json.loads(files[0].read_text())
    assert doc["schema"] == 1 and doc["meta"]["wall_s"] > 0
    recs = {r["name"]: r for r in doc["benchmarks"]}
    assert sorted(recs) == sorted(ONLY), proc.stderr
    for name in ONLY[:-1]:
        r = recs[name]
        assert set(r) >= {"name", "title", "unit", "vipkeeper", "keepalived", "ratio", "goal", "goal_met"}, r
        for kind in ("vipkeeper", "keepalived"):
            s = r[kind]
            assert s is not None and s["n"] >= 1 and s["samples"], (name, kind, r["details"])
            assert set(s) >= {"samples", "median", "p90", "min", "max"}
            assert s["min"] <= s["median"] <= s["max"]
        assert r["ratio"] is not None and r["ratio"] > 0
        assert isinstance(r["goal_met"], bool)
    assert recs["failover_v3_10ms"]["details"]["problems"] == []
    assert recs["jitter_load"]["details"]["load_processes"] >= 1
    pg = recs["pg_promote"]
    assert pg["details"].get("status") or pg["vipkeeper"], pg
    # the table: every benchmark, each figure beside keepalived's, and the ratio
    assert "ratio" in proc.stdout and "keepalived" in proc.stdout
    for name in ONLY:
        assert recs[name]["title"][:40] in proc.stdout
    if importlib.util.find_spec("matplotlib") is not None:
        assert files[0].with_suffix(".png").stat().st_size > 1000
    # nothing left behind: namespaces, daemons
    ours = set(doc["meta"]["lab_namespaces"])
    assert ours and not (ours & netns_names()), ours & netns_names()
    assert _processes_using(doc["meta"]["workdir"]) == []
