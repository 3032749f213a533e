"""The ``vipkeeper`` command line.

Subcommands live in :data:`SUBCOMMANDS`: each is a :class:`Subcommand` with a function that
adds its arguments and a function ``(args) -> exit status``.  To add one, write those two
functions and register them::

    SUBCOMMANDS["status"] = Subcommand("status", "show the state of each instance",
                                       configure_status, run_status)

:func:`add_config_argument` gives the common ``-f/--config`` option.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vipkeeper import __version__

#: Where ``-f`` points by default: our own file if present, else keepalived's.
DEFAULT_CONFIG_PATHS = ("/etc/vipkeeper/vipkeeper.conf", "/etc/keepalived/keepalived.conf")


@dataclass(frozen=True, slots=True)
class Subcommand:
    """One ``vipkeeper NAME`` subcommand."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def default_config_path() -> str:
    """/etc/vipkeeper/vipkeeper.conf if it exists, else /etc/keepalived/keepalived.conf."""
    for path in DEFAULT_CONFIG_PATHS:
        if os.path.exists(path):
            return path
    return DEFAULT_CONFIG_PATHS[-1]


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """``-f/--config FILE`` and ``-i/--config-id ID`` (selects ``@ID`` lines, as keepalived)."""
    parser.add_argument(
        "-f", "--config", "--use-file", dest="config", metavar="FILE", default=None,
        help=f"configuration file (default: {' if it exists, else '.join(DEFAULT_CONFIG_PATHS)})",
    )
    parser.add_argument(
        "-i", "--config-id", dest="config_id", metavar="ID", default=None,
        help="config id for '@ID' lines (default: the short host name)",
    )


def config_path(args: argparse.Namespace) -> str:
    return args.config if args.config is not None else default_config_path()


# -- check ------------------------------------------------------------------------------------


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def configure_check(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


def run_check(args: argparse.Namespace) -> int:
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
        counts = [_plural(errors, "error")] + ([_plural(warnings, "warning")] if warnings else [])
        print(f"{path}: FAILED ({', '.join(counts)})")
        return 1
    parts = [_plural(len(config.instances), "instance")]
    for count, word in (
        (len(config.sync_groups), "sync group"),
        (len(config.scripts), "script"),
        (len(config.pgsql_checks), "pgsql check"),
        (len(config.track_files), "track file"),
        (warnings, "warning"),
    ):
        if count:
            parts.append(_plural(count, word))
    print(f"{path}: OK ({', '.join(parts)})")
    return 0


# -- registry and main ------------------------------------------------------------------------

SUBCOMMANDS: dict[str, Subcommand] = {
    "check": Subcommand("check", "check a configuration file, like 'keepalived -t'", configure_check, run_check),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vipkeeper", description="A VRRP daemon that keeps a virtual IP on the right host.")
    parser.add_argument("--version", action="version", version=f"vipkeeper {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in SUBCOMMANDS.values():
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.configure(p)
        p.set_defaults(_run=command.run)
    return parser


def _register_more() -> None:
    """Subcommands defined in their own modules add themselves here."""
    from vipkeeper import cli_run

    cli_run.register()
    from vipkeeper import cli_explain; cli_explain.register()  # noqa: E702


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vipkeeper`` script; returns the exit status."""
    _register_more()
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    return int(run(args))
