"""The daemon's pid file: who owns a state directory (no heavy imports here)."""

from __future__ import annotations

import os
from pathlib import Path

PID_FILE = "vipkeeper.pid"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def other_daemon(state_dir: Path) -> int | None:
    """The pid of another live vipkeeper that owns ``state_dir``, or None."""
    try:
        pid = int((state_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    if pid == os.getpid() or pid <= 0:
        return None
    return pid if pid_alive(pid) else None
