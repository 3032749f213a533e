"""``vipkeeper explain``: the seed README's table, the traps, the JSON, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vipkeeper import cli
from vipkeeper.cli import explain as cli_explain
from vipkeeper.cli.explain import split_label
from vipkeeper.config.load import parse_file, parse_string
from vipkeeper.explain import Finding, HostInput, Report, explain, read_scripts, render_text, to_json

CONFIGS = Path(__file__).parent / "configs"
SEED_A = CONFIGS / "valid" / "seed.conf"
EXPLAIN = CONFIGS / "explain"
SEED_B = EXPLAIN / "seed_b.conf"

#: The seed README's table (keepalived-vip-notes: priorities 100/99, weight +4).
SEED_TABLE = [
    "| check A / check B | holder | priority A / B | note |",
    "|---|---|---|---|",
    "| pass / fail (normal) | A | 104 / 99 | correct |",
    "| fail / pass (B promoted) | B | 100 / 103 | correct |",
    "| fail / fail (no primary) | A | 100 / 99 | VIP on a dead node |",
    "| pass / pass (two primaries) | A | 104 / 103 | split brain: VIP returns to the stale primary |",
]


@pytest.fixture(autouse=True)
def _no_host_files(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI never sees this machine's files or host name: an empty root, a host name no test uses."""
    monkeypatch.setattr(cli_explain, "HOST_ROOT", str(tmp_path_factory.mktemp("empty_root")))
    monkeypatch.setattr(cli_explain, "short_host_name", lambda: "not-a-test-label")


def host(label: str, path: Path, script_dirs: tuple[str, ...] = ()) -> HostInput:
    config, diagnostics = parse_file(str(path), config_id=label)
    assert not [d for d in diagnostics if d.is_error], diagnostics
    return HostInput(label, config, tuple(diagnostics), read_scripts(config, str(path), script_dirs))


def pair(a: Path = SEED_A, b: Path = SEED_B, **kw: str) -> Report:
    return explain([host("A", a), host("B", b)], **kw)  # type: ignore[arg-type]


def codes(report: Report) -> list[str]:
    return [f.code for f in report.findings]


def only(report: Report, code: str) -> Finding:
    found = [f for f in report.findings if f.code == code]
    assert len(found) == 1, report.findings
    return found[0]


def table_lines(report: Report) -> list[str]:
    return [line for line in render_text(report).splitlines() if line.startswith("|")]


# -- the seed pair ----------------------------------------------------------------------------


def test_seed_table_reproduces_the_readme() -> None:
    report = pair()
    assert len(report.routers) == 1
    r = report.routers[0]
    assert (r.vrid, r.family, r.hosts, r.preferred, r.primary_checks) == (51, 4, ["A", "B"], "A", True)
    got = [(row.holder, row.priorities, row.note) for row in r.rows]
    assert got == [
        ("A", (104, 99), "correct"),
        ("B", (100, 103), "correct"),
        ("A", (100, 99), "VIP on a dead node"),
        ("A", (104, 103), "split brain: VIP returns to the stale primary"),
    ]
    assert [row.results for row in r.rows] == [(True, False), (False, True), (False, False), (True, True)]
    assert table_lines(report) == SEED_TABLE


def test_seed_flags_the_two_bad_rows_and_nothing_worse() -> None:
    report = pair()
    assert not [f for f in report.findings if f.severity == "error"]
    dead = only(report, "dead-node")
    assert dead.severity == "warning" and dead.host == "A"
    assert "fail / fail (no primary): VIP on a dead node: A holds it (100 vs 99)" in dead.message
    assert str(dead.loc) == f"{SEED_A}:6"
    split = only(report, "split-brain")
    assert split.severity == "warning" and split.host == "A"
    assert (
        "pass / pass (two primaries): split brain: VIP returns to the stale primary: A wins (104 vs 103)"
        in split.message
    )
    assert "failover-impossible" not in codes(report)
    assert "equal-priority" not in codes(report)


