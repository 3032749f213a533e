"""``vipkeeper run``: the daemon in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from .cli import add_config_argument, config_path
from .config.parser import parse_file
from .logsetup import setup_logging

log = logging.getLogger("vipkeeper")

DEFAULT_STATE_DIR = "/run/vipkeeper"


def configure_run(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR,
                        help=f"pid file and control socket directory (default {DEFAULT_STATE_DIR})")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", default="text", choices=["text", "json"])


def run_run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, args.log_format)
    path = config_path(args)
    config, diagnostics = parse_file(path, config_id=args.config_id)
    errors = [d for d in diagnostics if d.severity == "error"]
    for d in diagnostics:
        (log.error if d.severity == "error" else log.warning)("%s", d)
    if errors:
        log.error("%s: %d error(s); not starting", path, len(errors))
        return 1
    if not config.instances:
        log.error("%s: no vrrp_instance; nothing to do", path)
        return 1
    from .daemon import run_daemon  # the asyncio shell, Linux only

    try:
        return asyncio.run(run_daemon(config, Path(args.state_dir)))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        log.error("fatal: %s", exc)
        return 1


def register() -> None:
    from .cli import SUBCOMMANDS, Subcommand

    SUBCOMMANDS["run"] = Subcommand("run", "run the VRRP daemon in the foreground", configure_run, run_run)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(1)
