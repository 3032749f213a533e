"""DcsTracker: the vrrp_dcs tracker (follow mode and lock mode), see :mod:`vipkeeper.checks.dcs`.

A thin asyncio driver: every decision (which request, when, what the verdict is) is
:class:`~vipkeeper.checks.dcs.session.DcsSession`'s; this module carries its requests to etcd
over :mod:`~vipkeeper.checks.dcs.client`, with the monotonic times each was sent and answered,
runs the watch that kicks it, sleeps until its ``next_deadline``, and logs what it queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from vipkeeper.checks import WeightedByConfig
from vipkeeper.checks.dcs.client import EtcdClient, EtcdError, KeyValue, make_ssl_context
from vipkeeper.checks.dcs.decide import Verdict
from vipkeeper.checks.dcs.session import Answer, DcsSession, DcsState, Kv, Request
from vipkeeper.config.model import VrrpDcs
from vipkeeper.core.tracking import Status

log = logging.getLogger(__name__)

#: After a failed watch, wait this long before opening another.
WATCH_RETRY_S = 1.0

__all__ = ["DcsState", "DcsTracker"]


def _kv(kv: KeyValue | None) -> Kv | None:
    return None if kv is None else Kv(kv.value, kv.lease_id)


class DcsTracker(WeightedByConfig):
    """One ``vrrp_dcs``: a Tracker (see :mod:`vipkeeper.checks`).  Lock mode also has
    :meth:`set_eligible`, which the daemon calls with the verdict of the instance's other
    trackers (see ``daemon.trackers``)."""

    def __init__(
        self,
        cfg: VrrpDcs,
        *,
        on_change: Callable[[str, Status], None],
        client: EtcdClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.on_change = on_change
        self.value = cfg.value if cfg.value is not None else socket.gethostname()
        if client is None:
            tls = any(u.startswith("https://") for u in cfg.endpoints)
            ssl_ctx = make_ssl_context(cfg.cacert, cfg.cert, cfg.tls_key) if tls else None
            client = EtcdClient(cfg.endpoints, cfg.timeout_s, ssl_ctx=ssl_ctx, user=cfg.user, password=cfg.password)
        self.client = client
        self.clock = clock
        self.session = DcsSession(
            cfg.name, cfg.mode, cfg.key, self.value, cfg.ttl_s, cfg.interval_s, cfg.timeout_s
        )  # fmt: skip
        self._kick = asyncio.Event()
        self._revision = 0

    @property
    def state(self) -> DcsState:
        return self.session.state

    # ------------------------------------------------------------ Tracker protocol

    @property
    def status(self) -> Status:
        return self.state.status

    @property
    def needs_eligibility(self) -> bool:
        return self.cfg.mode == "lock"

    def describe(self, now_mono: float) -> dict[str, Any]:
        st = self.state
        conf = st.confirmation
        return {
            "kind": "dcs",
            "status": str(st.status),
            "reason": st.reason,
            "mode": self.cfg.mode,
            "key": self.cfg.key,
            "value": self.value,
            "holder": st.holder,
            "lease_id": None if st.lease_id is None else f"{st.lease_id:x}",
            "lease_ttl_s": None if conf is None else conf.ttl_s,
            # how much longer the last confirmation is trusted (None: none)
            "lease_remaining_s": None if conf is None else round(max(0.0, conf.remaining_s(now_mono)), 3),
            "last_ok_age_s": None if st.last_ok_mono is None else round(now_mono - st.last_ok_mono, 3),
            "etcd_up": st.last_error is None and st.last_ok_mono is not None,
            "etcd_error": st.last_error,
            "etcd_errors": st.errors,
            "endpoint": st.endpoint,
            "eligible": st.eligible if self.cfg.mode == "lock" else None,
            "latency_s": round(st.latency_s, 6),
            "runs": st.runs,
        }

    def set_eligible(self, eligible: bool, why_not: str = "") -> None:
        """Lock mode: may this host hold the lock (every other tracker of its instances passes)?"""
        if self.session.set_eligible(eligible, why_not):
            self._flush_logs()
            self._kick.set()

    # ------------------------------------------------------------ running

    async def run_forever(self) -> None:
        watch = asyncio.create_task(self._watch_forever(), name=f"dcs-{self.name}-watch")
        try:
            while True:
                self._kick.clear()
                await self._round()
                self._settle()
                await self._sleep()
        finally:
            watch.cancel()
            with contextlib.suppress(BaseException):
                await watch
            await self._release("stopping")
            await self.client.close()

    async def _round(self) -> None:
        """One round of the session's requests, each carried to etcd in turn."""
        s = self.session
        req = s.begin_round(self.clock())
        try:
            while req is not None:
                if req.op == "revoke":
                    self._settle()  # fail first: the VIP goes before the key does
                req = s.answer(await self._issue(req))
                self._flush_logs()
        except Exception as exc:  # a bug must not end the tracker
            log.exception("VRRP_Dcs(%s) round raised", self.name)
            s.abort_round(self.clock(), "internal", repr(exc))
        if s.kicked:
            self._kick.set()
        self._flush_logs()

    # the unit tests drive one round of either mode
    _follow_round = _round
    _lock_round = _round

    async def _issue(self, req: Request) -> Answer:
        """Send one request; its answer or error, with the send and receive times."""
        c = self.client
        sent = self.clock()
        try:
            if req.op == "get":
                r = await c.get(req.key)
                self._revision = max(self._revision, r.revision)
                result: Any = (_kv(r.kv), r.revision)
            elif req.op == "ttl":
                result = await c.time_to_live(req.lease_id)
            elif req.op == "grant":
                result = await c.grant(req.ttl_s)
            elif req.op == "keepalive":
                result = await c.keepalive(req.lease_id)
            elif req.op == "create":
                created, kv = await c.create_if_absent(req.key, req.value, req.lease_id)
                result = (created, _kv(kv))
            else:
                await c.revoke(req.lease_id)
                result = None
        except EtcdError as exc:
            return Answer(sent, self.clock(), error=exc.kind, message=exc.message, endpoint=c.last_endpoint)
        return Answer(sent, self.clock(), result, endpoint=c.last_endpoint)

    async def _sleep(self) -> None:
        """Until the next round, a kick, or the moment the confirmation stops being trusted."""
        s = self.session
        while not s.round_due(self.clock()):
            wake = s.next_deadline()
            if wake is None:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, wake - self.clock())):
                    await self._kick.wait()
                    return
            self._settle()  # the confirmation may have run out meanwhile

    async def _release(self, why: str) -> None:
        """Revoke our lease at once (the key goes with it); bounded by the timeout."""
        req = self.session.release(why)
        if req is None:
            return
        self._settle()  # fail first: the VIP goes before the key does
        self.session.released(await self._issue(req), req.lease_id)
        self._flush_logs()

    # ------------------------------------------------------------ the watch

    async def _watch_forever(self) -> None:
        """Re-read at once when the key changes (the watch only triggers: the read decides)."""
        while True:
            try:
                async for _rev in self.client.watch(self.cfg.key, self._revision + 1 if self._revision else 0):
                    self.session.kick()
                    self._kick.set()
            except (EtcdError, OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                log.debug("VRRP_Dcs(%s) watch: %s", self.name, exc)
            except Exception:
                log.exception("VRRP_Dcs(%s) watch raised", self.name)
            await asyncio.sleep(WATCH_RETRY_S)

    # ------------------------------------------------------------ bookkeeping

    def _flush_logs(self) -> None:
        for level, message in self.session.logs:
            log.log(level, "VRRP_Dcs(%s) %s", self.name, message)
        self.session.logs.clear()

    def verdict(self) -> Verdict:
        return self.session.verdict(self.clock())

    def _settle(self) -> None:
        """Set the status from the verdict now; tell the daemon on a change."""
        changed = self.session.settle(self.clock())
        self._flush_logs()
        if changed:
            self.on_change(self.name, self.state.status)