def test_seed_host_order_does_not_matter() -> None:
    report = explain([host("B", SEED_B), host("A", SEED_A)])
    r = report.routers[0]
    assert r.preferred == "A"
    got = {row.results: (row.holder, row.verdict) for row in r.rows}
    # results are (B, A) here
    assert got == {
        (False, True): ("A", "correct"),
        (True, False): ("B", "correct"),
        (False, False): ("A", "dead-node"),
        (True, True): ("A", "split-brain"),
    }


def test_seed_script_fails_open_and_matches_a_translated_string() -> None:
    # chk_pg_standby.sh is the seed's keepalived_pgsql_chk.sh
    report = explain([host("A", SEED_A, (str(EXPLAIN / "scripts_seed"),)), host("B", SEED_B)])
    fail_open = only(report, "fail-open-data-dir")
    assert fail_open.host == "A" and fail_open.severity == "warning"
    assert "standby.signal" in fail_open.message and "no script_user" in fail_open.message
    assert fail_open.loc is not None and fail_open.loc.line == 3
    assert fail_open.loc.file.endswith("keepalived_pgsql_chk.sh")
    locale = only(report, "locale-string-match")
    assert locale.loc is not None and locale.loc.line == 8 and "locale" in locale.message
    # B's copy of the script was not found: said so, no guessing
    missing = only(report, "script-not-read")
    assert missing.host == "B" and missing.severity == "info"


# -- traps ------------------------------------------------------------------------------------


def test_failover_impossible() -> None:
    report = pair(b=EXPLAIN / "b_low_priority.conf")  # B: 95 + 4 <= 100
    f = only(report, "failover-impossible")
    assert f.severity == "error" and f.host == "B"
    assert "B's best priority 99 (95 + 4) never exceeds A's worst 100" in f.message
    assert str(f.loc) == f"{EXPLAIN / 'b_low_priority.conf'}:6"
    row = report.routers[0].rows[1]
    assert (row.results, row.holder, row.priorities, row.verdict) == ((False, True), "A", (100, 99), "failing-holder")


def test_equal_priorities_and_ties() -> None:
    report = pair(b=EXPLAIN / "b_equal_priority.conf")
    f = only(report, "equal-priority")
    assert f.severity == "warning" and "A and B both have priority 100" in f.message
    rows = report.routers[0].rows
    assert [row.tie for row in rows] == [False, False, True, True]
    tie = rows[2]
    # both 100: the higher primary IP (B, 172.20.0.113) is shown, flagged as a tie
    assert tie.holder == "B" and tie.priorities == (100, 100)
    assert tie.note == "VIP on a dead node; tie: current holder keeps it (shown: higher primary IP)"


def test_nopreempt_with_state_master() -> None:
    path = EXPLAIN / "a_nopreempt_master.conf"
    report = pair(a=path)
    f = only(report, "nopreempt-master")
    assert f.severity == "warning" and f.host == "A" and str(f.loc) == f"{path}:8"
    assert f.router == "VRID 51 IPv4"


def test_weight_0_puts_a_failing_host_in_fault() -> None:
    report = pair(a=EXPLAIN / "a_weight0.conf", b=EXPLAIN / "b_weight0.conf")
    infos = [f for f in report.findings if f.code == "weight-0-fault"]
    assert [f.host for f in infos] == ["A", "B"]
    assert all(f.severity == "info" and "goes to FAULT" in f.message for f in infos)
    rows = report.routers[0].rows
    assert [(row.holder, row.priorities) for row in rows] == [
        ("A", (100, None)),
        ("B", (None, 99)),
        (None, (None, None)),
        ("A", (100, 99)),
    ]
    assert rows[2].verdict == "no-holder" and "no host can hold the VIP" in rows[2].note
    assert only(report, "no-holder").severity == "info"  # no primary, no VIP: by design
    assert "| fail / fail (no primary) | none | FAULT / FAULT |" in render_text(report)
    assert "dead-node" not in codes(report)


