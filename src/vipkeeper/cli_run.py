"""``vipkeeper run``: the daemon in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from .cli import add_config_argument, config_path
from vipkeeper.config.load import parse_file
from .logsetup import setup_logging

log = logging.getLogger("vipkeeper")

DEFAULT_STATE_DIR = "/run/vipkeeper"


def configure_run(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR,
                        help=f"pid file and control socket directory (default {DEFAULT_STATE_DIR})")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", default="text", choices=["text", "json"])
    parser.add_argument("--syslog", action="store_true", help="also log to syslog (/dev/log)")
    parser.add_argument("--metrics-listen", metavar="HOST:PORT", default=None,
                        help="serve Prometheus metrics (overrides global_defs metrics_listen)")


def run_run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, args.log_format, syslog=args.syslog)
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
    from .io.stale_vips import remove_stale_vips

    remove_stale_vips(config, Path(args.state_dir))  # before the slow imports: a crash's VIPs go now
    from .daemon import run_daemon  # the asyncio shell, Linux only

    try:
        return asyncio.run(run_daemon(config, Path(args.state_dir), args.config_id, args.metrics_listen))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        log.error("fatal: %s", exc)
        return 1


def _state_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR,
                        help=f"the daemon's state directory (default {DEFAULT_STATE_DIR})")


def configure_status(parser: argparse.ArgumentParser) -> None:
    _state_dir_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the status JSON (stable, see README)")


def run_status(args: argparse.Namespace) -> int:
    import json

    from .control import request
    from .status import render_table

    try:
        reply = request(Path(args.state_dir), "status")
    except (OSError, ValueError) as exc:
        print(f"vipkeeper status: cannot reach the daemon in {args.state_dir}: {exc}", file=sys.stderr)
        return 1
    st = reply.get("status", {})
    print(json.dumps(st, indent=2) if args.json else render_table(st))
    return 0


def configure_reload(parser: argparse.ArgumentParser) -> None:
    _state_dir_argument(parser)


def run_reload(args: argparse.Namespace) -> int:
    from .control import request

    try:
        reply = request(Path(args.state_dir), "reload", timeout_s=60)
    except (OSError, ValueError) as exc:
        print(f"vipkeeper reload: cannot reach the daemon in {args.state_dir}: {exc}", file=sys.stderr)
        return 1
    if reply.get("ok"):
        print("reloaded")
        return 0
    for e in reply.get("errors", []) or [reply.get("error", "failed")]:
        print(e, file=sys.stderr)
    print("reload refused: the daemon keeps its running configuration", file=sys.stderr)
    return 1


def register() -> None:
    from .cli import SUBCOMMANDS, Subcommand

    SUBCOMMANDS["run"] = Subcommand("run", "run the VRRP daemon in the foreground", configure_run, run_run)
    SUBCOMMANDS["status"] = Subcommand("status", "show the running daemon's instances, trackers and counters",
                                       configure_status, run_status)
    SUBCOMMANDS["reload"] = Subcommand("reload", "re-read the configuration (like SIGHUP), report errors",
                                       configure_reload, run_reload)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(1)
