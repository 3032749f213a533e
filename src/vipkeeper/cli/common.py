"""What the subcommands share: the :class:`Subcommand` record of the command table, the
``-f/--config`` and ``-i/--config-id`` arguments and the default configuration path, and
``--state-dir``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass

#: Where ``-f`` points by default: our own file if present, else keepalived's.
DEFAULT_CONFIG_PATHS = ("/etc/vipkeeper/vipkeeper.conf", "/etc/keepalived/keepalived.conf")
#: The daemon's pid file and control socket directory.
DEFAULT_STATE_DIR = "/run/vipkeeper"


@dataclass(frozen=True, slots=True)
class Subcommand:
    """One ``vipkeeper NAME`` subcommand: a function that adds its arguments to its parser and
    a function ``(args) -> exit status``."""

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
        "-f",
        "--config",
        "--use-file",
        dest="config",
        metavar="FILE",
        default=None,
        help=f"configuration file (default: {' if it exists, else '.join(DEFAULT_CONFIG_PATHS)})",
    )
    parser.add_argument(
        "-i",
        "--config-id",
        dest="config_id",
        metavar="ID",
        default=None,
        help="config id for '@ID' lines (default: the short host name)",
    )


def config_path(args: argparse.Namespace) -> str:
    """The ``-f`` path, else :func:`default_config_path`."""
    return args.config if args.config is not None else default_config_path()


def add_state_dir_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """``--state-dir DIR`` (default :data:`DEFAULT_STATE_DIR`); ``help`` ends with the default."""
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR, help=f"{help} (default {DEFAULT_STATE_DIR})")


def plural(count: int, word: str) -> str:
    """``1 error``, ``2 errors``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