def test_password_longer_than_8() -> None:
    report = pair(a=EXPLAIN / "a_long_pass.conf", b=EXPLAIN / "b_long_pass.conf")
    found = [f for f in report.findings if f.code == "auth-pass-too-long"]
    assert [(f.host, f.severity, f.loc and f.loc.line) for f in found] == [("A", "warning", 18), ("B", "warning", 18)]
    assert "auth-mismatch" not in codes(report)  # both truncate to the same 8 bytes


def test_mismatched_advert_int_auth_vips() -> None:
    path = EXPLAIN / "b_mismatch.conf"
    report = pair(b=path)
    for code in ("advert-int-mismatch", "auth-mismatch", "vip-mismatch"):
        f = only(report, code)
        assert f.severity == "error" and f.host == "B" and f.loc is not None and f.loc.file == str(path)
    assert "only B has 172.20.0.116/32" in only(report, "vip-mismatch").message


def test_mismatched_vrid() -> None:
    report = pair(b=EXPLAIN / "b_other_vrid.conf")
    assert [r.key_str for r in report.routers] == ["VRID 51 IPv4", "VRID 52 IPv4"]
    f = only(report, "vrid-mismatch")
    assert f.severity == "error" and "VIP 172.20.0.115 is VRID 51 on A (VI_1) but VRID 52 on B" in f.message
    assert [f.host for f in report.findings if f.code == "single-host"] == ["A", "B"]


def test_mismatched_version_and_unicast_peers() -> None:
    a_text = SEED_A.read_text()
    b_text = SEED_B.read_text().replace("172.20.0.112\n", "172.20.0.99\n")
    b_text = "global_defs {\n    vrrp_version 3\n}\n" + b_text
    a = HostInput("A", *parse_string(a_text, "a.conf"))
    b = HostInput("B", *parse_string(b_text, "b.conf"))
    report = explain([a, b])
    assert only(report, "version-mismatch").host == "B"
    f = only(report, "unicast-peer-missing")
    assert f.host == "B" and "does not contain A's unicast_src_ip 172.20.0.112" in f.message


def test_fail_open_for_a_non_root_script_user() -> None:
    report = explain([host("A", EXPLAIN / "a_fail_open.conf"), host("B", SEED_B)])
    f = only(report, "fail-open-data-dir")
    assert f.host == "A" and "runs as nobody" in f.message and f.loc is not None and f.loc.line == 3
    assert f.loc.file == str(EXPLAIN / "chk_pg_standby.sh")  # found next to the configuration
    assert only(report, "locale-string-match").host == "A"


def test_no_fail_open_warning_when_the_script_runs_as_postgres() -> None:
    text = (EXPLAIN / "a_fail_open.conf").read_text().replace("script_user nobody", "script_user postgres")
    config, diagnostics = parse_string(text, str(EXPLAIN / "a_fail_open.conf"))
    a = HostInput("A", config, diagnostics, read_scripts(config, str(EXPLAIN / "a_fail_open.conf"), ()))
    report = explain([a, host("B", SEED_B)])
    assert "fail-open-data-dir" not in codes(report)
    assert "locale-string-match" in codes(report)


def test_pg_isready_alone_passes_on_a_standby() -> None:
    report = explain([host("A", EXPLAIN / "a_isready.conf")])
    f = only(report, "pg-isready-standby")
    assert f.loc is not None and f.loc.line == 3  # the comment on line 2 does not count
    assert "single-host" in codes(report)


TWO_TRACKERS = """
vrrp_script chk {{
    script "/bin/true"
    weight {weight}
}}
vrrp_instance VI_1 {{
    state {state}
    interface eth0
    virtual_router_id 7
    priority {priority}
    unicast_src_ip {src}
    unicast_peer {{
        {peer}
    }}
    virtual_ipaddress {{
        10.0.0.100
    }}
    track_script {{
        chk
    }}
    track_interface {{
        eth1
    }}
}}
"""


def two_trackers(label: str, **kw: object) -> HostInput:
    config, diagnostics = parse_string(TWO_TRACKERS.format(**kw), f"{label}.conf")
    assert not diagnostics, diagnostics
    return HostInput(label, config, diagnostics)


