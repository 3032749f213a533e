"""``vrrp_pgsql``: the node passes only while its PostgreSQL is a writable primary.

In-process, with psycopg 3 (async), an optional dependency (``pip install
'vipkeeper[pgsql]'``) imported only when a config uses ``vrrp_pgsql``.

What one probe asks the local server (one persistent connection, reconnected
when lost)::

    pg_is_in_recovery()                    -- false on a primary (PostgreSQL 10+;
                                           -- no reliance on standby.signal)
    current_setting('transaction_read_only') -- off: writable
    pg_walfile_name(pg_current_wal_lsn())  -- primary only: first 8 hex digits
                                           -- are the timeline it writes on now

Timeline of a primary: ``pg_control_checkpoint().timeline_id`` is the timeline
of the last checkpoint, and after a promotion PostgreSQL 15 writes an
end-of-recovery record and only *requests* a checkpoint, so that column can
show the old timeline for a while.  The WAL file name of the current insert
position is built from the timeline the server inserts on
(``GetWALInsertionTimeLine()``), so it changes at the moment of promotion.
``pg_current_wal_lsn()`` raises on a standby, hence the CASE.

``system_identifier`` (``pg_control_system()``) is read once per connection
(it cannot change while a server runs); a role that may not read it gets None
and the identity check is skipped for that server.

Fencing (``peer_conninfo``, repeatable): the peers are probed in the
background (one persistent connection each) and the last answer that is not
older than ``2 × (interval + timeout)`` is used.  The local node fails when a
reachable peer

- has another ``system_identifier`` (not the same cluster: the peer list is wrong),
- is a writable primary on a higher timeline (we are the stale old primary),
- is a writable primary on the same timeline (two primaries: no VIP anywhere
  is safer than a VIP on the wrong one).

A peer that is a primary on a *lower* timeline is stale: it does not make us
fail (its own check fails).  An unreachable peer blocks nothing.  The first
verdict waits for the first answer (or failure) of every peer, so a restarted
daemon on a stale primary cannot pass before it has looked at its peers.

Every probe is bounded by ``timeout``: asyncio deadlines around connect and
query, plus ``connect_timeout`` and ``statement_timeout`` on the server side.
A timed-out query is *not* cancelled through asyncio: psycopg answers a
cancellation by sending a cancel request and waiting for the server again (up
to 5 + 5 s in psycopg 3.3, forever in older 3.x), which is exactly what a
SIGSTOPped server never answers.  Instead the socket is shut down, psycopg's
pending read sees end of file and fails, and the connection is thrown away.

With ``data_directory``, an inotify watch on the directory (``standby.signal``
removed, ``promote`` created, ``postmaster.pid`` created/changed/removed)
triggers a probe at once, then probes every 20 ms for a second: PostgreSQL
removes ``standby.signal`` a moment *before* ``pg_is_in_recovery()`` turns false.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from vipkeeper.checks import describe_runs
from vipkeeper.config.model import VrrpPgsql
from vipkeeper.core.tracking import RiseFall, Status
from vipkeeper.errors import VipkeeperError

log = logging.getLogger(__name__)

BURST_INTERVAL_S = 0.02
BURST_DURATION_S = 1.0
WATCHED_NAMES = frozenset({"standby.signal", "recovery.signal", "promote", "postmaster.pid"})

FACTS_SQL = """
SELECT pg_is_in_recovery(),
       current_setting('transaction_read_only'),
       CASE WHEN pg_is_in_recovery() THEN NULL
            ELSE pg_walfile_name(pg_current_wal_lsn()) END,
       CASE WHEN pg_is_in_recovery()
            THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver),
                          (SELECT timeline_id FROM pg_control_checkpoint()))
       END
