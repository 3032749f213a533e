"""State-change notifications: notify scripts and the notify FIFO.

keepalived semantics (``vrrp_notify.c``):

- on entering MASTER / BACKUP / FAULT / STOP the instance's ``notify_master``
  / ``notify_backup`` / ``notify_fault`` / ``notify_stop`` runs, then the
  generic ``notify`` with four more arguments:
  ``INSTANCE|GROUP NAME MASTER|BACKUP|FAULT|STOP PRIORITY`` (0 for a group);
- the FIFO (``notify_fifo`` and ``vrrp_notify_fifo``) receives one line per
  change: ``INSTANCE "VI_1" MASTER 100`` (``GROUP "G" MASTER 0``), the priority
  being the effective one (vrrp_notify.c notify_fifo: ``%s "%s" %s %d\n``);
- events on the FIFO: ``INSTANCE "VI_1" MASTER_RX_LOWER_PRI 150`` when a MASTER
  receives a lower-priority advert (``notify_master_rx_lower_pri`` runs too, with
  no argument: send_event_notify), and with ``notify_priority_changes``
  ``INSTANCE "VI_1" MASTER_PRIORITY 120`` / ``BACKUP_PRIORITY`` (any other
  state) on every effective priority change (vrrp_track.c);
- an instance a reload deletes is notified as FAULT (notify_fault, notify
  ``... FAULT``), or not at all if it was in FAULT; with ``notify_deleted`` as
  DELETED (its script, notify ``... DELETED``, the FIFO line) (vrrp.c
  clear_diff_vrrp, vrrp_notify.c send_instance_notifies);
- ``notify_fifo_script`` / ``vrrp_notify_fifo_script``: started once when the
  FIFO is created or found, before it is opened, with the FIFO path as its last
  argument; it runs as long as the daemon (lib/notify.c fifo_open); a FIFO the
  daemon created is removed at stop (fifo_close).

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

    def __init__(self, path: str, script: str | None = None) -> None:
        self.path = path
        self.script = script  # notify_fifo_script: started with the path as its last argument
        self.fd: int | None = None
        self.dropped = 0
        self.created = False

    def open(self) -> None:
        try:
            st = os.stat(self.path)
            if not stat.S_ISFIFO(st.st_mode):
                raise OSError(errno.EEXIST, f"{self.path} exists and is not a FIFO")
        except FileNotFoundError:
            os.mkfifo(self.path, 0o600)
            self.created = True
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
        # keepalived fifo_close: unlink first, so a reader that reopens in a loop cannot
        if self.created:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            self.created = False
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Notifier:
    def __init__(
        self,
        *,
        fifos: list[str],
        run_as: RunAs | None,
        env: dict[str, str],
        fifo_scripts: dict[str, str] | None = None,
    ) -> None:
        scripts = fifo_scripts or {}
        self.fifos = [Fifo(p, scripts.get(p)) for p in dict.fromkeys(fifos)]
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
        specific = {
            State.MASTER: notify.master,
            State.BACKUP: notify.backup,
            State.FAULT: notify.fault,
            State.STOP: notify.stop,
        }[state]
        self._notify(kind, name, state.value, priority, specific, notify.any)

    def deleted(self, name: str, notify: Notify, old: State, priority: int) -> None:
        """A reload deleted the instance (keepalived vrrp.c clear_diff_vrrp): DELETED with
        ``notify_deleted``, else FAULT unless it already was in FAULT."""
        if notify.notify_deleted:
            self._notify("INSTANCE", name, "DELETED", priority, notify.deleted, notify.any)
        elif old is not State.FAULT:
            self._notify("INSTANCE", name, State.FAULT.value, priority, notify.fault, notify.any)

    def event(self, name: str, word: str, priority: int, script: str | None = None) -> None:
        """An instance event: a FIFO line (``MASTER_RX_LOWER_PRI``, ``MASTER_PRIORITY``,
        ``BACKUP_PRIORITY``) and, for the first, its script, run without arguments."""
        self._write(f'INSTANCE "{name}" {word} {priority}\n')
        if script:
            self._queue.put_nowait(_Job(split_command(script), f"notify_{word.lower()} of {name}"))

    def _notify(
        self, kind: str, name: str, word: str, priority: int, specific: str | None, generic: str | None
    ) -> None:
        self._write(f'{kind} "{name}" {word} {priority}\n')
        if specific:
            self._queue.put_nowait(_Job(split_command(specific), f"notify_{word.lower()} of {name}"))
        if generic:
            argv = split_command(generic) + [kind, name, word, str(priority)]
            self._queue.put_nowait(_Job(argv, f"notify of {name}"))

    def _write(self, line: str) -> None:
        for f in self.fifos:
            f.write(line)

    async def run_forever(self) -> None:
        scripts = [asyncio.create_task(self._fifo_script(f)) for f in self.fifos if f.script and f.fd is not None]
        try:
            while True:
                job = await self._queue.get()
                try:
                    await self._run(job)
                finally:
                    self._queue.task_done()
        finally:
            for t in scripts:
                t.cancel()  # kills the script's process group (io.scripts.run_script)
            if scripts:
                await asyncio.gather(*scripts, return_exceptions=True)

    async def _fifo_script(self, fifo: Fifo) -> None:
        """keepalived fifo_open: the script runs for the daemon's life, the FIFO its last argument."""
        assert fifo.script is not None
        argv = split_command(fifo.script) + [fifo.path]
        log.info("notify fifo script started: %s", " ".join(argv))
        res = await run_script(argv, timeout_s=None, run_as=self.run_as, env=self.env)
        log.warning("notify fifo script %s ended: %s", " ".join(argv), res.reason)

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
