"""Running external scripts (vrrp_script checks, notify scripts) without
blocking the protocol loop.

Each run gets its own process group (session), no stdin, and a clean fd
table; a timeout kills the whole group.  After a script exits, anything left
in its group is killed too, so no stray children accumulate.
"""

from __future__ import annotations

import asyncio
import glob
import grp
import logging
import os
import pwd
import shlex
import signal
import stat
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, slots=True)
class RunAs:
    user: str
    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class ScriptResult:
    ok: bool
    reason: str  # "exit 0", "exit 1", "signal 9", "timeout after 2s", "cannot run: ..."
    duration_s: float
    exit_code: int | None = None
    timed_out: bool = False


def script_path_env() -> str:
    """PATH for scripts: the daemon's own PATH (or a sane default), then every
    PostgreSQL client directory of Debian's layout, newest first, so that a
    check like the seed's finds ``pg_isready``."""
    parts = [p for p in os.environ.get("PATH", DEFAULT_PATH).split(":") if p]
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        if d not in parts:
            parts.append(d)
    return ":".join(parts)


def _version_key(path: str) -> tuple[int, ...]:
    ver = path.split("/")[-2]
    return tuple(int(x) for x in ver.split(".") if x.isdigit())


def script_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("LANG", "LC_ALL", "TZ", "HOME", "TMPDIR")}
    env["PATH"] = script_path_env()
    return env


def split_command(command: str) -> list[str]:
    """keepalived splits ``script "..."`` into words itself (no shell)."""
    return shlex.split(command)


def resolve_user(name: str | None, group: str | None = None) -> RunAs | None:
    """The account to run as, or None if ``name`` does not exist."""
    if name is None:
        return None
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        return None
    gid = pw.pw_gid
    if group is not None:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            return None
    return RunAs(name, pw.pw_uid, gid)


def insecure_reason(path: str, run_as_uid: int) -> str | None:
    """keepalived's ``enable_script_security`` rule: a script run as root must
    not be writable, nor any directory above it, by anyone but root (and a
    script run as another user not writable by others).  Returns why not, or
    None when safe.  A missing file is reported too."""
    p = os.path.abspath(path)
    try:
        os.stat(p)
    except OSError as exc:
        return f"cannot stat {p}: {exc.strerror}"
    while True:
        st = os.stat(p)
        if st.st_uid not in (0, run_as_uid):
            return f"{p} is owned by uid {st.st_uid}"
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not (stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX):
            if st.st_mode & stat.S_IWOTH or st.st_gid != 0:
                return f"{p} is writable by {'others' if st.st_mode & stat.S_IWOTH else f'group {st.st_gid}'}"
        if p == "/":
            return None
        p = os.path.dirname(p)


async def run_script(
    argv: list[str],
    *,
    timeout_s: float | None,
    run_as: RunAs | None = None,
    env: dict[str, str] | None = None,
) -> ScriptResult:
    """Run ``argv`` to completion or timeout; never raises for the script's sake."""
    t0 = time.monotonic()
    kw: dict = {}
    if run_as is not None and run_as.uid != os.geteuid():
        kw.update(user=run_as.uid, group=run_as.gid, extra_groups=[])
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            env=env if env is not None else script_env(),
            **kw,
        )
    except (OSError, ValueError, PermissionError) as exc:
        return ScriptResult(False, f"cannot run: {exc}", time.monotonic() - t0)
    timed_out = False
    try:
        rc = await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        timed_out = True
        _kill_group(proc.pid)
        rc = await proc.wait()
    except asyncio.CancelledError:
        _kill_group(proc.pid)
        await asyncio.shield(proc.wait())
        raise
    _kill_group(proc.pid)  # leftovers of a script that exited
    dt = time.monotonic() - t0
    if timed_out:
        return ScriptResult(False, f"timeout after {timeout_s:g}s", dt, None, True)
    if rc < 0:
        return ScriptResult(False, f"signal {-rc} ({_signame(-rc)})", dt, rc)
    return ScriptResult(rc == 0, f"exit {rc}", dt, rc)


def _signame(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return "unknown"


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
