"""``vipkeeper explain``: where the VIP sits for every combination of check results.

The I/O half of :mod:`vipkeeper.explain`: parse each host's configuration (``-f [LABEL=]PATH``,
once per host), read the check scripts that can be found, print the report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from .config.lexer import Diagnostic
from .config.model import Config
from vipkeeper.config.load import parse_file
from .explain import HostInput, ScriptText, explain, render_text, script_path, to_json

#: Read at most this much of a check script (they are short shell scripts).
MAX_SCRIPT_BYTES = 256 * 1024


def configure_explain(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f", "--config", dest="configs", metavar="[LABEL=]FILE", action="append", required=True,
        help="one host's configuration; once per host.  The host label is LABEL, else the file name "
        "without '.conf'; it is also the config id for '@ID' lines",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--check-kind", choices=["auto", "primary", "service"], default="auto",
        help="primary: at most one host's checks should pass (a database primary check); service: all may "
        "pass; auto (default): primary for vrrp_pgsql and PostgreSQL scripts",
    )
    parser.add_argument(
        "--script-dir", metavar="DIR", action="append", default=[],
        help="also look for check scripts here, by file name (the configuration's own directory is searched too)",
    )


def split_label(arg: str) -> tuple[str, str]:
    """``LABEL=PATH`` or ``PATH`` (label: the file name without ``.conf``)."""
    label, sep, path = arg.partition("=")
    if sep and label and "/" not in label:
        return label, path
    name = os.path.basename(arg.rstrip("/")) or arg
    return (name[: -len(".conf")] if name.endswith(".conf") and name != ".conf" else name), arg


def _read_text(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(MAX_SCRIPT_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None


def read_scripts(config: Config, config_path: str, script_dirs: Sequence[str]) -> dict[str, ScriptText]:
    """The text of each vrrp_script's file: at its path, else by name next to the configuration
    or in ``script_dirs`` (configurations are often collected away from their hosts)."""
    found: dict[str, ScriptText] = {}
    base = os.path.dirname(config_path)
    for s in config.scripts.values():
        path = script_path(s.script)
        if not path or path in found:
            continue
        name = os.path.basename(path)
        candidates = [path if os.path.isabs(path) else os.path.join(base, path), os.path.join(base, name)]
        candidates += [os.path.join(d, name) for d in script_dirs]
        for c in candidates:
            if os.path.isfile(c):
                text = _read_text(c)
                if text is not None:
                    found[path] = ScriptText(c, text)
                    break
    return found


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def run_explain(args: argparse.Namespace) -> int:
    specs = [split_label(a) for a in args.configs]
    labels = [label for label, _ in specs]
    dupes = sorted({label for label in labels if labels.count(label) > 1})
    if dupes:
        print(f"vipkeeper explain: host label {', '.join(dupes)} given twice; use -f LABEL=FILE", file=sys.stderr)
        return 2
    hosts: list[HostInput] = []
    failed = False
    all_diagnostics: list[tuple[str, Diagnostic]] = []
    for label, path in specs:
        config, diagnostics = parse_file(path, config_id=label)
        for d in diagnostics:
            print(d, file=sys.stderr)
            all_diagnostics.append((label, d))
        errors = sum(1 for d in diagnostics if d.is_error)
        if errors:
            failed = True
            warnings = len(diagnostics) - errors
            counts = [_plural(errors, "error")] + ([_plural(warnings, "warning")] if warnings else [])
            print(f"{path}: FAILED ({', '.join(counts)})", file=sys.stderr)
            continue
        hosts.append(HostInput(label, config, tuple(diagnostics), read_scripts(config, path, args.script_dir)))
    if failed:
        if args.json:
            print(json.dumps({"format": 1, "error": "configuration errors", "diagnostics": [
                {"host": label, "severity": d.severity, "file": d.file, "line": d.line or None, "message": d.message}
                for label, d in all_diagnostics
            ]}, indent=2))
        return 1
    report = explain(hosts, check_kind=args.check_kind)
    if args.json:
        print(json.dumps(to_json(report), indent=2))
    else:
        sys.stdout.write(render_text(report))
    return 0


def register() -> None:
    from .cli import SUBCOMMANDS, Subcommand

    SUBCOMMANDS["explain"] = Subcommand(
        "explain", "show which host holds each VIP for every combination of check results, and known traps",
        configure_explain, run_explain,
    )
