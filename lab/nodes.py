"""Running daemons on lab hosts: vipkeeper (and keepalived, for interop).

Test and demo infrastructure, not part of the daemon.  Each node gets its
own directory (config, state dir, pid files, log).  With ``private_var_lib``
the daemon runs in a private mount namespace where ``/var/lib`` is an empty
tmpfs and ``/var/lib/pgsql`` is the node's own ``pgsql`` directory: the
seed's check script, which looks for ``/var/lib/pgsql/12/data/standby.signal``,
then sees a different file on every host, unchanged (see :mod:`lab.seed`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from lab.netns import Lab


class Node:
    """One daemon on one lab host."""

    def __init__(self, lab: Lab, host: str, workdir: Path, *, kind: str = "vipkeeper") -> None:
        self.lab = lab
        self.host = host
        self.kind = kind
        self.dir = workdir / f"{kind}-{host}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = self.dir / "state"
        self.conf = self.dir / ("vipkeeper.conf" if kind == "vipkeeper" else "keepalived.conf")
        self.log_path = self.dir / "daemon.log"
        self.pgsql_dir = self.dir / "pgsql"
        self.bin_dir = self.dir / "bin"  # put first on the daemon's PATH (fake tools for tests)
        self.proc: subprocess.Popen | None = None
        self._log = None

    # ------------------------------------------------------------ control

    def write_config(self, text: str) -> Path:
        self.conf.write_text(text)
        return self.conf

    def start(self, *, private_var_lib: bool = False, log_level: str = "debug", extra_env: dict | None = None) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.kind == "vipkeeper":
            argv = [
                sys.executable,
                "-m",
                "vipkeeper",
                "run",
                "-f",
                str(self.conf),
                "--state-dir",
                str(self.state_dir),
                "--log-level",
                log_level,
            ]
        else:
            # -l: log to stdout (our log file); -G: not to the host's syslog as well
            argv = [
                "keepalived",
                "-P",
                "-n",
                "-l",
                "-D",
                "-G",
                "-f",
                str(self.conf),
                "-p",
                str(self.state_dir / "keepalived.pid"),
                "-r",
                str(self.state_dir / "vrrp.pid"),
            ]
        if private_var_lib:
            self.pgsql_dir.mkdir(parents=True, exist_ok=True)
            inner = (
                "set -e; mount --make-rprivate /; mount -t tmpfs vk-var-lib /var/lib; "
                f"mkdir -p /var/lib/pgsql; mount --bind {shlex.quote(str(self.pgsql_dir))} /var/lib/pgsql; "
                "exec " + " ".join(shlex.quote(a) for a in argv)
            )
            argv = ["unshare", "--mount", "--", "sh", "-c", inner]
        env = dict(os.environ)
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        env["PATH"] = f"{self.bin_dir}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
        env["PYTHONUNBUFFERED"] = "1"
        if extra_env:
            env.update(extra_env)
        self._log = open(self.log_path, "ab")
        self.proc = self.lab.popen(self.host, argv, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def send_signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # ip netns exec / unshare exec into the daemon: the pid is the daemon's.
            os.kill(self.proc.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10) -> int | None:
        """Signal and wait; returns the exit code (negative: killed by signal)."""
        if self.proc is None:
            return None
        self.send_signal(sig)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(5)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def kill(self) -> None:
        """SIGKILL: the daemon gets no chance to clean up (a crash)."""
        self.stop(signal.SIGKILL)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, needle: str, timeout_s: float) -> bool:
        return Lab.wait_for(lambda: needle in self.log(), timeout_s, 0.05)


def wait_single_holder(lab: Lab, vip: str, timeout_s: float) -> list[str]:
    """Wait until exactly one host holds ``vip``; return the holders seen last."""
    last: list[str] = []

    def one() -> bool:
        nonlocal last
        last = lab.holders(vip)
        return len(last) == 1

    lab.wait_for(one, timeout_s, 0.02)
    return last


def time_until(predicate, timeout_s: float, interval_s: float = 0.005) -> float | None:
    """Seconds until ``predicate()`` is true, or None on timeout."""
    t0 = time.monotonic()
    if Lab.wait_for(predicate, timeout_s, interval_s):
        return time.monotonic() - t0
    return None
