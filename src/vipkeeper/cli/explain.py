"""``vipkeeper explain``: where the VIP sits for every combination of check results.

The I/O half of :mod:`vipkeeper.explain`: parse each host's configuration (``-f [LABEL=]PATH``,
once per host), read the check scripts that can be found, print the report.

Which host is this machine decides where its scripts are read (see
:mod:`vipkeeper.explain.scripts`): ``--this-host LABEL``; else the host whose label is this
machine's short host name (keepalived's default config id), or whose configuration is this
machine's own (``/etc/vipkeeper/vipkeeper.conf``, ``/etc/keepalived/keepalived.conf``);
else none.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys

from vipkeeper.cli.common import DEFAULT_CONFIG_PATHS, plural

HELP = "show which host holds each VIP for every combination of check results, and known traps"

#: The file system of this machine, where a script's configured path is read for this host
#: (tests point it at a temporary directory).
HOST_ROOT = "/"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--config",
        dest="configs",
        metavar="[LABEL=]FILE",
        action="append",
        required=True,
        help="one host's configuration; once per host.  The host label is LABEL, else the file name "
        "without '.conf'; it is also the config id for '@ID' lines",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--check-kind",
        choices=["auto", "primary", "service"],
        default="auto",
        help="primary: at most one host's checks should pass (a database primary check); service: all may "
        "pass; auto (default): primary for vrrp_pgsql and PostgreSQL scripts",
    )
    parser.add_argument(
        "--script-dir",
        metavar="DIR",
        action="append",
        default=[],
        help="also look for check scripts here, by file name (the configuration's own directory is searched too)",
    )
    parser.add_argument(
        "--this-host",
        metavar="LABEL",
        default=None,
        help="the host that is this machine: only its check scripts are read at their configured paths here "
        "(default: the host labelled with this machine's short host name, or given this machine's own "
        "configuration file)",
    )


def split_label(arg: str) -> tuple[str, str]:
    """``LABEL=PATH`` or ``PATH`` (label: the file name without ``.conf``)."""
    label, sep, path = arg.partition("=")
    if sep and label and "/" not in label:
        return label, path
    name = os.path.basename(arg.rstrip("/")) or arg
    return (name[: -len(".conf")] if name.endswith(".conf") and name != ".conf" else name), arg


def short_host_name() -> str:
    return socket.gethostname().split(".", 1)[0]


def this_host(specs: list[tuple[str, str]], given: str | None) -> str | None:
    """The label of the host that is this machine, or None (see the module's docstring)."""
    if given is not None:
        return given
    me = short_host_name()
    for label, _path in specs:
        if label == me:
            return label
    own = {os.path.realpath(p) for p in DEFAULT_CONFIG_PATHS}
    mine = [label for label, path in specs if os.path.realpath(path) in own]
    return mine[0] if len(mine) == 1 else None


def run(args: argparse.Namespace) -> int:
    from vipkeeper.config.lexer import Diagnostic
    from vipkeeper.config.load import parse_file
    from vipkeeper.explain import HostInput, explain, read_scripts, render_text, to_json

    specs = [split_label(a) for a in args.configs]
    labels = [label for label, _ in specs]
    dupes = sorted({label for label in labels if labels.count(label) > 1})
    if dupes:
        print(f"vipkeeper explain: host label {', '.join(dupes)} given twice; use -f LABEL=FILE", file=sys.stderr)
        return 2
    if args.this_host is not None and args.this_host not in labels:
        print(f"vipkeeper explain: --this-host {args.this_host}: no -f has that label", file=sys.stderr)
        return 2
    local = this_host(specs, args.this_host)
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
            counts = [plural(errors, "error")] + ([plural(warnings, "warning")] if warnings else [])
            print(f"{path}: FAILED ({', '.join(counts)})", file=sys.stderr)
            continue
        scripts = read_scripts(config, path, args.script_dir, this_host=label == local, root=HOST_ROOT)
        hosts.append(HostInput(label, config, tuple(diagnostics), scripts))
    if failed:
        if args.json:
            print(
                json.dumps(
                    {
                        "format": 1,
                        "error": "configuration errors",
                        "diagnostics": [
                            {
                                "host": label,
                                "severity": d.severity,
                                "file": d.file,
                                "line": d.line or None,
                                "message": d.message,
                            }
                            for label, d in all_diagnostics
                        ],
                    },
                    indent=2,
                )
            )
        return 1
    report = explain(hosts, check_kind=args.check_kind)
    if args.json:
        print(json.dumps(to_json(report), indent=2))
    else:
        sys.stdout.write(render_text(report))
    return 0
