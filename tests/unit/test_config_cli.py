"""``vipkeeper check``: exit status, one diagnostic per stderr line, a summary on stdout."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from vipkeeper import cli
from vipkeeper.cli import common

CONFIGS = Path(__file__).parent / "configs"
SEED = CONFIGS / "valid" / "seed.conf"


def test_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "-f", str(SEED)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{SEED}: OK (1 instance, 1 script)\n"
    assert err == ""


def test_check_with_warnings_only_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    path = CONFIGS / "broken" / "unknown_keyword.conf"
    assert cli.main(["check", "-f", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{path}: OK (1 instance, 4 warnings)\n"
    lines = err.splitlines()
    assert lines[0] == f"{path}:3: warning: keyword 'smtp_server' in global_defs is not supported by vipkeeper, ignored"
    assert len(lines) == 4 and all(line.startswith(f"{path}:") and ": warning: " in line for line in lines)


def test_check_errors_exit_1_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    path = CONFIGS / "broken" / "undefined_track_script.conf"
    assert cli.main(["check", "-f", str(path)]) == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"{path}:16: error: vrrp_instance VI_1: track_script 'chk_missing' is not defined "
        "(no vrrp_script, vrrp_pgsql or vrrp_dcs 'chk_missing')",
        f"{path}:20: error: vrrp_instance VI_1: track_file 'chk_haproxy' is not defined (no track_file 'chk_haproxy')",
    ]
    assert out == f"{path}: FAILED (2 errors)\n"


def test_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nope.conf"
    assert cli.main(["check", "-f", str(path)]) == 1
    _out, err = capsys.readouterr()
    assert err.startswith(f"{path}: error: cannot read configuration file")


def test_check_config_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "k.conf"
    path.write_text(SEED.read_text().replace("priority 100", "@nodeA priority 100\n@nodeB priority 0"))
    assert cli.main(["check", "-f", str(path), "-i", "nodeA"]) == 0
    assert cli.main(["check", "-f", str(path), "--config-id", "nodeB"]) == 1
    capsys.readouterr()


def test_default_config_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common.os.path, "exists", lambda p: p == "/etc/vipkeeper/vipkeeper.conf")
    assert common.default_config_path() == "/etc/vipkeeper/vipkeeper.conf"
    monkeypatch.setattr(common.os.path, "exists", lambda p: False)
    assert common.default_config_path() == "/etc/keepalived/keepalived.conf"
    args = cli.build_parser().parse_args(["check"])
    assert args.config is None and common.config_path(args) == "/etc/keepalived/keepalived.conf"


def test_no_subcommand_prints_usage_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "check" in capsys.readouterr().err


def test_the_command_table_is_static_and_main_dispatches_through_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [c.name for c in cli.COMMANDS] == ["check", "run", "status", "reload", "explain"]
    before = cli.COMMANDS
    assert cli.main(["check", "-f", str(SEED)]) == 0
    assert cli.COMMANDS is before  # main() adds nothing

    seen: list[argparse.Namespace] = []

    def configure(p: argparse.ArgumentParser) -> None:
        common.add_config_argument(p)
        p.add_argument("--json", action="store_true")

    def run(args: argparse.Namespace) -> int:
        seen.append(args)
        return 3

    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, common.Subcommand("frobnicate", "test", configure, run)))
    assert cli.main(["frobnicate", "--json", "-f", "x.conf"]) == 3
    assert seen[0].json and seen[0].config == "x.conf"


def test_python_dash_m(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "vipkeeper", "check", "-f", str(SEED)], capture_output=True, text=True)
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{SEED}: OK (1 instance, 1 script)\n", "")


def test_check_accepts_auth_type_ah(capsys: pytest.CaptureFixture[str]) -> None:
    """IPsec-AH is implemented; like keepalived, an initial state MASTER is cleared (warning)."""
    path = CONFIGS / "broken" / "auth_ah.conf"
    assert cli.main(["check", "-f", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"{path}:4: warning: vrrp_instance VI_1: initial state MASTER is incompatible with auth_type AH "
        "(unless priority 255); using BACKUP"
    ]
    assert out == f"{path}: OK (1 instance, 1 warning)\n"
