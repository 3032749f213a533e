"""Scripts without a user to run them as: keepalived 2.2.7 removes them while reading the
configuration (vrrp_parser.c vrrp_vscript_end_handler, lib/notify.c get_default_script_user)
and runs without them.  vipkeeper does the same: ``check`` fails as ``keepalived -t`` does,
the daemon's loader keeps the instance, without the script."""

from __future__ import annotations

from pathlib import Path

import pytest

from vipkeeper import cli
from vipkeeper.config.blocks import vrrp_script
from vipkeeper.config.load import load_config, parse_string

CONF = """global_defs {
    enable_script_security
}
vrrp_script chk {
    script "/bin/true"
    weight 0
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.0.0.1
    }
    track_script {
        chk
    }
}
"""


def accounts(monkeypatch: pytest.MonkeyPatch, *existing: str) -> None:
    monkeypatch.setattr(vrrp_script, "account_exists", lambda user, group=None: user in existing)


def diags(text: str) -> list[tuple[str, int, bool, str]]:
    _config, diagnostics = parse_string(text, path="t.conf", config_id="testhost")
    return [(d.severity, d.line, d.fatal, d.message) for d in diagnostics]


def test_no_user_under_script_security_removes_the_script_as_keepalived(monkeypatch, tmp_path: Path) -> None:
    accounts(monkeypatch, "root")
    got = diags(CONF)
    # keepalived -t: "(Line 7) Unable to set default user keepalived_script for script",
    # "(Line 7) Unable to set default user for vrrp script chk - removing",
    # "(Line 16) (VI_1) track script chk not found, ignoring..."
    assert [(s, ln, fatal) for s, ln, fatal, _m in got] == [
        ("error", 7, False),
        ("error", 7, False),
        ("error", 16, False),
    ]
    assert "Unable to set default user keepalived_script" in got[0][3]
    assert "vrrp script chk; script removed" in got[1][3]
    assert "track script chk not found" in got[2][3]
    path = tmp_path / "k.conf"
    path.write_text(CONF)
    config = load_config(str(path))  # the daemon runs, without the script
    assert config.scripts == {}
    assert [i.name for i in config.instances] == ["VI_1"] and config.instances[0].track_scripts == ()
    assert cli.main(["check", "-f", str(path)]) == 1  # as keepalived -t


def test_keepalived_script_account_or_no_security_keeps_it(monkeypatch) -> None:
    accounts(monkeypatch, "keepalived_script")
    assert diags(CONF) == []
    accounts(monkeypatch)
    assert diags(CONF.replace("enable_script_security", "")) == []  # root, as keepalived (no -t message)


def test_missing_script_user_or_own_user(monkeypatch) -> None:
    accounts(monkeypatch, "root")
    got = diags(CONF.replace("enable_script_security", "script_user nosuch"))
    assert [(s, ln) for s, ln, _f, _m in got] == [("error", 2), ("error", 7), ("error", 16)]
    assert "Error setting global script uid/gid" in got[0][3]
    got = diags(CONF.replace("weight 0", "weight 0\n    user nosuch"))
    assert [(s, ln) for s, ln, _f, _m in got] == [("error", 7), ("error", 17)]
    assert "user nosuch: no such user or group; script removed" in got[0][3]
    assert diags(CONF.replace("weight 0", "weight 0\n    user root")) == []


def test_only_scripts_without_their_own_user_are_removed(monkeypatch) -> None:
    accounts(monkeypatch, "root")
    two = CONF.replace(
        "vrrp_script chk {", 'vrrp_script ok {\n    script "/bin/true"\n    user root\n}\nvrrp_script chk {'
    )
    config, _d = parse_string(two, path="t.conf")
    assert list(config.scripts) == ["ok"]


def test_a_bare_command_is_found_in_path_before_the_security_check(monkeypatch, tmp_path: Path) -> None:
    """keepalived (lib/notify.c check_script_secure) searches PATH for a bare name such as
    ``pidof haproxy``; it is not a file in the current directory."""
    from vipkeeper.config.model import GlobalDefs
    from vipkeeper.daemon.trackers import ScriptUsers

    monkeypatch.chdir(tmp_path)
    gd = GlobalDefs(script_user="root", enable_script_security=True)
    run_as, refused = ScriptUsers().resolve(None, None, "sh -c true", gd)
    assert run_as is not None and run_as.uid == 0
    assert refused is None
    _run_as, refused = ScriptUsers().resolve(None, None, "no-such-command-vk --x", gd)
    assert refused is not None and "no-such-command-vk" in refused