def test_service_checks_and_track_interface() -> None:
    a = two_trackers("A", weight=10, state="MASTER", priority=110, src="10.0.0.1", peer="10.0.0.2")
    b = two_trackers("B", weight=10, state="BACKUP", priority=105, src="10.0.0.2", peer="10.0.0.1")
    report = explain([a, b])
    r = report.routers[0]
    assert not r.primary_checks  # /bin/true is no PostgreSQL check: all may pass
    assert [v.id for v in r.trackers] == ["A:chk", "A:eth1", "B:chk", "B:eth1"]
    assert len(r.rows) == 16
    first = r.rows[0]
    assert (first.results, first.scenario, first.holder, first.priorities, first.note) == (
        (True, True, True, True),
        "normal",
        "A",
        (120, 115),
        "correct",
    )
    # A's check fails: 110 < 115, B takes over
    row = next(row for row in r.rows if row.results == (False, True, True, True))
    assert (row.holder, row.priorities, row.verdict) == ("B", (110, 115), "correct")
    # A's interface is down: weight 0 -> FAULT
    row = next(row for row in r.rows if row.results == (True, False, True, True))
    assert (row.holder, row.priorities, row.verdict) == ("B", (None, 115), "correct")
    # nobody is healthy: the VIP still sits somewhere
    row = next(row for row in r.rows if row.results == (True, False, False, True))
    assert (row.holder, row.priorities, row.verdict) == ("B", (None, 105), "dead-node")
    text = render_text(report)
    assert "| A:chk / A:eth1 / B:chk / B:eth1 | holder | priority A / B | note |" in text
    assert "| pass / down / pass / up (A failing) | B | FAULT / 115 | correct |" in text
    assert "split-brain" not in codes(report)
    assert [f.host for f in report.findings if f.code == "weight-0-fault"] == ["A", "B"]


def test_sync_group_fault_spreads_to_the_other_member() -> None:
    text = """
vrrp_script chk {
    script "/bin/true"
}
vrrp_sync_group G {
    group {
        VI_1
        VI_2
    }
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
    priority 100
    virtual_ipaddress {
        10.0.0.1
    }
    track_script {
        chk
    }
}
vrrp_instance VI_2 {
    interface eth1
    virtual_router_id 2
    priority 100
    virtual_ipaddress {
        10.0.1.1
    }
}
"""
    config, diagnostics = parse_string(text, "a.conf")
    report = explain([HostInput("A", config, diagnostics)])
    vi2 = next(r for r in report.routers if r.vrid == 2)
    assert [v.id for v in vi2.trackers] == ["A:chk"]
    assert [(row.results, row.holder, row.priorities) for row in vi2.rows] == [
        ((True,), "A", (100,)),
        ((False,), None, (None,)),
    ]


# -- JSON -------------------------------------------------------------------------------------


def test_json_keys_are_stable() -> None:
    data = to_json(pair())
    json.dumps(data)
    assert list(data) == ["format", "hosts", "routers", "findings"]
    assert data["format"] == 1
    assert data["hosts"] == [{"label": "A", "file": str(SEED_A)}, {"label": "B", "file": str(SEED_B)}]
    (r,) = data["routers"]
    assert list(r) == [
        "key",
        "vrid",
        "family",
        "interface",
        "vips",
        "check_kind",
        "preferred",
        "instances",
        "trackers",
        "table_skipped",
        "rows",
    ]
    assert list(r["instances"][0]) == [
        "host",
        "name",
        "interface",
        "state",
        "priority",
        "primary_ip",
        "nopreempt",
        "file",
        "line",
        "trackers",
    ]
    assert r["rows"][0] == {
        "results": {"A:chk_haproxy": "pass", "B:chk_haproxy": "fail"},
        "scenario": "normal",
        "holder": "A",
        "priorities": {"A": 104, "B": 99},
        "fault": [],
        "healthy": ["A"],
        "tie": False,
        "verdict": "correct",
        "note": "correct",
    }
    assert [(row["holder"], list(row["priorities"].values()), row["verdict"]) for row in r["rows"]] == [
        ("A", [104, 99], "correct"),
        ("B", [100, 103], "correct"),
        ("A", [100, 99], "dead-node"),
        ("A", [104, 103], "split-brain"),
    ]
    assert list(data["findings"][0]) == ["severity", "code", "host", "router", "file", "line", "message"]


