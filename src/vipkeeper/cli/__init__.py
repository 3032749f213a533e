"""The ``vipkeeper`` command line: :func:`main` and the table of subcommands.

:data:`COMMANDS` is a static table of :class:`~vipkeeper.cli.common.Subcommand` entries, each
with a function that adds its arguments and a function ``(args) -> exit status``, from one
module per subcommand.  To add a subcommand, write those two functions in a module of this
package and add its entry to the table; nothing registers itself at run time.  The subcommand
modules import only :mod:`vipkeeper.cli.common`, never this module, and keep their heavy
imports inside their run functions.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vipkeeper import __version__
from vipkeeper.cli import check, explain, run, status
from vipkeeper.cli.common import Subcommand

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS: tuple[Subcommand, ...] = (
    Subcommand("check", check.HELP, check.configure, check.run),
    Subcommand("run", run.HELP, run.configure, run.run),
    Subcommand("status", status.STATUS_HELP, status.configure_status, status.run_status),
    Subcommand("reload", status.RELOAD_HELP, status.configure_reload, status.run_reload),
    Subcommand("explain", explain.HELP, explain.configure, explain.run),
)


def build_parser(commands: Sequence[Subcommand] | None = None) -> argparse.ArgumentParser:
    """The argument parser for ``commands`` (default: :data:`COMMANDS`)."""
    parser = argparse.ArgumentParser(
        prog="vipkeeper", description="A VRRP daemon that keeps a virtual IP on the right host."
    )
    parser.add_argument("--version", action="version", version=f"vipkeeper {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS if commands is None else commands:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.configure(p)
        p.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vipkeeper`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run_command = getattr(args, "_run", None)
    if run_command is None:
        parser.print_help(sys.stderr)
        return 2
    return int(run_command(args))
