"""``vipkeeper status`` and ``vipkeeper reload``: the client side of the daemon's control socket."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vipkeeper.cli.common import add_state_dir_argument

STATUS_HELP = "show the running daemon's instances, trackers and counters"
RELOAD_HELP = "re-read the configuration (like SIGHUP), report errors"


def configure_status(parser: argparse.ArgumentParser) -> None:
    add_state_dir_argument(parser, "the daemon's state directory")
    parser.add_argument("--json", action="store_true", help="print the status JSON (stable, see README)")


def run_status(args: argparse.Namespace) -> int:
    import json

    from vipkeeper.daemon.control import request
    from vipkeeper.daemon.status import render_table

    try:
        reply = request(Path(args.state_dir), "status")
    except (OSError, ValueError) as exc:
        print(f"vipkeeper status: cannot reach the daemon in {args.state_dir}: {exc}", file=sys.stderr)
        return 1
    st = reply.get("status", {})
    print(json.dumps(st, indent=2) if args.json else render_table(st))
    return 0


def configure_reload(parser: argparse.ArgumentParser) -> None:
    add_state_dir_argument(parser, "the daemon's state directory")


def run_reload(args: argparse.Namespace) -> int:
    from vipkeeper.daemon.control import request

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
