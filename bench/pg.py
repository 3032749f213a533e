"""Hook for the PostgreSQL promotion benchmark (promotion → VIP on the new primary).

That benchmark lives in ``bench/pg_promote.py``, built on another branch.  The contract:

* it is run as ``python bench/pg_promote.py`` from the repository root, with this
  process's environment plus the root first on ``PYTHONPATH`` (it imports :mod:`lab`),
  ``BENCH_JSON=1``, ``BENCH_TRIALS=<n>`` and, for ``--quick``, ``BENCH_QUICK=1``
  (environment, not options, so its own argument parser is free);
* it builds and tears down its own lab, and exits 0 on success;
* it prints JSON on stdout: the whole of stdout, or else its last line that parses.
  One benchmark record (a dict with ``"name"``) or a list of them, in the schema of
  :mod:`bench.report`, is included as is; any other JSON is kept under ``details.output``.

Without the file the runner reports "not available".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.report import unavailable_record

SCRIPT = Path(__file__).resolve().with_name("pg_promote.py")
NAME, TITLE = "pg_promote", "PostgreSQL promotion → VIP on the new primary"


def _parse(stdout: str):
    try:
        return json.loads(stdout)
    except ValueError:
        pass
    for line in reversed(stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    raise ValueError("no JSON on stdout")


def run_pg_hook(*, quick: bool, trials: int, timeout_s: float, script: Path = SCRIPT, log=print) -> list[dict]:
    if not script.exists():
        return [unavailable_record(NAME, TITLE, f"not available ({script.name} is not in this tree)")]
    root = script.parent.parent  # the repository root: bench/ and lab/ import from there
    env = dict(
        os.environ,
        BENCH_JSON="1",
        BENCH_TRIALS=str(trials),
        PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    )
    if quick:
        env["BENCH_QUICK"] = "1"
    log(f"    running {script} (timeout {timeout_s:.0f} s)")
    try:
        proc = subprocess.run(
            [sys.executable, str(script)], cwd=root, env=env, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        return [unavailable_record(NAME, TITLE, f"failed: no result within {timeout_s:.0f} s")]
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return [unavailable_record(NAME, TITLE, f"failed: exit {proc.returncode}: {' | '.join(tail)}")]
    try:
        out = _parse(proc.stdout)
    except ValueError as exc:
        return [unavailable_record(NAME, TITLE, f"failed: {exc}")]
    records = out if isinstance(out, list) else [out]
    if all(isinstance(r, dict) and "name" in r for r in records):
        for r in records:
            r.setdefault("title", r["name"])
            r.setdefault("unit", "")
            r.setdefault("vipkeeper", None)
            r.setdefault("keepalived", None)
            r.setdefault("ratio", None)
            r.setdefault("goal", "")
            r.setdefault("goal_met", None)
            r.setdefault("details", {})
        return records
    rec = unavailable_record(NAME, TITLE, "ran; output is not in the record schema (see details.output)")
    rec["details"]["output"] = out
    return [rec]