"""
SYSID_SQL = "SELECT system_identifier FROM pg_control_system()"


class PsycopgMissing(VipkeeperError):
    """A config uses vrrp_pgsql but psycopg 3 is not installed."""


def import_psycopg(what: str = "vrrp_pgsql") -> Any:
    try:
        import psycopg  # noqa: PLC0415 - optional dependency, imported on use
    except ImportError as exc:
        raise PsycopgMissing(
            f"{what} needs psycopg 3, which is not installed ({exc}); install it with: pip install 'vipkeeper[pgsql]'"
        ) from None
    return psycopg


# ---------------------------------------------------------------- decision (pure)


@dataclass(frozen=True, slots=True)
class PgFacts:
    """What one probe learned about one server."""

    in_recovery: bool
    read_only: bool
    timeline: int | None  # a primary's insert timeline; a standby's received/checkpoint timeline
    system_identifier: int | None = None

    @property
    def writable_primary(self) -> bool:
        return not self.in_recovery and not self.read_only

    @property
    def role(self) -> str:
        if self.in_recovery:
            return "standby"
        return "primary (read-only)" if self.read_only else "primary"


@dataclass(frozen=True, slots=True)
class PeerView:
    """A peer as the decision sees it: facts, or None when unreachable/unknown."""

    name: str
    facts: PgFacts | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str
    alarm: str | None = None  # split brain or wrong cluster: worth one ERROR line
    role: str = "unknown"
    timeline: int | None = None


def _tl(t: int | None) -> str:
    return "?" if t is None else str(t)


def decide(local: PgFacts | None, local_error: str | None, peers: Sequence[PeerView] = ()) -> Verdict:
    """(local facts, peer facts) -> pass/fail and why.  Pure."""
    if local is None:
        return Verdict(False, f"local server: {local_error or 'no answer'}", role="unreachable")
    role, tl = local.role, local.timeline
    if local.in_recovery:
        return Verdict(False, f"standby (in recovery, timeline {_tl(tl)})", role=role, timeline=tl)
    if local.read_only:
        return Verdict(False, "primary but read-only (transaction_read_only is on)", role=role, timeline=tl)
    notes: list[str] = []
    for p in peers:
        f = p.facts
        if f is None:
            notes.append(f"peer {p.name} unreachable")
            continue
        if (
            f.system_identifier is not None
            and local.system_identifier is not None
            and f.system_identifier != local.system_identifier
        ):
            alarm = (
                f"WRONG CLUSTER: peer {p.name} has system_identifier {f.system_identifier}, "
                f"ours is {local.system_identifier}: it is not a copy of this database; check peer_conninfo"
            )
            return Verdict(False, f"peer {p.name} is another cluster", alarm=alarm, role=role, timeline=tl)
        if not f.writable_primary:
            notes.append(f"peer {p.name} {f.role}")
            continue
        if f.timeline is not None and tl is not None and f.timeline > tl:
            alarm = (
                f"SPLIT BRAIN: peer {p.name} is a writable primary on timeline {f.timeline}, this server is a "
                f"primary on timeline {tl}: this server is a stale old primary (rejoin it as a standby); "
                "check fails"
            )
            return Verdict(
                False,
                f"stale primary: peer {p.name} is primary on newer timeline {f.timeline}",
                alarm=alarm,
                role=role,
                timeline=tl,
            )
        if f.timeline is None or tl is None or f.timeline == tl:
            alarm = (
                f"SPLIT BRAIN: peer {p.name} is also a writable primary on timeline {_tl(f.timeline)} "
                f"(ours {_tl(tl)}): two primaries, no VIP is safer than a VIP on the wrong one; check fails"
            )
            return Verdict(
                False, f"two primaries (peer {p.name}, timeline {_tl(f.timeline)})", alarm=alarm, role=role, timeline=tl
            )
        notes.append(f"peer {p.name} is a stale primary on timeline {f.timeline}")
    reason = f"writable primary, timeline {_tl(tl)}"
    if notes:
        reason += "; " + ", ".join(notes)
    return Verdict(True, reason, role=role, timeline=tl)


# ---------------------------------------------------------------- one server


class ProbeError(Exception):
    """A probe failed; the message is the reason shown to the operator."""


class Prober(Protocol):
    """Returns the facts of one server, or raises ProbeError; never takes longer than asked."""

    async def facts(self, timeout_s: float) -> PgFacts: ...

    async def close(self) -> None: ...


def conninfo_label(conninfo: str) -> str:
    """host:port of a conninfo, for messages (the conninfo itself as a fallback)."""
    try:
        from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

        d = conninfo_to_dict(conninfo)
    except Exception:
        return conninfo
    host = str(d.get("host") or d.get("hostaddr") or "local socket")
    return f"{host}:{d['port']}" if d.get("port") else host


class PgConnection:
    """One persistent psycopg connection, every use bounded by a deadline."""

    def __init__(self, conninfo: str, *, label: str | None = None) -> None:
        self.psycopg = import_psycopg()
        self.conninfo = conninfo
        self.label = label or conninfo_label(conninfo)
        self.conn: Any = None
        self.system_identifier: int | None = None
        self._inflight: asyncio.Future | None = None
        self._closing: set[asyncio.Task] = set()
        self.connects = 0

    async def facts(self, timeout_s: float) -> PgFacts:
        deadline = time.monotonic() + timeout_s
        if self.conn is None or self.conn.closed or self.conn.broken:
            self._drop()
            await self._connect(timeout_s)
        row = await self._bounded(self._query(FACTS_SQL), deadline, "query")
        in_recovery, read_only, walfile, standby_tli = row
        timeline: int | None
        if walfile:
            timeline = int(walfile[:8], 16)
        else:
            timeline = int(standby_tli) if standby_tli is not None else None
        return PgFacts(bool(in_recovery), read_only == "on", timeline, self.system_identifier)

    async def _connect(self, timeout_s: float) -> None:
        psycopg = self.psycopg
        ms = max(1, int(timeout_s * 1000))
        try:
            async with asyncio.timeout(timeout_s):
                conn = await psycopg.AsyncConnection.connect(
                    self.conninfo,
                    autocommit=True,
                    connect_timeout=max(1, math.ceil(timeout_s)),  # libpq's minimum is 2 s
                    application_name="vipkeeper",
                )
        except TimeoutError:
            raise ProbeError(f"connect timed out after {timeout_s:g}s") from None
        except psycopg.Error as exc:
            raise ProbeError(f"cannot connect: {_one_line(exc)}") from None
        except OSError as exc:
            raise ProbeError(f"cannot connect: {exc}") from None
        self.conn = conn
        self.connects += 1
        deadline = time.monotonic() + timeout_s
        await self._bounded(self._query(f"SET statement_timeout = {ms}"), deadline, "set statement_timeout")
        try:
            row = await self._bounded(self._query(SYSID_SQL), deadline, "system identifier")
            self.system_identifier = int(row[0]) if row and row[0] is not None else None
        except ProbeError as exc:
            if self.conn is None:
                raise
            log.debug("%s: cannot read system_identifier (%s); identity check skipped", self.label, exc)
            self.system_identifier = None

    async def _query(self, sql: str) -> tuple | None:
        cur = await self.conn.execute(sql)
        return await cur.fetchone() if cur.description else None

    async def _bounded(self, coro: Any, deadline: float, what: str) -> Any:
        """Await ``coro`` until ``deadline``; on timeout, abort the connection
        instead of cancelling (see the module docstring)."""
        psycopg = self.psycopg
        task = asyncio.ensure_future(coro)
        self._inflight = task
        try:
            done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - time.monotonic()))
        except asyncio.CancelledError:
            self._drop()
            raise
        if task not in done:
            self._drop()
            raise ProbeError(f"{what} timed out")
        self._inflight = None
        exc = task.exception()
        if exc is None:
            return task.result()
        if isinstance(exc, psycopg.errors.QueryCanceled):
            self._drop()
            raise ProbeError(f"{what} hit statement_timeout")
        if isinstance(exc, psycopg.Error):
            if self.conn is not None and (self.conn.closed or self.conn.broken):
                self._drop()
            elif not isinstance(exc, psycopg.errors.ProgrammingError):
                self._drop()
            raise ProbeError(f"{what} failed: {_one_line(exc)}")
        self._drop()
        raise ProbeError(f"{what} failed: {exc!r}")

    def _drop(self) -> None:
        """Forget the connection: shut its socket down so any pending read
        ends, and close it once nothing uses it."""
        conn, self.conn = self.conn, None
        task, self._inflight = self._inflight, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            fd = conn.pgconn.socket
            s = socket.socket(fileno=os.dup(fd))
            try:
                s.shutdown(socket.SHUT_RDWR)
            finally:
                s.close()
        t = asyncio.ensure_future(self._close_later(conn, task))
        self._closing.add(t)
        t.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close_later(conn: Any, task: asyncio.Future | None) -> None:
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=5.0)
            if not task.done():
                log.warning("a PostgreSQL operation did not end after its socket was shut down")
                return
        if task is not None and task.done() and not task.cancelled():
            task.exception()  # retrieved: no "exception never retrieved" noise
        with contextlib.suppress(Exception):
            await conn.close()

    async def close(self) -> None:
        self._drop()
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=5.0)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ---------------------------------------------------------------- peers


@dataclass(slots=True)
class PeerState:
    name: str
    facts: PgFacts | None = None
    error: str | None = "not probed yet"
    at_monotonic: float | None = None
    probed: asyncio.Event = field(default_factory=asyncio.Event)


class PeerWatcher:
    """Probes one peer every interval (bounded by timeout); keeps the last answer."""

    def __init__(self, prober: Prober, name: str, interval_s: float, timeout_s: float) -> None:
        self.prober = prober
        self.state = PeerState(name)
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._kick = asyncio.Event()

    def kick(self) -> None:
        self._kick.set()

    def view(self, now: float, max_age_s: float) -> PeerView:
        st = self.state
        if st.facts is not None and st.at_monotonic is not None and now - st.at_monotonic <= max_age_s:
            return PeerView(st.name, st.facts)
        return PeerView(st.name, None, st.error or "answer too old")

    async def probe_once(self) -> None:
        st = self.state
        try:
            st.facts = await self.prober.facts(self.timeout_s)
            st.error = None
        except ProbeError as exc:
            if st.error != str(exc):
                log.debug("peer %s: %s", st.name, exc)
            st.facts, st.error = None, str(exc)
        except Exception as exc:  # never end the peer loop
            log.exception("peer %s: probe raised", st.name)
            st.facts, st.error = None, f"internal error: {exc!r}"
        st.at_monotonic = time.monotonic()
        st.probed.set()

    async def run_forever(self) -> None:
        try:
            while True:
                self._kick.clear()
                started = time.monotonic()
                await self.probe_once()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, started + self.interval_s - time.monotonic())):
                        await self._kick.wait()
        finally:
            await self.prober.close()


# ---------------------------------------------------------------- the tracker


@dataclass(slots=True)
class PgCheckState:
    """What status output shows of a vrrp_pgsql tracker."""

    status: Status = Status.INIT
    ok: bool | None = None  # the last probe's result (before rise/fall)
    reason: str = "not run yet"
    role: str = "unknown"
    timeline: int | None = None
    latency_s: float = 0.0
    runs: int = 0
    failures: int = 0
    last_run_monotonic: float | None = None
    alarm: str | None = None
    triggered_runs: int = 0  # probes started by an inotify event
    peers: dict[str, str] = field(default_factory=dict)  # name -> "primary tl 2" / error


class PgsqlCheck:
    """One ``vrrp_pgsql``: a Tracker (see :mod:`vipkeeper.checks`)."""

    def __init__(
        self,
        cfg: VrrpPgsql,
        *,
        on_change: Callable[[str, Status], None],
        local: Prober | None = None,
        peers: Sequence[tuple[str, Prober]] | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.on_change = on_change
        if local is None:
            import_psycopg(f"vrrp_pgsql {cfg.name} ({cfg.loc})")
            local = PgConnection(cfg.conninfo, label="local")
        if peers is None:
            peers = [(conninfo_label(ci), PgConnection(ci)) for ci in cfg.peer_conninfo]
        self.local = local
        self.peers = [PeerWatcher(p, name, cfg.interval_s, cfg.timeout_s) for name, p in peers]
        self.rf = RiseFall(cfg.rise, cfg.fall)
        self.state = PgCheckState(status=self.rf.status)
        self._kick = asyncio.Event()
        self._burst_until = 0.0
        self._ino: Any = None
        self._wd: int | None = None
        self._watch_error: str | None = None

    # Tracker protocol
    @property
    def status(self) -> Status:
        return self.rf.status

    @property
    def default_weight(self) -> int:
        return self.cfg.weight

    @property
    def default_reverse(self) -> bool:
        return self.cfg.weight_reverse

    def describe(self, now_mono: float) -> dict[str, Any]:
        st = self.state
        return {
            **describe_runs("pgsql", self.status, st, now_mono),
            "role": st.role,
            "timeline": st.timeline,
            "alarm": st.alarm,
        }

    @property
    def peer_max_age_s(self) -> float:
        return 2 * (self.cfg.interval_s + self.cfg.timeout_s)

    async def run_forever(self) -> None:
        tasks = [
            asyncio.create_task(p.run_forever(), name=f"pgsql-{self.name}-peer-{p.state.name}") for p in self.peers
        ]
        try:
            if self.peers:  # the first verdict waits for every peer's first answer
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.cfg.timeout_s + 0.5):
                        await asyncio.gather(*(p.state.probed.wait() for p in self.peers))
            while True:
                self._ensure_watch()
                self._kick.clear()
                started = time.monotonic()
                await self.probe_once()
                interval = self.cfg.interval_s
                if started < self._burst_until:
                    interval = min(interval, BURST_INTERVAL_S)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, started + interval - time.monotonic())):
                        await self._kick.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._close_watch()
            await self.local.close()

    async def probe_once(self) -> Verdict:
        started = time.monotonic()
        try:
            local: PgFacts | None = await self.local.facts(self.cfg.timeout_s)
            error = None
        except ProbeError as exc:
            local, error = None, str(exc)
        except Exception as exc:  # a bug or an unexpected library error must not end the tracker
            log.exception("VRRP_Pgsql(%s) probe raised", self.name)
            local, error = None, f"internal error: {exc!r}"
        now = time.monotonic()
        views = [p.view(now, self.peer_max_age_s) for p in self.peers]
        verdict = decide(local, error, views)
        self._record(verdict, now - started, views)
        return verdict

    def _record(self, v: Verdict, latency_s: float, views: list[PeerView]) -> None:
        st = self.state
        st.runs += 1
        st.latency_s = latency_s
        st.last_run_monotonic = time.monotonic()
        st.ok, st.reason, st.role, st.timeline = v.ok, v.reason, v.role, v.timeline
        st.peers = {
            pv.name: (f"{pv.facts.role}, timeline {_tl(pv.facts.timeline)}" if pv.facts else f"unreachable: {pv.error}")
            for pv in views
        }
        if not v.ok:
            st.failures += 1
        if v.alarm != st.alarm:
            if v.alarm:
                log.error("VRRP_Pgsql(%s) %s", self.name, v.alarm)
            elif st.alarm:
                log.warning("VRRP_Pgsql(%s) alarm cleared: %s", self.name, v.reason)
            st.alarm = v.alarm
        changed = self.rf.feed(v.ok)
        st.status = self.rf.status
        if changed is not None:
            log.info(
                "VRRP_Pgsql(%s) %s (%s; %.0f ms)",
                self.name,
                "succeeded" if changed is Status.OK else "failed",
                v.reason,
                latency_s * 1000,
            )
            self.on_change(self.name, changed)
        else:
            log.debug("VRRP_Pgsql(%s) %s: %s", self.name, "ok" if v.ok else "fail", v.reason)

    # ------------------------------------------------------------ inotify

    def trigger(self, why: str) -> None:
        """Probe now, then often for a short while (a promotion or a restart is under way)."""
        self.state.triggered_runs += 1
        self._burst_until = time.monotonic() + BURST_DURATION_S
        log.debug("VRRP_Pgsql(%s) %s: probing now", self.name, why)
        self._kick.set()
        for p in self.peers:
            p.kick()

    def _ensure_watch(self) -> None:
        ddir = self.cfg.data_directory
        if ddir is None or self._wd is not None:
            return
        from vipkeeper.io import inotify as ino

        try:
            if self._ino is None:
                watcher = ino.Inotify(self._on_inotify)
                watcher.open()
                self._ino = watcher
            self._wd = self._ino.watch_dir(
                ddir,
                ino.IN_CREATE
                | ino.IN_DELETE
                | ino.IN_MOVED_FROM
                | ino.IN_MOVED_TO
                | ino.IN_MODIFY
                | ino.IN_DELETE_SELF
                | ino.IN_MOVE_SELF,
            )
        except OSError as exc:
            if self._watch_error != str(exc):
                log.warning(
                    "VRRP_Pgsql(%s) cannot watch data_directory %s (%s); probing every %gs only",
                    self.name,
                    ddir,
                    exc.strerror or exc,
                    self.cfg.interval_s,
                )
                self._watch_error = str(exc)
            return
        log.info("VRRP_Pgsql(%s) watching %s for promotion and restarts", self.name, ddir)
        self._watch_error = None

    def _on_inotify(self, _dir: str, name: str, mask: int) -> None:
        from vipkeeper.io import inotify as ino

        if not name and mask & (ino.IN_IGNORED | ino.IN_DELETE_SELF | ino.IN_MOVE_SELF):
            self._wd = None  # set again at the next round, if the directory is back
            self.trigger("data directory removed or moved")
        elif mask & ino.IN_Q_OVERFLOW:
            self.trigger("inotify queue overflow")
        elif name in WATCHED_NAMES:
            if name == "postmaster.pid" and mask & ino.IN_MODIFY and time.monotonic() < self._burst_until:
                return  # already probing often
            self.trigger(f"{name} {_mask_word(mask)}")

    def _close_watch(self) -> None:
        if self._ino is not None:
            with contextlib.suppress(Exception):
                self._ino.close()
            self._ino = None
            self._wd = None


def _mask_word(mask: int) -> str:
    from vipkeeper.io import inotify as ino

    for bit, word in (
        (ino.IN_CREATE, "created"),
        (ino.IN_DELETE, "removed"),
        (ino.IN_MOVED_TO, "moved in"),
        (ino.IN_MOVED_FROM, "moved away"),
        (ino.IN_MODIFY, "changed"),
    ):
        if mask & bit:
            return word
    return hex(mask)
