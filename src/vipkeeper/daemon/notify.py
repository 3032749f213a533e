"""State-change notifications: notify scripts and the notify FIFO.

keepalived semantics (``vrrp_notify.c``):

- on entering MASTER / BACKUP / FAULT / STOP the instance's ``notify_master``
  / ``notify_backup`` / ``notify_fault`` / ``notify_stop`` runs, then the
  generic ``notify`` with four more arguments:
  ``INSTANCE|GROUP NAME MASTER|BACKUP|FAULT|STOP PRIORITY`` (0 for a group);
- the FIFO (``notify_fifo`` and ``vrrp_notify_fifo``) receives one line per
  change: ``INSTANCE "VI_1" MASTER 100`` (``GROUP "G" MASTER 0``).

Scripts run one after another, in state-change order, in a task of their
own, so the protocol loop never waits for them.  The FIFO is written
without blocking: with no reader, or a full pipe, the line is dropped and
counted.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import stat
from dataclasses import dataclass

from vipkeeper.config.model import Notify
from vipkeeper.core.events import State
from vipkeeper.io.scripts import RunAs, run_script, split_command

log = logging.getLogger(__name__)

NOTIFY_TIMEOUT_S = 30.0
_NOTIFIED = {State.MASTER, State.BACKUP, State.FAULT, State.STOP}


@dataclass(frozen=True, slots=True)
class _Job:
    argv: list[str]
    what: str


class Fifo:
    """One notify FIFO, created if missing, written without blocking."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = None
        self.dropped = 0

    def open(self) -> None:
        try:
            st = os.stat(self.path)
            if not stat.S_ISFIFO(st.st_mode):
                raise OSError(errno.EEXIST, f"{self.path} exists and is not a FIFO")
        except FileNotFoundError:
            os.mkfifo(self.path, 0o600)
        # O_RDWR: opening never blocks and writing never fails for lack of a
        # reader (the kernel buffers up to the pipe size).
        self.fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)

    def write(self, line: str) -> None:
        if self.fd is None:
            return
        try:
            os.write(self.fd, line.encode())
        except BlockingIOError:
            self.dropped += 1
            log.warning("notify fifo %s is full (no reader?): dropped %r", self.path, line.strip())
        except OSError as exc:
            self.dropped += 1
            log.warning("notify fifo %s: %s", self.path, exc)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Notifier:
    def __init__(self, *, fifos: list[str], run_as: RunAs | None, env: dict[str, str]) -> None:
        self.fifos = [Fifo(p) for p in dict.fromkeys(fifos)]
        self.run_as = run_as
        self.env = env
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self.runs = 0
        self.failures = 0

    def open(self) -> None:
        for f in self.fifos:
            f.open()

    def close(self) -> None:
        for f in self.fifos:
            f.close()

    def changed(self, kind: str, name: str, notify: Notify, state: State, priority: int) -> None:
        """Queue the notifications of one state change (``kind`` INSTANCE or GROUP)."""
        if state not in _NOTIFIED:
            return
        line = f'{kind} "{name}" {state.value} {priority}\n'
        for f in self.fifos:
            f.write(line)
        specific = {
            State.MASTER: notify.master,
            State.BACKUP: notify.backup,
            State.FAULT: notify.fault,
            State.STOP: notify.stop,
        }[state]
        if specific:
            self._queue.put_nowait(_Job(split_command(specific), f"notify_{state.value.lower()} of {name}"))
        if notify.any:
            argv = split_command(notify.any) + [kind, name, state.value, str(priority)]
            self._queue.put_nowait(_Job(argv, f"notify of {name}"))

    async def run_forever(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._run(job)
            finally:
                self._queue.task_done()

    async def drain(self, timeout_s: float) -> None:
        """Wait (bounded) until every queued notification has run: at shutdown."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout_s)
        except TimeoutError:
            log.error("notify scripts still running after %.0fs at shutdown", timeout_s)

    async def _run(self, job: _Job) -> None:
        if not job.argv:
            return
        res = await run_script(job.argv, timeout_s=NOTIFY_TIMEOUT_S, run_as=self.run_as, env=self.env)
        self.runs += 1
        if not res.ok:
            self.failures += 1
            log.warning("%s (%s) failed: %s", job.what, " ".join(job.argv), res.reason)
        else:
            log.debug("%s ran in %.3fs", job.what, res.duration_s)