# -- CLI --------------------------------------------------------------------------------------


def test_cli_seed_pair(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explain", "-f", f"A={SEED_A}", "-f", f"B={SEED_B}"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    start = lines.index(SEED_TABLE[0])
    assert lines[start : start + len(SEED_TABLE)] == SEED_TABLE
    assert f"{SEED_A}:6: warning: A: fail / fail (no primary): VIP on a dead node" in out
    assert out.splitlines()[-1] == "0 error(s), 2 warning(s), 2 note(s)"


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explain", "--json", "-f", f"A={SEED_A}", "-f", f"B={SEED_B}"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [row["holder"] for row in data["routers"][0]["rows"]] == ["A", "B", "A", "A"]


def test_cli_labels_default_to_the_file_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explain", "--json", "-f", str(SEED_A), "-f", str(SEED_B)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [h["label"] for h in data["hosts"]] == ["seed", "seed_b"]
    assert split_label("db1=/etc/keepalived/keepalived.conf") == ("db1", "/etc/keepalived/keepalived.conf")
    assert split_label("/tmp/a=b/x.conf") == ("x", "/tmp/a=b/x.conf")


def test_cli_duplicate_labels(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explain", "-f", str(SEED_A), "-f", str(SEED_A)]) == 2
    assert "given twice" in capsys.readouterr().err


def test_cli_config_errors_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    broken = CONFIGS / "broken" / "undefined_track_script.conf"
    assert cli.main(["explain", "-f", f"A={SEED_A}", "-f", f"B={broken}"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{broken}:16: error: vrrp_instance VI_1: track_script 'chk_missing' is not defined "
        "(no vrrp_script, vrrp_pgsql or vrrp_dcs 'chk_missing')",
        f"{broken}:20: error: vrrp_instance VI_1: track_file 'chk_haproxy' is not defined "
        "(no track_file 'chk_haproxy')",
        f"{broken}: FAILED (2 errors)",
    ]


def test_cli_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explain", "-f", str(tmp_path / "nope.conf")]) == 1
    assert "cannot read configuration file" in capsys.readouterr().err


def test_cli_config_id_is_the_label(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "keepalived.conf"
    path.write_text(SEED_A.read_text().replace("    priority 100", "    @A priority 100\n    @B priority 99"))
    assert cli.main(["explain", "--json", "-f", f"A={path}", "-f", f"B={path}"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [i["priority"] for i in data["routers"][0]["instances"]] == [100, 99]


def test_no_trackers_one_row() -> None:
    a_text = SEED_A.read_text().replace("    track_script{\n        chk_haproxy\n    }\n", "")
    b_text = SEED_B.read_text().replace("    track_script{\n        chk_haproxy\n    }\n", "")
    report = explain([HostInput("A", *parse_string(a_text, "a.conf")), HostInput("B", *parse_string(b_text, "b.conf"))])
    assert table_lines(report)[2:] == ["| - (normal) | A | 100 / 99 | correct |"]
    assert not [f for f in report.findings if f.severity != "info"]


def test_a_script_and_an_interface_of_one_name() -> None:
    text = TWO_TRACKERS.format(weight=5, state="MASTER", priority=100, src="10.0.0.1", peer="10.0.0.2")
    text = text.replace("vrrp_script chk", "vrrp_script eth1").replace("        chk\n", "        eth1\n")
    report = explain([HostInput("A", *parse_string(text, "a.conf"))])
    assert [v.id for v in report.routers[0].trackers] == ["A:eth1", "A:interface:eth1"]
    assert [row.priorities for row in report.routers[0].rows] == [(105,), (None,), (100,), (None,)]


# -- whose script ------------------------------------------------------------------------------

SEED_SCRIPT = "var/lib/pgsql/12/repmgr/keepalived_pgsql_chk.sh"  # seed.conf's script, without the leading '/'


def _fake_root(tmp_path: Path) -> Path:
    """A root with the seed's check script at its configured path (the seed's own script)."""
    root = tmp_path / "root"
    script = root / SEED_SCRIPT
    script.parent.mkdir(parents=True)
    script.write_text((EXPLAIN / "scripts_seed" / "keepalived_pgsql_chk.sh").read_text())
    return root


def test_scripts_at_their_configured_path_are_read_only_for_this_host(tmp_path: Path) -> None:
    root = _fake_root(tmp_path)
    config, diagnostics = parse_file(str(SEED_A), config_id="A")
    mine = read_scripts(config, str(SEED_A), (), this_host=True, root=str(root))
    (st,) = mine.values()
    assert (st.path, st.origin) == (str(root / SEED_SCRIPT), "this-host")
    # the same configuration on a host that is not this machine: this machine's file is not its file
    assert read_scripts(config, str(SEED_A), (), this_host=False, root=str(root)) == {}

    report = explain([HostInput("A", config, tuple(diagnostics), mine), host("B", SEED_B)])
    assert only(report, "fail-open-data-dir").host == "A"
    assert only(report, "locale-string-match").loc.file == str(root / SEED_SCRIPT)  # type: ignore[union-attr]
    assert only(report, "script-not-read").host == "B"
    text = render_text(report)
    assert (
        f"      script read from {root / SEED_SCRIPT} (on this machine, at its configured path; A is this host)" in text
    )
    tracker = to_json(report)["routers"][0]["trackers"][0]
    assert (tracker["script_read_from"], tracker["script_origin"]) == (str(root / SEED_SCRIPT), "this-host")


def test_a_local_copy_changes_nothing_for_hosts_that_are_not_this_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["explain", "-f", f"A={SEED_A}", "-f", f"B={SEED_B}"]) == 0
    without = capsys.readouterr().out
    monkeypatch.setattr(cli_explain, "HOST_ROOT", str(_fake_root(tmp_path)))
    assert cli.main(["explain", "-f", f"A={SEED_A}", "-f", f"B={SEED_B}"]) == 0
    assert capsys.readouterr().out == without
    assert "script read from" not in without and without.count("script-not-read") == 0
    assert without.count("was not found (see --script-dir)") == 2


def test_cli_this_host_reads_its_script_here_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _fake_root(tmp_path)
    monkeypatch.setattr(cli_explain, "HOST_ROOT", str(root))
    assert cli.main(["explain", "--this-host", "B", "-f", f"A={SEED_A}", "-f", f"B={SEED_B}"]) == 0
    out = capsys.readouterr().out
    assert f"script read from {root / SEED_SCRIPT} (on this machine, at its configured path; B is this host)" in out
    assert f"{root / SEED_SCRIPT}:8: warning: B: vrrp_script chk_haproxy matches pg_isready's output" in out
    assert f"{SEED_A}:1: info: A: vrrp_script chk_haproxy: script" in out  # A's copy: not read
    # by default this machine is the host labelled with its short host name
    monkeypatch.setattr(cli_explain, "short_host_name", lambda: "A")
    assert cli.main(["explain", "--json", "-f", f"A={SEED_A}", "-f", f"B={SEED_B}"]) == 0
    trackers = json.loads(capsys.readouterr().out)["routers"][0]["trackers"]
    assert [(t["host"], t["script_origin"]) for t in trackers] == [("A", "this-host"), ("B", None)]
    assert cli.main(["explain", "--this-host", "C", "-f", f"A={SEED_A}"]) == 2
    assert "--this-host C: no -f has that label" in capsys.readouterr().err


def test_this_host_defaults() -> None:
    specs = [("db1", "/srv/conf/db1.conf"), ("db2", "/etc/keepalived/keepalived.conf")]
    assert cli_explain.this_host(specs, "db1") == "db1"  # --this-host
    assert cli_explain.this_host(specs, None) == "db2"  # this machine's own configuration file
    assert cli_explain.this_host([("x", "/a/x.conf"), ("y", "/b/y.conf")], None) is None
