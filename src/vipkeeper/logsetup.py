"""Logging for the daemon: to stderr (journald picks it up), text or JSON."""

from __future__ import annotations

import json
import logging
import sys
import time


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, separators=(",", ":"))


def setup_logging(level: str = "info", fmt: str = "text", syslog: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
        )
    # pyroute2 logs every netlink message at DEBUG: keep only its warnings.
    handler.addFilter(lambda r: r.levelno >= logging.WARNING or not r.name.startswith("pyroute2"))
    handlers: list[logging.Handler] = [handler]
    if syslog:
        from logging.handlers import SysLogHandler

        sh = SysLogHandler(address="/dev/log", facility=SysLogHandler.LOG_DAEMON)
        sh.setFormatter(logging.Formatter("vipkeeper[%(process)d]: %(levelname)s %(name)s: %(message)s"))
        sh.addFilter(handler.filters[0])
        handlers.append(sh)
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
