"""DcsSession: every decision of a ``vrrp_dcs`` tracker, sans-IO (see docs/vrrp_dcs.md).

No sockets, no asyncio, no clock, no logging: time is an argument (monotonic seconds), the
session says which etcd request to issue next (:class:`Request`) and takes each one's
:class:`Answer` -- its result or error, with the monotonic times the request was *sent* and its
answer *received*.  The lease arithmetic is :mod:`vipkeeper.checks.dcs.decide`'s.

A round (one re-read, or one keep-alive + read + create-if-absent) is a sequence of requests,
one at a time: ``begin_round(now)`` gives the first, ``answer(Answer)`` the next (None: the round
is over).  ``settle(now)`` sets the status from the verdict and says whether it changed;
``next_deadline()`` is when the driver must come back (the next round, or the moment the last
confirmation stops being trusted).  ``release(why)`` is the revoke to send at once (lock mode
turning ineligible, or stopping); the driver calls ``settle`` first, so the tracker fails before
the key can go.  Log lines are queued in ``logs`` as ``(level, message)`` for the driver.

Two drivers: ``checks.dcs.tracker.DcsTracker`` (asyncio over ``checks.dcs.client``) and the
simulator's ``tests/sim/dcs.py`` (a modelled etcd on a simulated clock).
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Literal

from vipkeeper.checks.dcs.decide import MARGIN_MIN_S, Confirmation, Verdict, classify, judge
from vipkeeper.core.tracking import Status

#: The same trouble is logged again at most this often.
LOG_REPEAT_S = 60.0
#: Lock mode turning ineligible: the lease is revoked this long after the tracker failed, so
#: that the VIP is gone before the other host can take the key (the daemon deletes the VIP
#: after the FAIL reached the node; the lease arithmetic already counts on that taking less than
#: its margin, whose floor this is).  Found by the simulator: with the revoke sent at once and a
#: VIP worker taking up to 0.1 s, the other host held the VIP before this one had let it go.
REVOKE_AFTER_FAIL_S = MARGIN_MIN_S

Op = Literal["get", "ttl", "grant", "keepalive", "create", "revoke"]


@dataclass(frozen=True, slots=True)
class Request:
    """One etcd request.  get: linearizable range of ``key``; ttl: a lease's remaining TTL;
    grant: a lease of ``ttl_s``; keepalive / revoke: lease ``lease_id``; create: ``key`` =
    ``value`` bound to ``lease_id`` if the key is absent (one transaction)."""

    op: Op
    key: str = ""
    lease_id: int = 0
    ttl_s: int = 0
    value: str = ""


@dataclass(frozen=True, slots=True)
class Kv:
    """A key as etcd returned it: its raw value and its lease (0: none)."""

    value: bytes
    lease_id: int


@dataclass(frozen=True, slots=True)
class Answer:
    """What became of a request.  ``error`` None: ``result`` is the answer -- get: ``(Kv | None,
    revision)``; ttl: remaining seconds (-1: no such lease); grant: ``(lease_id, ttl_s)``;
    keepalive: ttl_s; create: ``(created, Kv | None)``; revoke: None.  Otherwise ``error`` is the
    kind (unreachable, timeout, auth, no_leader, lease_not_found, protocol...) and ``message``
    says more.  ``sent`` and ``received``: our monotonic seconds."""

    sent: float
    received: float
    result: Any = None
    error: str | None = None
    message: str = ""
    endpoint: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


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


_ERROR_WHAT = {
    "auth": "etcd refuses our credentials",
    "no_leader": "etcd has no leader here (a minority side?)",
    "timeout": "etcd does not answer",
    "unreachable": "etcd is unreachable",
}

Round = Generator[Request, Answer, None]


@dataclass
class DcsSession:
    """One ``vrrp_dcs``'s decisions.  ``mode`` follow: pass while ``key`` holds ``value``;
    lock: hold ``key`` bound to a lease of ``ttl_s`` while eligible."""

    name: str
    mode: Literal["follow", "lock"]
    key: str
    value: str
    ttl_s: int
    interval_s: float
    timeout_s: float
    state: DcsState = field(default_factory=DcsState)
    logs: list[tuple[int, str]] = field(default_factory=list)
    #: a round is due at once (eligibility changed, a watch event, a lock released meanwhile)
    kicked: bool = False
    #: when the next round is due (None: at once)
    next_round: float | None = None
    _round: Round | None = None
    _round_started: float = 0.0
    _logged: dict[str, float] = field(default_factory=dict)
    _release_why: str = ""
    _revoke: int | None = None  # lock mode, ineligible: our lease, to revoke once the VIP is gone
    _failed_at: float = 0.0  # when the status last turned FAIL

    # ------------------------------------------------------------ inputs

    def set_eligible(self, eligible: bool, why_not: str = "") -> bool:
        """Lock mode: may this host hold the lock?  True when that changed (a round is due)."""
        st = self.state
        if eligible == st.eligible and (eligible or why_not == st.why_ineligible):
            return False
        st.eligible, st.why_ineligible = eligible, why_not
        self._log(logging.INFO, "eligible: taking the lock" if eligible else f"not eligible: {why_not}")
        self.kicked = True
        return True

    def kick(self) -> None:
        """The watch saw the key change: re-read at once (the read decides, never the event)."""
        self.kicked = True

    def begin_round(self, now: float) -> Request | None:
        """Start a round; its first request (None: it needed none)."""
        self.kicked = False
        self._round_started = now
        self._round = self._follow_round() if self.mode == "follow" else self._lock_round()
        return self._step(None)

    def answer(self, ans: Answer) -> Request | None:
        """The answer to the last request; the next request of the round (None: it is over)."""
        return self._step(ans)

    def abort_round(self, now: float, kind: str, message: str) -> None:
        """The round broke off without an answer (the driver's bug): count it as an etcd error."""
        self._round = None
        self._failed(kind, message, now)
        self._end_round(now)

    def release(self, why: str) -> Request | None:
        """Forget our lease and the confirmation at once; the revoke to send (None: no lease).
        The caller settles before sending it: the tracker fails before the key goes."""
        st = self.state
        lease, st.lease_id = st.lease_id or self._revoke, None
        st.confirmation, self._revoke = None, None
        self._release_why = why
        return None if lease is None else Request("revoke", lease_id=lease)

    def released(self, ans: Answer, lease_id: int) -> None:
        """The answer to ``release``'s revoke."""
        if ans.ok:
            self._log(logging.INFO, f"released the lock {self.key} ({self._release_why})")
        else:
            self._log(
                logging.WARNING,
                f"could not revoke lease {lease_id:x} ({ans.message}); it expires within {self.ttl_s} s",
            )

    # ------------------------------------------------------------ outputs

    @property
    def in_round(self) -> bool:
        return self._round is not None

    def verdict(self, now: float) -> Verdict:
        st = self.state
        return judge(now, st.confirmation, st.last_error, st.why_not)

    def settle(self, now: float) -> bool:
        """Set the status from the verdict at ``now``; True when it changed (tell the node)."""
        st = self.state
        v = self.verdict(now)
        st.reason = v.reason
        new = Status.OK if v.ok else Status.FAIL
        if st.confirmation is not None and not v.ok:
            st.confirmation = None  # run out: never trusted again
        if new is st.status:
            return False
        st.status = new
        if new is Status.FAIL:
            self._failed_at = now
        self._log(logging.INFO, f"{'succeeded' if v.ok else 'failed'} ({v.reason})")
        return True

    def next_deadline(self) -> float | None:
        """When to come back: the next round, or when the confirmation stops being trusted
        (None: at once -- a round is due; while a round runs: its answers decide)."""
        if self._round is not None:
            conf = self.state.confirmation
            return conf.fail_at_mono if conf is not None and self.state.status is Status.OK else None
        if self.kicked or self.next_round is None:
            return None
        wake = self.next_round
        conf = self.state.confirmation
        if conf is not None and self.state.status is Status.OK:
            wake = min(wake, conf.fail_at_mono)
        revoke_at = self._revoke_at()
        return wake if revoke_at is None else min(wake, revoke_at)

    def round_due(self, now: float) -> bool:
        if self._round is not None:
            return False
        revoke_at = self._revoke_at()
        return (
            self.kicked
            or self.next_round is None
            or now >= self.next_round
            or (revoke_at is not None and now >= revoke_at)
        )

    def _revoke_at(self) -> float | None:
        """When the lease given up on turning ineligible may be revoked (None: none, or the
        tracker has not failed yet)."""
        if self._revoke is None or self.state.status is not Status.FAIL:
            return None
        return self._failed_at + REVOKE_AFTER_FAIL_S

    # ------------------------------------------------------------ the rounds

    def _step(self, ans: Answer | None) -> Request | None:
        rnd = self._round
        assert rnd is not None, "no round running"
        try:
            return rnd.send(ans) if ans is not None else next(rnd)
        except StopIteration:
            self._round = None
            self._end_round(ans.received if ans is not None else self._round_started)
            return None

    def _end_round(self, now: float) -> None:
        st = self.state
        st.runs += 1
        st.latency_s = now - self._round_started
        self.next_round = self._round_started + self.interval_s

    def _follow_round(self) -> Round:
        ans = yield Request("get", self.key)
        if not ans.ok:
            self._failed_answer(ans)
            return
        self._ok(ans)
        kv, _revision = ans.result
        sent = ans.sent
        ttl = None
        if kv is not None and kv.lease_id:
            t = yield Request("ttl", lease_id=kv.lease_id)
            if not t.ok:
                self._failed_answer(t)
                return
            self._ok(t)
            ttl = t.result
        self._seen(kv, sent, ttl)

    def _seen(self, kv: Kv | None, sent: float, lease_ttl_s: int | None) -> None:
        st = self.state
        reading, shown = classify(None if kv is None else kv.value, self.value)
        st.holder = shown if reading != "garbage" else None
        if reading == "ours":
            if kv is not None and kv.lease_id and lease_ttl_s is not None and lease_ttl_s > 0:
                st.confirmation = Confirmation.leased(sent, lease_ttl_s, lease_ttl_s)
            elif kv is not None and kv.lease_id:
                st.confirmation = None  # the lease is gone: the key goes with it
                st.why_not = "the key's lease has expired"
                return
            else:
                st.confirmation = Confirmation.unleased(sent, self.interval_s, self.timeout_s)
            st.why_not = None
            return
        st.confirmation = None
        if reading == "missing":
            st.why_not = f"key {self.key} does not exist"
            self._log_once("missing", logging.WARNING, f"key {self.key} does not exist")
        elif reading == "garbage":
            st.why_not = f"key {self.key} holds garbage ({shown})"
            self._log_once("garbage", logging.ERROR, f"key {self.key} holds garbage ({shown})")
        else:
            st.why_not = f"key {self.key} names {shown!r}, not {self.value!r}"

    def _lock_round(self) -> Round:
        st = self.state
        now = self._round_started
        if not st.eligible:
            if st.lease_id is not None:  # fail first; revoke once the VIP is gone
                self._revoke, st.lease_id, st.confirmation = st.lease_id, None, None
                self._release_why = st.why_ineligible
            revoke_at = self._revoke_at()
            if self._revoke is not None and revoke_at is not None and now >= revoke_at:
                gone, self._revoke = self._revoke, None
                self.released((yield Request("revoke", lease_id=gone)), gone)
            st.confirmation = None
            st.why_not = f"not eligible: {st.why_ineligible}"
            r = yield Request("get", self.key)
            if r.ok:
                self._ok(r)
                kv = r.result[0]
                st.holder = classify(None if kv is None else kv.value, self.value)[1]
            return
        if self._revoke is not None:  # eligible again before the revoke: keep the lease
            st.lease_id, self._revoke = self._revoke, None
        if st.lease_id is None:
            a = yield Request("grant", ttl_s=self.ttl_s)
            if not a.ok:
                self._failed_answer(a)
                return
            st.lease_id, ttl = a.result
        else:
            a = yield Request("keepalive", lease_id=st.lease_id)
            if not a.ok and a.error == "lease_not_found":
                self._log(logging.WARNING, f"lease {st.lease_id:x} has expired; granting a new one")
                st.lease_id, st.confirmation = None, None
                a = yield Request("grant", ttl_s=self.ttl_s)
                if a.ok:
                    st.lease_id, ttl = a.result
            elif a.ok:
                ttl = a.result
            if not a.ok:
                self._failed_answer(a)
                return
        sent = a.sent  # the lease's TTL counts from here at the latest
        lease = st.lease_id
        assert lease is not None
        self._ok(a)
        r = yield Request("get", self.key)
        if not r.ok:
            self._failed_answer(r)
            return
        kv = r.result[0]
        if kv is None:
            c = yield Request("create", self.key, lease_id=lease, value=self.value)
            if not c.ok:
                self._failed_answer(c)
                return
            created, kv = c.result
            if created:
                self._log(logging.INFO, f"took the lock {self.key} (lease {lease:x}, ttl {ttl} s)")
                kv = Kv(self.value.encode(), lease)
        if kv is not None and kv.lease_id == lease:
            st.holder = self.value
            st.confirmation = Confirmation.leased(sent, ttl, self.ttl_s)
            st.why_not = None
            return
        st.confirmation = None
        if kv is None:
            st.holder = None
            st.why_not = "the lock was released meanwhile; trying again"
            self.kicked = True
            return
        reading, shown = classify(kv.value, self.value)
        st.holder = shown if reading != "garbage" else None
        st.why_not = (
            f"the lock {self.key} is held by {shown!r}"
            if reading != "garbage"
            else f"the lock {self.key} holds garbage ({shown})"
        )

    # ------------------------------------------------------------ bookkeeping

    def _ok(self, ans: Answer) -> None:
        st = self.state
        st.last_ok_mono = ans.received
        st.endpoint = ans.endpoint
        if st.last_error is not None:
            self._log(logging.WARNING, f"etcd answers again ({st.endpoint})")
            self._logged.clear()
        st.last_error, st.error_kind = None, None

    def _failed_answer(self, ans: Answer) -> None:
        self._failed(ans.error or "protocol", ans.message, ans.received)

    def _failed(self, kind: str, message: str, now: float) -> None:
        st = self.state
        st.errors += 1
        st.last_error, st.error_kind = message, kind
        what = _ERROR_WHAT.get(kind, "etcd request failed")
        self._log_once(f"error-{kind}", logging.ERROR, f"{what}: {message}", now)

    def _log(self, level: int, message: str) -> None:
        self.logs.append((level, message))

    def _log_once(self, key: str, level: int, message: str, now: float | None = None) -> None:
        when = self._round_started if now is None else now
        last = self._logged.get(key)
        if last is None or when - last >= LOG_REPEAT_S:
            self._logged[key] = when
            self._log(level, message)
