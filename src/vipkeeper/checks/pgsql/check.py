"""PgsqlCheck: the vrrp_pgsql tracker (rise/fall, probes, peers, the inotify trigger)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vipkeeper.checks import WeightedByConfig, describe_runs
from vipkeeper.checks.pgsql.connection import PgConnection, ProbeError, Prober, conninfo_label, import_psycopg
from vipkeeper.checks.pgsql.decide import PeerView, PgFacts, Verdict, decide, timeline_text
from vipkeeper.checks.pgsql.peers import PeerWatcher
from vipkeeper.config.model import VrrpPgsql
from vipkeeper.core.tracking import RiseFall, Status

log = logging.getLogger(__name__)

BURST_INTERVAL_S = 0.02
BURST_DURATION_S = 1.0
WATCHED_NAMES = frozenset({"standby.signal", "recovery.signal", "promote", "postmaster.pid"})


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


class PgsqlCheck(WeightedByConfig):
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

    def describe(self, now_mono: float) -> dict[str, Any]:
        st = self.state
        return {
            **describe_runs("pgsql", self.status, st, now_mono),
            "role": st.role,
            "timeline": st.timeline,
            "alarm": st.alarm,  # the SPLIT BRAIN / WRONG CLUSTER line while it lasts, else None
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
            pv.name: (
                f"{pv.facts.role}, timeline {timeline_text(pv.facts.timeline)}"
                if pv.facts
                else f"unreachable: {pv.error}"
            )
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
