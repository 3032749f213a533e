"""``vipkeeper run``: the daemon in the foreground.

It parses the configuration, removes the VIPs a killed daemon left behind
(:func:`vipkeeper.io.stale_vips.remove_stale_vips`) and only then imports the daemon (asyncio,
pyroute2): this module and what it imports before that call must stay light
(``tests/unit/test_cli.py`` checks that none of them is loaded by then).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from vipkeeper.cli.common import add_config_argument, add_state_dir_argument, config_path

log = logging.getLogger(__name__)

HELP = "run the VRRP daemon in the foreground"


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    add_state_dir_argument(parser, "pid file and control socket directory")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", default="text", choices=["text", "json"])
    parser.add_argument("--syslog", action="store_true", help="also log to syslog (/dev/log)")
    parser.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        default=None,
        help="serve Prometheus metrics (overrides global_defs metrics_listen)",
    )


def run(args: argparse.Namespace) -> int:
    from vipkeeper.config.load import parse_file
    from vipkeeper.logsetup import setup_logging

    setup_logging(args.log_level, args.log_format, syslog=args.syslog)
    path = config_path(args)
    config, diagnostics = parse_file(path, config_id=args.config_id)
    errors = [d for d in diagnostics if d.stops_daemon]
    for d in diagnostics:
        (log.error if d.severity == "error" else log.warning)("%s", d)
    if errors:
        log.error("%s: %d error(s); not starting", path, len(errors))
        return 1
    if not config.instances:
        log.error("%s: no vrrp_instance; nothing to do", path)
        return 1
    from vipkeeper.io.stale_vips import remove_stale_vips

    remove_stale_vips(config, Path(args.state_dir))  # before the slow imports: a crash's VIPs go now
    from vipkeeper.lazy_ssl import import_asyncio, needs_tls

    import_asyncio(needs_tls(config, args.metrics_listen))  # no OpenSSL for a plain config
    import asyncio

    from vipkeeper.daemon.app import run_daemon  # the asyncio shell, Linux only

    try:
        return asyncio.run(run_daemon(config, Path(args.state_dir), args.config_id, args.metrics_listen))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        log.error("fatal: %s", exc)
        return 1
