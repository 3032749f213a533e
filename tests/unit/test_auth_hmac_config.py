"""``auth_hmac { ... }`` in keepalived.conf (keepalived 2.4.3 vrrp_parser.c), file:line errors,
and the PASS trap warning."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vipkeeper import cli
from vipkeeper.config.load import parse_file, parse_string
from vipkeeper.config.to_params import router_params
from vipkeeper.core.constants import AUTH_NONE, AUTH_PASS
from vipkeeper.explain import HostInput, explain, read_scripts

HEX = "hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"


def conf(block: str, extra: str = "", version: int = 3) -> str:
    return (
        "vrrp_instance V {\n"  # line 1; auth_hmac at line 5 + the extra lines
        "  interface eth0\n"
        "  virtual_router_id 51\n"
        f"  version {version}\n"
        f"{extra}"
        "  auth_hmac {\n"
        f"{block}"
        "  }\n"
        "  virtual_ipaddress {\n    10.0.0.9\n  }\n"
        "}\n"
    )


def errors(text: str) -> list[str]:
    _, diags = parse_string(text, "k.conf")
    return [str(d) for d in diags if d.is_error]


def warnings(text: str) -> list[str]:
    _, diags = parse_string(text, "k.conf")
    return [str(d) for d in diags if not d.is_error]


def test_full_block_reaches_the_core() -> None:
    cfg, diags = parse_string(
        conf(
            f"    key 1 {HEX}\n    key 2 abcdefghijklmnopqrstuvwxyz0123456789\n    active_key 2\n"
            "    mode permissive\n    anti_replay monotonic\n    time_window 30\n"
        ),
        "k.conf",
    )
    assert not [d for d in diags if d.is_error], diags
    p = router_params(cfg.instances[0])
    assert p.auth_hmac is not None
    assert dict(p.auth_hmac.keys) == {1: bytes(range(32)), 2: b"abcdefghijklmnopqrstuvwxyz0123456789"}
    assert (p.auth_hmac.active_key, p.auth_hmac.mode, p.auth_hmac.anti_replay_time) == (2, "permissive", False)
    assert p.auth_hmac.time_window_s == 30
    assert "0001" not in repr(cfg.instances[0].auth_hmac)  # keys stay out of reprs and logs


def test_defaults_are_enforce_time_and_a_derived_window() -> None:
    cfg, _ = parse_string(conf(f"    key 1 {HEX}\n    active_key 1\n", "  advert_int 3\n"), "k.conf")
    hm = cfg.instances[0].auth_hmac
    assert hm is not None and (hm.mode, hm.anti_replay_time, hm.time_window_s) == ("enforce", True, 9)


@pytest.mark.parametrize(
    ("block", "line", "text"),
    [
        ("    key 1 short\n    active_key 1\n", 6, "length 5 not in range [32, 64]"),
        ("    key 1 hex:00zz\n    active_key 1\n", 6, "not valid hex"),
        (f"    key 0 {HEX}\n    active_key 1\n", 6, "out of range [1, 255]"),
        (f"    key 1 {HEX}\n    key 1 {HEX}\n    active_key 1\n", 7, "duplicate auth_hmac key id 1"),
        (f"    key 1 {HEX}\n    active_key 2\n", 7, "active_key 2 is not defined"),
        (f"    key 1 {HEX}\n", 5, "no active_key"),
        (f"    key 1 {HEX}\n    active_key 1\n    mode strict\n", 8, "must be enforce, permissive or receive-only"),
        (f"    key 1 {HEX}\n    active_key 1\n    anti_replay wall\n", 8, "must be time or monotonic"),
        (f"    key 1 {HEX}\n    active_key 1\n    time_window 301\n", 8, "out of range [1, 300]"),
        ("    key 1 file:/nonexistent/vrrp51\n    active_key 1\n", 6, "cannot be opened"),
    ],
)
def test_errors_name_file_and_line(block: str, line: int, text: str) -> None:
    errs = errors(conf(block))
    assert errs and errs[0].startswith(f"k.conf:{line}: error:"), errs
    assert text in errs[0], errs


def test_strict_mode_requires_enforce() -> None:
    errs = errors(conf(f"    key 1 {HEX}\n    active_key 1\n    mode receive-only\n", "  strict_mode on\n"))
    assert any("strict mode requires auth_hmac mode enforce" in e for e in errs), errs


def test_key_from_a_file(tmp_path: Path) -> None:
    key = tmp_path / "vrrp51"
    key.write_text(HEX + "\n")
    key.chmod(0o600)
    cfg, diags = parse_string(conf(f"    key 1 file:{key}\n    active_key 1\n"), "k.conf")
    assert not diags, diags
    assert cfg.instances[0].auth_hmac is not None and cfg.instances[0].auth_hmac.keys == ((1, bytes(range(32))),)
    os.chmod(key, 0o644)
    assert any("readable by group or others" in w for w in warnings(conf(f"    key 1 file:{key}\n    active_key 1\n")))


@pytest.mark.parametrize(
    ("mode", "sent"), [("receive-only", AUTH_PASS), ("permissive", AUTH_PASS), ("enforce", AUTH_NONE)]
)
def test_the_pass_trap_is_reported_and_pass_kept_until_enforce(mode: str, sent: int) -> None:
    text = conf(
        f"    key 1 {HEX}\n    active_key 1\n    mode {mode}\n",
        "  authentication {\n    auth_type PASS\n    auth_pass secret\n  }\n",
        version=2,
    )
    warns = [w for w in warnings(text) if "dropping legacy auth" in w]
    assert len(warns) == 1 and warns[0].startswith("k.conf:5: warning:"), warns
    cfg, _ = parse_string(text, "k.conf")
    p = router_params(cfg.instances[0])
    assert p.auth_type == AUTH_PASS and p.sent_auth[0] == sent


# --------------------------------------------------------------------------- check and explain

PASS_BLOCK = "  authentication {\n    auth_type PASS\n    auth_pass secret\n  }\n"


def write_host(tmp_path: Path, name: str, block: str, extra: str = PASS_BLOCK, prio: int = 100) -> Path:
    path = tmp_path / f"{name}.conf"
    path.write_text(conf(block, f"  priority {prio}\n" + extra, version=2))
    return path


def test_check_warns_about_the_pass_trap_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_host(tmp_path, "a", f"    key 1 {HEX}\n    active_key 1\n    mode receive-only\n")
    assert cli.main(["check", "-f", str(path)]) == 0
    _, err = capsys.readouterr()
    assert f"{path}:6: warning: vrrp_instance V: auth_hmac (mode receive-only) with authentication" in err
    assert "dropping legacy auth" in err


def test_explain_reports_the_pass_trap_and_auth_hmac_mismatches(tmp_path: Path) -> None:
    a = write_host(tmp_path, "a", f"    key 1 {HEX}\n    active_key 1\n    mode receive-only\n", prio=200)
    b = write_host(tmp_path, "b", f"    key 1 {HEX}\n    active_key 1\n    mode receive-only\n")
    report = explain([_host("A", a), _host("B", b)])
    traps = [f for f in report.findings if f.code == "auth-hmac-pass"]
    assert [(f.host, f.loc and f.loc.line) for f in traps] == [("A", 6), ("B", 6)]
    assert "auth-hmac-mismatch" not in [f.code for f in report.findings]

    c = write_host(tmp_path, "c", f"    key 1 {HEX}\n    active_key 1\n", extra="")
    d = write_host(tmp_path, "d", "    key 1 abcdefghijklmnopqrstuvwxyz0123456789\n    active_key 1\n", extra="")
    e = tmp_path / "e.conf"
    e.write_text(conf("", "  priority 100\n", version=2).replace("  auth_hmac {\n  }\n", ""))
    for other, text in ((d, "does not have (or has another value)"), (e, "has no auth_hmac")):
        found = [f for f in explain([_host("C", c), _host("O", other)]).findings if f.code == "auth-hmac-mismatch"]
        assert len(found) == 1 and found[0].severity == "error" and text in found[0].message, found


def _host(label: str, path: Path) -> HostInput:
    config, diagnostics = parse_file(str(path), config_id=label)
    assert not [d for d in diagnostics if d.is_error], diagnostics
    return HostInput(label, config, tuple(diagnostics), read_scripts(config, str(path), ()))


@pytest.mark.parametrize(("mode", "fit"), [("receive-only", 89), ("permissive", 88), ("enforce", 88)])
def test_a_signing_trailer_takes_room_from_the_vips(mode: str, fit: int) -> None:
    vips = "".join(f"    fd00::{i:x}\n" for i in range(1, 100))
    text = (
        "vrrp_instance V {\n  interface eth0\n  virtual_router_id 51\n"
        f"  auth_hmac {{\n    key 1 {HEX}\n    active_key 1\n    mode {mode}\n  }}\n"
        f"  virtual_ipaddress {{\n{vips}  }}\n}}\n"
    )
    cfg, _ = parse_string(text, "k.conf")
    assert len(cfg.instances[0].vips) == fit  # (1500 - 14 - 40 - 8 [- 28]) // 16
