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


def claim(state_dir: Path) -> int | None:
    """Write our pid file (atomically); if another live vipkeeper owns ``state_dir``, write
    nothing and return its pid."""
    state_dir.mkdir(parents=True, exist_ok=True)
    other = other_daemon(state_dir)
    if other is not None:
        return other
    path = state_dir / PID_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{os.getpid()}\n")
    tmp.replace(path)
    return None


def release(state_dir: Path) -> None:
    """Remove the pid file if it is still ours."""
    path = state_dir / PID_FILE
    try:
        if int(path.read_text().strip()) == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass
