"""``vipkeeper check``: like ``keepalived -t``."""

from __future__ import annotations

import argparse
import sys

from vipkeeper.cli.common import add_config_argument, config_path, plural

HELP = "check a configuration file, like 'keepalived -t'"


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Like ``keepalived -t``: report every problem; exit 0 when there is no error.

    Each diagnostic is one line on stderr (``FILE:LINE: error: message``); a one-line
    summary goes to stdout.
    """
    from vipkeeper.config.load import parse_file

    path = config_path(args)
    config, diagnostics = parse_file(path, config_id=args.config_id)
    for d in diagnostics:
        print(d, file=sys.stderr)
    errors = sum(1 for d in diagnostics if d.is_error)
    warnings = len(diagnostics) - errors
    if errors:
        counts = [plural(errors, "error")] + ([plural(warnings, "warning")] if warnings else [])
        print(f"{path}: FAILED ({', '.join(counts)})")
        return 1
    parts = [plural(len(config.instances), "instance")]
    for count, word in (
        (len(config.sync_groups), "sync group"),
        (len(config.scripts), "script"),
        (len(config.pgsql_checks), "pgsql check"),
        (len(config.dcs_checks), "dcs check"),
        (len(config.track_files), "track file"),
        (len(config.track_processes), "tracked process"),
        (warnings, "warning"),
    ):
        if count:
            parts.append(plural(count, word))
    print(f"{path}: OK ({', '.join(parts)})")
    return 0
