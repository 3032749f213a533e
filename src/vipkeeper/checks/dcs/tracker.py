"""DcsTracker: the vrrp_dcs tracker (follow mode and lock mode), see :mod:`vipkeeper.checks.dcs`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vipkeeper.checks import WeightedByConfig
from vipkeeper.checks.dcs.client import EtcdClient, EtcdError, KeyValue, make_ssl_context
from vipkeeper.checks.dcs.decide import Confirmation, Verdict, classify, judge
from vipkeeper.config.model import VrrpDcs
from vipkeeper.core.tracking import Status

log = logging.getLogger(__name__)

#: The same trouble is logged again at most this often.
LOG_REPEAT_S = 60.0
#: After a failed watch, wait this long before opening another.
WATCH_RETRY_S = 1.0


@dataclass(slots=True)
class DcsState:
    """What status output shows of a vrrp_dcs tracker."""

    status: Status = Status.INIT
    reason: str = "not run yet"
    holder: str | None = None  # the value last seen in the key (None: missing or never read)
    lease_id: int | None = None  # lock mode: our lease
    confirmation: Confirmation | None = None
    last_ok_mono: float | None = None  # the last request that succeeded
    last_error: str | None = None  # None while etcd answers
    error_kind: str | None = None
    errors: int = 0
    runs: int = 0
    latency_s: float = 0.0
    eligible: bool = False
    why_ineligible: str = "the daemon has not said yet"
    why_not: str | None = None  # what the last answer said when it did not confirm the key
    endpoint: str | None = None


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
        self.state = DcsState()
        self._kick = asyncio.Event()
        self._logged: dict[str, float] = {}  # message key -> when last logged
        self._revision = 0

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
        st = self.state
        if eligible == st.eligible and (eligible or why_not == st.why_ineligible):
            return
        st.eligible, st.why_ineligible = eligible, why_not
        log.info("VRRP_Dcs(%s) %s", self.name, "eligible: taking the lock" if eligible else f"not eligible: {why_not}")
        self._kick.set()

    # ------------------------------------------------------------ running

    async def run_forever(self) -> None:
        watch = asyncio.create_task(self._watch_forever(), name=f"dcs-{self.name}-watch")
        try:
            while True:
                self._kick.clear()
                started = self.clock()
                try:
                    if self.cfg.mode == "follow":
                        await self._follow_round()
                    else:
                        await self._lock_round()
                except Exception as exc:  # a bug must not end the tracker
                    log.exception("VRRP_Dcs(%s) round raised", self.name)
                    self._failed(EtcdError("internal", repr(exc)))
                self.state.runs += 1
                self.state.latency_s = self.clock() - started
                self._settle()
                await self._sleep_until(started + self.cfg.interval_s)
        finally:
            watch.cancel()
            with contextlib.suppress(BaseException):
                await watch
            await self._release("stopping")
            await self.client.close()

    async def _sleep_until(self, next_round: float) -> None:
        """Until the next round, a kick, or the moment the confirmation stops being trusted."""
        while True:
            now = self.clock()
            if now >= next_round:
                return
            wake = next_round
            conf = self.state.confirmation
            if conf is not None and self.state.status is Status.OK:
                wake = min(wake, conf.fail_at_mono)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, wake - now)):
                    await self._kick.wait()
                    return
            self._settle()  # the confirmation may have run out meanwhile

    # ------------------------------------------------------------ follow mode

    async def _follow_round(self) -> None:
        sent = self.clock()
        try:
            r = await self.client.get(self.cfg.key)
            self._ok()
            self._revision = max(self._revision, r.revision)
            ttl = None
            if r.kv is not None and r.kv.lease_id:
                ttl = await self.client.time_to_live(r.kv.lease_id)
        except EtcdError as exc:
            self._failed(exc)
            return
        self._seen(r.kv, sent, ttl)

    def _seen(self, kv: KeyValue | None, sent: float, lease_ttl_s: int | None) -> None:
        st = self.state
        reading, shown = classify(None if kv is None else kv.value, self.value)
        st.holder = shown if reading != "garbage" else None
        if reading == "ours":
            if kv is not None and kv.lease_id and lease_ttl_s is not None and lease_ttl_s > 0:
                st.confirmation = Confirmation.leased(sent, lease_ttl_s, lease_ttl_s)
            elif kv is not None and kv.lease_id:
                st.confirmation = None  # the lease is gone: the key goes with it
                self.state.why_not = "the key's lease has expired"
                return
            else:
                st.confirmation = Confirmation.unleased(sent, self.cfg.interval_s, self.cfg.timeout_s)
            self.state.why_not = None
            return
        st.confirmation = None
        if reading == "missing":
            self.state.why_not = f"key {self.cfg.key} does not exist"
            self._log_once("missing", logging.WARNING, "key %s does not exist", self.cfg.key)
        elif reading == "garbage":
            self.state.why_not = f"key {self.cfg.key} holds garbage ({shown})"
            self._log_once("garbage", logging.ERROR, "key %s holds garbage (%s)", self.cfg.key, shown)
        else:
            self.state.why_not = f"key {self.cfg.key} names {shown!r}, not {self.value!r}"

    # ------------------------------------------------------------ lock mode

    async def _lock_round(self) -> None:
        st = self.state
        if not st.eligible:
            await self._release(st.why_ineligible)
            st.confirmation = None
            self.state.why_not = f"not eligible: {st.why_ineligible}"
            with contextlib.suppress(EtcdError):
                r = await self.client.get(self.cfg.key)
                self._ok()
                st.holder = classify(None if r.kv is None else r.kv.value, self.value)[1]
            return
        try:
            sent = self.clock()
            if st.lease_id is None:
                st.lease_id, ttl = await self.client.grant(self.cfg.ttl_s)
            else:
                try:
                    ttl = await self.client.keepalive(st.lease_id)
                except EtcdError as exc:
                    if exc.kind != "lease_not_found":
                        raise
                    log.warning("VRRP_Dcs(%s) lease %x has expired; granting a new one", self.name, st.lease_id)
                    st.lease_id, st.confirmation = None, None
                    sent = self.clock()
                    st.lease_id, ttl = await self.client.grant(self.cfg.ttl_s)
            self._ok()
            r = await self.client.get(self.cfg.key)
            kv = r.kv
            if kv is None:
                created, kv = await self.client.create_if_absent(self.cfg.key, self.value, st.lease_id)
                if created:
                    log.info("VRRP_Dcs(%s) took the lock %s (lease %x, ttl %d s)", self.name, self.cfg.key,
                             st.lease_id, ttl)  # fmt: skip
                    kv = KeyValue(self.value.encode(), st.lease_id, 0)
        except EtcdError as exc:
            self._failed(exc)
            return
        if kv is not None and kv.lease_id == st.lease_id:
            st.holder = self.value
            st.confirmation = Confirmation.leased(sent, ttl, self.cfg.ttl_s)
            self.state.why_not = None
            return
        st.confirmation = None
        if kv is None:
            st.holder = None
            self.state.why_not = "the lock was released meanwhile; trying again"
            self._kick.set()
            return
        reading, shown = classify(kv.value, self.value)
        st.holder = shown if reading != "garbage" else None
        self.state.why_not = f"the lock {self.cfg.key} is held by {shown!r}" if reading != "garbage" else (
            f"the lock {self.cfg.key} holds garbage ({shown})"
        )  # fmt: skip

    async def _release(self, why: str) -> None:
        """Revoke our lease at once (the key goes with it); bounded by the timeout."""
        st = self.state
        lease, st.lease_id = st.lease_id, None
        st.confirmation = None
        if lease is None:
            return
        self._settle()  # fail first: the VIP goes before the key does
        try:
            await self.client.revoke(lease)
            log.info("VRRP_Dcs(%s) released the lock %s (%s)", self.name, self.cfg.key, why)
        except EtcdError as exc:
            log.warning("VRRP_Dcs(%s) could not revoke lease %x (%s); it expires within %d s",
                        self.name, lease, exc, self.cfg.ttl_s)  # fmt: skip

    # ------------------------------------------------------------ the watch

    async def _watch_forever(self) -> None:
        """Re-read at once when the key changes (the watch only triggers: the read decides)."""
        while True:
            try:
                async for _rev in self.client.watch(self.cfg.key, self._revision + 1 if self._revision else 0):
                    self._kick.set()
            except (EtcdError, OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                log.debug("VRRP_Dcs(%s) watch: %s", self.name, exc)
            except Exception:
                log.exception("VRRP_Dcs(%s) watch raised", self.name)
            await asyncio.sleep(WATCH_RETRY_S)

    # ------------------------------------------------------------ bookkeeping

    def _ok(self) -> None:
        st = self.state
        st.last_ok_mono = self.clock()
        st.endpoint = self.client.last_endpoint
        if st.last_error is not None:
            log.warning("VRRP_Dcs(%s) etcd answers again (%s)", self.name, st.endpoint)
            self._logged.clear()
        st.last_error, st.error_kind = None, None

    def _failed(self, exc: EtcdError) -> None:
        st = self.state
        st.errors += 1
        st.last_error, st.error_kind = exc.message, exc.kind
        what = {
            "auth": "etcd refuses our credentials",
            "no_leader": "etcd has no leader here (a minority side?)",
            "timeout": "etcd does not answer",
            "unreachable": "etcd is unreachable",
        }.get(exc.kind, "etcd request failed")
        self._log_once(f"error-{exc.kind}", logging.ERROR, "%s: %s", what, exc.message)

    def _log_once(self, key: str, level: int, fmt: str, *args: Any) -> None:
        now = self.clock()
        last = self._logged.get(key)
        if last is None or now - last >= LOG_REPEAT_S:
            self._logged[key] = now
            log.log(level, f"VRRP_Dcs(%s) {fmt}", self.name, *args)

    def verdict(self) -> Verdict:
        return judge(self.clock(), self.state.confirmation, self.state.last_error, self.state.why_not)

    def _settle(self) -> None:
        """Set the status from the verdict now; tell the daemon on a change."""
        st = self.state
        v = self.verdict()
        st.reason = v.reason
        new = Status.OK if v.ok else Status.FAIL
        if st.confirmation is not None and not v.ok:
            st.confirmation = None  # run out: never trusted again
        if new is st.status:
            return
        st.status = new
        log.info("VRRP_Dcs(%s) %s (%s)", self.name, "succeeded" if v.ok else "failed", v.reason)
        self.on_change(self.name, new)
