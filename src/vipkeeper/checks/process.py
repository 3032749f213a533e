"""``vrrp_track_process`` / ``track_process``: how many matching processes run.

keepalived 2.2.7 semantics (``keepalived/core/track_process.c``, ``keepalived.conf(5)``):

- a process matches on its name (``/proc/PID/comm``) or, with ``full_command``, on the
  first word of its command line, compared exactly (not a pattern); ``param_match`` compares
  the rest of the command line: exact, partial (the configured parameters are the first
  ones) or initial (the last configured parameter may be the start of a longer one);
- zombies and threads do not count; a forked child of a counted process counts at once;
- the tracker is OK while ``quorum <= count <= quorum_max``.  Gaining quorum by a fork waits
  ``fork_delay`` (a fork/exec bounce), losing it by an exit waits ``terminate_delay`` (a
  restart); regaining it meanwhile cancels the pending change.  A gain by exec or a loss
  because a process exec'd something else is immediate.

Where the events come from (decided at start, logged): the kernel's proc connector when it
answers (the initial network namespace, with CAP_NET_ADMIN), else a poll of ``/proc`` every
:data:`POLL_INTERVAL_S` (network namespaces, containers).  A poll reads ``/proc/PID/stat``
of every process (name, state, parent, start time) and ``/proc/PID/cmdline`` only of a new
or renamed process, and only when a tracker uses ``full_command``.  In a poll a new process
whose parent is counted is taken as a fork, any other new match as an exec.

The matching, the quorum and its delays are pure (:func:`matches`, :class:`Quorum`,
:class:`ProcessTable`; time is an argument in µs) and tested with a fake process table.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from vipkeeper.checks import WeightedByConfig
from vipkeeper.config.model import VrrpTrackProcess
from vipkeeper.core.tracking import Status
from vipkeeper.io.proc_connector import ProcEvent, ProcStat, open_connector, parse_events

log = logging.getLogger(__name__)

#: The /proc poll's period where the proc connector does not answer: a process exit is seen
#: at most this late (plus terminate_delay).
POLL_INTERVAL_S = 0.5
US_PER_S = 1_000_000


def _now_us() -> int:
    return time.monotonic_ns() // 1000


# ------------------------------------------------------------------ matching (pure)


def matches(cfg: VrrpTrackProcess, comm: str, cmdline: bytes) -> bool:
    """keepalived check_process + check_params: does a process with this name and command
    line (NUL-separated, as in /proc/PID/cmdline) match ``cfg``?"""
    if not cfg.full_command:
        return comm == cfg.process
    if not cmdline:
        return False  # kernel threads, zombies
    path, _, params = cmdline.partition(b"\0")
    if path.decode(errors="surrogateescape") != cfg.process:
        return False
    if cfg.param_match == "none":
        return True
    want = b"".join(p.encode(errors="surrogateescape") + b"\0" for p in cfg.params)
    if cfg.param_match == "exact":
        return params == want
    if len(params) < len(want):
        return False
    if not want:
        return True
    if cfg.param_match == "partial":
        return params.startswith(want)
    return params.startswith(want[:-1])  # initial: the last parameter may go on


# ------------------------------------------------------------------ quorum (pure)


@dataclass(slots=True)
class Quorum:
    """One tracked process's count, quorum and delays (keepalived update_process_status,
    check_process_fork, check_process_termination and their timers)."""

    quorum: int
    quorum_max: int
    fork_delay_us: int = 0
    terminate_delay_us: int = 0
    count: int = 0
    have_quorum: bool | None = None  # None until the first full scan
    fork_deadline_us: int | None = None
    terminate_deadline_us: int | None = None

    @classmethod
    def of(cls, cfg: VrrpTrackProcess) -> Quorum:
        return cls(cfg.quorum, cfg.quorum_max, cfg.fork_delay_us, cfg.terminate_delay_us)

    @property
    def in_range(self) -> bool:
        return self.quorum <= self.count <= self.quorum_max

    @property
    def deadline_us(self) -> int | None:
        ds = [d for d in (self.fork_deadline_us, self.terminate_deadline_us) if d is not None]
        return min(ds) if ds else None

    def _set(self, up: bool) -> bool | None:
        if up == self.have_quorum:
            return None
        self.have_quorum = up
        return up

    def start(self) -> bool | None:
        """After the initial scan: the status as counted, no delay."""
        self.fork_deadline_us = self.terminate_deadline_us = None
        return self._set(self.in_range)

    def added(self, now_us: int, forked: bool) -> bool | None:
        self.count += 1
        if self.have_quorum is None or self.count not in (self.quorum, self.quorum_max + 1):
            return None
        if self.terminate_deadline_us is not None:
            self.terminate_deadline_us = None  # back before terminate_delay ran out
        elif forked and self.fork_delay_us:
            self.fork_deadline_us = now_us + self.fork_delay_us
            return None
        return self._set(self.count == self.quorum)

    def removed(self, now_us: int, exited: bool) -> bool | None:
        before = self.count
        self.count -= 1
        if self.have_quorum is None or not (before == self.quorum or self.count == self.quorum_max):
            return None
        if self.fork_deadline_us is not None:
            self.fork_deadline_us = None  # gone before fork_delay ran out
        elif exited and self.terminate_delay_us:
            self.terminate_deadline_us = now_us + self.terminate_delay_us
            return None
        return self._set(self.count == self.quorum_max)

    def on_timer(self, now_us: int) -> bool | None:
        fired = False
        for attr in ("fork_deadline_us", "terminate_deadline_us"):
            d = getattr(self, attr)
            if d is not None and d <= now_us:
                setattr(self, attr, None)
                fired = True
        return self._set(self.in_range) if fired else None


# ------------------------------------------------------------------ the process table (pure)


class ProcReader(Protocol):
    def pids(self) -> list[int]: ...

    def stat(self, pid: int) -> ProcStat | None: ...

    def cmdline(self, pid: int, limit: int = 4096) -> bytes: ...


@dataclass(slots=True)
class _Proc:
    start_ticks: int
    comm: str
    counted_by: set[str] = field(default_factory=set)


Change = tuple[str, bool]  # (tracker name, has quorum now)


class ProcessTable:
    """The processes that matter to the trackers, fed by a full scan (start, every poll,
    after lost events) or by proc connector events.  Every method returns the trackers whose
    quorum changed."""

    def __init__(self, cfgs: Iterable[VrrpTrackProcess], reader: ProcReader) -> None:
        self.cfgs = {c.name: c for c in cfgs}
        self.quorums = {name: Quorum.of(c) for name, c in self.cfgs.items()}
        self.reader = reader
        self.procs: dict[int, _Proc] = {}
        self.needs_cmdline = any(c.full_command for c in self.cfgs.values())
        self.cmdline_limit = (
            max((len(c.process.encode()) + sum(len(p) + 1 for p in c.params) + 2) for c in self.cfgs.values())
            if self.cfgs
            else 0
        )

    # -- helpers

    def _matching(self, pid: int, comm: str, only_comm: bool = False) -> set[str]:
        cmdline = b""
        if self.needs_cmdline and not only_comm:
            cmdline = self.reader.cmdline(pid, self.cmdline_limit + 1)
        out = set()
        for name, cfg in self.cfgs.items():
            if only_comm and cfg.full_command:
                continue
            if matches(cfg, comm, cmdline):
                out.add(name)
        return out

    def _recount(
        self, pid: int, proc: _Proc, want: set[str], now_us: int, forked: bool, scope: set[str]
    ) -> list[Change]:
        """Count ``pid`` for ``want`` (among the trackers in ``scope``)."""
        out: list[Change] = []
        for name in scope:
            had = name in proc.counted_by
            if (name in want) == had:
                continue
            q = self.quorums[name]
            if had:
                proc.counted_by.discard(name)
                changed = q.removed(now_us, exited=False)
            else:
                proc.counted_by.add(name)
                changed = q.added(now_us, forked)
            if changed is not None:
                out.append((name, changed))
        return out

    def _gone(self, pid: int, now_us: int) -> list[Change]:
        proc = self.procs.pop(pid, None)
        out: list[Change] = []
        if proc is None:
            return out
        for name in sorted(proc.counted_by):
            changed = self.quorums[name].removed(now_us, exited=True)
            if changed is not None:
                out.append((name, changed))
        return out

    # -- a full scan (the start, each poll, a resync after lost events)

    def scan(self, now_us: int) -> list[Change]:
        first = all(q.have_quorum is None for q in self.quorums.values())
        seen: set[int] = set()
        out: list[Change] = []
        new: list[ProcStat] = []
        for pid in self.reader.pids():
            st = self.reader.stat(pid)
            if st is None or st.state in ("Z", "X"):
                continue  # gone, or a zombie: not running (keepalived does not count zombies)
            seen.add(pid)
            proc = self.procs.get(pid)
            if proc is not None and proc.start_ticks != st.start_ticks:
                out += self._gone(pid, now_us)  # the pid was reused
                proc = None
            if proc is None:
                new.append(st)
            elif proc.comm != st.comm:  # an exec (or a rename)
                proc.comm = st.comm
                out += self._recount(pid, proc, self._matching(pid, st.comm), now_us, False, set(self.cfgs))
        for pid in [p for p in self.procs if p not in seen]:
            out += self._gone(pid, now_us)
        # parents before children, so that a child of a counted parent is seen as a fork
        for st in sorted(new, key=lambda s: s.start_ticks):
            proc = self.procs[st.pid] = _Proc(st.start_ticks, st.comm)
            want = self._matching(st.pid, st.comm)
            parent = self.procs.get(st.ppid)
            for name in sorted(want):
                forked = parent is not None and name in parent.counted_by
                out += self._recount(st.pid, proc, {name}, now_us, forked, {name})
        if first:
            out = []
            for name, q in self.quorums.items():
                changed = q.start()
                if changed is not None:
                    out.append((name, changed))
        return out

    # -- proc connector events

    def event(self, ev: ProcEvent, now_us: int) -> list[Change]:
        if ev.kind == "exit":
            return self._gone(ev.pid, now_us)
        if ev.kind == "fork":
            if ev.pid in self.procs:
                return []  # already seen by the scan that raced with this event
            parent = self.procs.get(ev.ppid)
            st = self.reader.stat(ev.pid)
            child = self.procs[ev.pid] = _Proc(st.start_ticks if st else 0, parent.comm if parent else "")
            if parent is None or not parent.counted_by:
                return []
            return self._recount(ev.pid, child, set(parent.counted_by), now_us, True, set(parent.counted_by))
        st = self.reader.stat(ev.pid)
        proc = self.procs.get(ev.pid)
        if proc is None:
            proc = self.procs[ev.pid] = _Proc(st.start_ticks if st else 0, "")
        comm = ev.comm or (st.comm if st else "")
        proc.comm = comm
        if ev.kind == "comm":  # only the trackers that match on the name (keepalived)
            scope = {n for n, c in self.cfgs.items() if not c.full_command}
            return self._recount(ev.pid, proc, self._matching(ev.pid, comm, only_comm=True), now_us, False, scope)
        return self._recount(ev.pid, proc, self._matching(ev.pid, comm), now_us, False, set(self.cfgs))

    # -- timers

    def next_deadline_us(self) -> int | None:
        ds = [d for q in self.quorums.values() if (d := q.deadline_us) is not None]
        return min(ds) if ds else None

    def on_timer(self, now_us: int) -> list[Change]:
        out: list[Change] = []
        for name, q in self.quorums.items():
            changed = q.on_timer(now_us)
            if changed is not None:
                out.append((name, changed))
        return out


# ------------------------------------------------------------------ the trackers (asyncio)


class ProcessTracker(WeightedByConfig):
    """One ``vrrp_track_process``: OK while its quorum holds.  Fed by :class:`ProcessWatcher`."""

    def __init__(self, cfg: VrrpTrackProcess, on_change: Callable[[str, Status], None]) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.on_change = on_change
        self.status = Status.INIT
        self.count = 0
        self.reason = "not scanned yet"
        self.source = ""

    def set_quorum(self, up: bool, count: int) -> None:
        self.count = count
        status = Status.OK if up else Status.FAIL
        self.reason = f"{count} process(es) running, quorum [{self.cfg.quorum}, {self._max()}]"
        if status is self.status:
            return
        what = (
            ("quorum achieved" if up else "quorum not achieved")
            if self.status is Status.INIT
            else ("gained quorum" if up else "lost quorum")
        )
        self.status = status
        log.info("VRRP_Process(%s) %s (%s)", self.name, what, self.reason)
        self.on_change(self.name, status)

    def _max(self) -> str:
        return "unlimited" if self.cfg.quorum_max >= 2**32 - 1 else str(self.cfg.quorum_max)

    async def run_forever(self) -> None:
        """Fed by the daemon's :class:`ProcessWatcher`; nothing to run."""
        await asyncio.Event().wait()

    def describe(self, now_mono: float) -> dict[str, Any]:
        return {
            "kind": "process",
            "status": str(self.status),
            "reason": self.reason,
            "processes": self.count,
            "source": self.source,
        }


