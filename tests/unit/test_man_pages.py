"""The man pages' one source (docs/man/*.rst, built by rst2man for the package) keeps up with
the code: every command and option of ``vipkeeper``, every vipkeeper extension keyword; both
pages build without a warning and render with man.  The package's example config is valid."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_binary
from vipkeeper.cli import COMMANDS, build_parser, main
from vipkeeper.config.blocks.vrrp_pgsql import VRRP_PGSQL_KEYWORDS

ROOT = Path(__file__).resolve().parents[2]
MAN8 = ROOT / "docs/man/vipkeeper.8.rst"
MAN5 = ROOT / "docs/man/vipkeeper.conf.5.rst"
EXAMPLE = ROOT / "packaging/deb/vipkeeper.conf.example"
# vipkeeper's additions to keepalived.conf (the "vipkeeper extension" keywords of config/blocks)
# (README "keepalived compatibility": vipkeeper extensions)
EXTENSIONS = ("metrics_listen", "fast_preempt", "v3_checksum_as_v2", "garp_interval", "gna_interval", "vrrp_pgsql")


def subcommand_options() -> dict[str, list[str]]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        name: [o for a in p._actions for o in a.option_strings if o.startswith("--") and o != "--help"]
        for name, p in sub.choices.items()
    }


def test_vipkeeper_8_documents_every_command_and_option() -> None:
    text = MAN8.read_text()
    opts = subcommand_options()
    assert sorted(opts) == sorted(c.name for c in COMMANDS)
    missing = [f"{cmd} {o}" for cmd, options in opts.items() for o in [cmd, *options] if f"**{o}**" not in text]
    assert missing == []
    for section in ("SIGNALS", "FILES", "EXIT STATUS", "HTTP ENDPOINTS"):
        assert f"\n{section}\n" in text


def test_vipkeeper_conf_5_documents_every_extension() -> None:
    text = MAN5.read_text()
    missing = [k for k in (*EXTENSIONS, *VRRP_PGSQL_KEYWORDS) if f"**{k}**" not in text]
    assert missing == []


@pytest.mark.parametrize("source", [MAN8, MAN5], ids=lambda p: p.name)
def test_man_page_builds_without_warnings_and_renders(source: Path, tmp_path: Path) -> None:
    out = tmp_path / source.stem
    r = subprocess.run([require_binary("rst2man"), "--halt=warning", str(source), str(out)], capture_output=True,
                       text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    env = {"MANPAGER": "cat", "MANWIDTH": "100", "LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([require_binary("man"), "--warnings", "-l", str(out)], capture_output=True, text=True,
                       timeout=60, env=env)  # fmt: skip
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "NAME" in r.stdout and "SEE ALSO" in r.stdout


def test_the_packaged_example_config_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-f", str(EXAMPLE)]) == 0
    assert "OK (1 instance, 1 script, 1 pgsql check)" in capsys.readouterr().out
