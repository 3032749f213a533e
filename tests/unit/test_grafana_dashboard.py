"""contrib/grafana/vipkeeper.json: importable shape, one Prometheus datasource variable, every
panel's PromQL valid (checked by ``promtool check rules`` as recording rules) and the panels the
operator needs are there.  tests/pg/test_prometheus.py runs every query through a real
Prometheus scraping a lab cluster and asserts it returns series."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "contrib/grafana/vipkeeper.json"


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def test_dashboard_shape() -> None:
    d = dashboard()
    assert d["uid"] == "vipkeeper" and d["title"] == "vipkeeper"
    assert [v["type"] for v in d["templating"]["list"]] == ["datasource"]
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    for p in d["panels"]:
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"] and all(t["expr"].strip() for t in p["targets"]), p["title"]
        assert len({t["refId"] for t in p["targets"]}) == len(p["targets"])


def test_the_panels_an_operator_asked_for_are_there() -> None:
    exprs = " ".join(t["expr"] for p in dashboard()["panels"] for t in p["targets"])
    for metric in ("vipkeeper_vip_held", "vipkeeper_instance_vips_held", "vipkeeper_instance_state",
                   "vipkeeper_instance_effective_priority", "vipkeeper_master_last_advert_age_seconds",
                   "vipkeeper_advert_drops_total", "vipkeeper_tracker_up", "vipkeeper_tracker_latency_seconds",
                   "vipkeeper_pgsql_role", "vipkeeper_pgsql_timeline",
                   "vipkeeper_dcs_lease_remaining_seconds"):  # fmt: skip
        assert metric in exprs, metric


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    rules = [
        {"record": f"dashboard:panel{p['id']}_{t['refId']}", "expr": t["expr"]}
        for p in dashboard()["panels"]
        for t in p["targets"]
    ]
    f = tmp_path / "dashboard.rules.yml"
    f.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    r = subprocess.run([require_binary("promtool"), "check", "rules", str(f)], capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