class ProcessWatcher:
    """Feeds every :class:`ProcessTracker` of the daemon from one process table: proc
    connector events where the kernel answers, else a poll of /proc."""

    def __init__(self, trackers: Iterable[ProcessTracker], reader: ProcReader) -> None:
        self.trackers = {t.name: t for t in trackers}
        self.table = ProcessTable([t.cfg for t in self.trackers.values()], reader)
        self.sock: socket.socket | None = None
        self.source = ""
        self._wake = asyncio.Event()
        self._resync = False

    def _apply(self, changes: list[Change]) -> None:
        for name, up in changes:
            self.trackers[name].set_quorum(up, self.table.quorums[name].count)
        for name, t in self.trackers.items():
            t.count = self.table.quorums[name].count

    def start(self) -> None:
        """Choose the event source (logged) and scan /proc once."""
        try:
            self.sock = open_connector()
            self.source = "proc connector"
            log.info("track_process: following process events through the kernel's proc connector")
        except OSError as exc:
            self.source = f"/proc poll every {POLL_INTERVAL_S:g} s"
            log.info(
                "track_process: the proc connector does not answer here (%s); polling /proc every %g s",
                exc.strerror or exc,
                POLL_INTERVAL_S,
            )
        for t in self.trackers.values():
            t.source = self.source
        self._apply(self.table.scan(_now_us()))
        for name, q in self.table.quorums.items():
            if q.have_quorum is not None:
                self.trackers[name].set_quorum(q.have_quorum, q.count)

    def _readable(self) -> None:
        assert self.sock is not None
        now = _now_us()
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                break
            except OSError as exc:  # ENOBUFS: events were lost; count again from /proc
                log.warning("track_process: process events lost (%s); rescanning /proc", exc.strerror or exc)
                self._resync = True
                break
            for ev in parse_events(data):
                self._apply(self.table.event(ev, now))
        self._wake.set()

    async def run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        fd = self.sock.fileno() if self.sock is not None else None
        if fd is not None:
            loop.add_reader(fd, self._readable)
        next_poll = time.monotonic() + POLL_INTERVAL_S
        try:
            while True:
                deadline = self.table.next_deadline_us()
                timeout: float | None = None if deadline is None else max(0.0, (deadline - _now_us()) / US_PER_S)
                if self.sock is None:
                    until_poll = max(0.0, next_poll - time.monotonic())
                    timeout = until_poll if timeout is None else min(timeout, until_poll)
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except TimeoutError:
                    pass
                self._wake.clear()
                if self._resync or (self.sock is None and time.monotonic() >= next_poll):
                    self._resync = False
                    next_poll = time.monotonic() + POLL_INTERVAL_S
                    self._apply(self.table.scan(_now_us()))
                self._apply(self.table.on_timer(_now_us()))
        finally:
            if fd is not None:
                loop.remove_reader(fd)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
