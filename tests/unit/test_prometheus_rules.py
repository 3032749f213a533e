"""contrib/prometheus/vipkeeper.rules.yml: valid for Prometheus (``promtool check rules``), its
promtool unit tests pass, and every alert has a unit test in which it fires."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "contrib/prometheus/vipkeeper.rules.yml"
RULE_TESTS = ROOT / "contrib/prometheus/tests/vipkeeper.rules.test.yml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("promtool"), *args], capture_output=True, text=True, timeout=120,
                          cwd=RULE_TESTS.parent)  # fmt: skip


def alert_names() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [r["alert"] for g in groups for r in g["rules"] if "alert" in r]


def test_promtool_accepts_the_rules() -> None:
    r = promtool("check", "rules", str(RULES))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_promtool_unit_tests_pass() -> None:
    r = promtool("test", "rules", RULE_TESTS.name)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_alert_has_a_unit_test_where_it_fires() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {t["alertname"] for case in tests for t in case.get("alert_rule_test", []) if t.get("exp_alerts")}
    silent = {t["alertname"] for case in tests for t in case.get("alert_rule_test", []) if not t.get("exp_alerts")}
    names = alert_names()
    assert len(names) >= 10
    assert [n for n in names if n not in fired] == []
    # ... and one where it does not (below its threshold or `for`, or resolved)
    assert [n for n in names if n not in silent] == []
    assert fired <= set(names), "a unit test names an alert the rules do not have"
