"""``vrrp_dcs`` in the simulator (invariant 1): a model of etcd, the real ``DcsSession`` of each
host driven on its own clock, and a Patroni-like leader-key writer for follow mode.

The etcd model keeps etcd's promises, nothing more:

* linearizable: every request is applied at one instant (its arrival at the leader), on one
  key-value store with one revision counter; a transaction (create-if-absent) is atomic;
* leases expire on the *server's* clock (its own rate error, ``DcsCfg.etcd_ppm``), counted from
  the instant the grant or keep-alive was applied; ``timetolive`` reports the remaining TTL
  truncated to whole seconds (etcd's ``int64(Remaining().Seconds())``); a lease's keys go with
  it;
* a majority can be lost and regained: without one, requests that reach a member are answered
  ``no_leader`` and no lease expires (etcd's lessor runs on the leader only); when a leader is
  elected again every lease is refreshed to its full TTL (etcd's ``Lessor.Promote``);
* requests and answers travel with a latency drawn in ``[lat_min_us, lat_max_us]`` (changed by
  ``etcd_lat`` actions: a slow etcd), can be lost (``etcd_loss``: keep-alives lost), and a host
  can be cut off from every member (``etcd_cut``), both ways;
* a watch event (a key created, deleted, expired) reaches each connected host after a latency
  draw and only *kicks* its session (the read decides, as in the daemon).

The host side is production code: ``vipkeeper.checks.dcs.session.DcsSession`` built from the
host's keepalived.conf ``vrrp_dcs`` block, fed answers with the local times of send and receive,
woken at its ``next_deadline``, every request bounded by its ``timeout`` (a lost request is a
``timeout`` answer).  Its verdict goes to the node with ``set_tracking`` exactly as
``daemon.trackers`` does (weight 0: FAULT while failed, pending while INIT); lock mode is told
its eligibility (the host's other tracker passes) as ``TrackerSet.update_eligibility`` does, and
the revoke at stop goes out after the VIPs are released (``daemon.app`` stops the trackers
last).  The time from a tracker failing to the VIP being deleted (the daemon's VIP worker, a
netlink request) is a bounded delay drawn per VIP change (``vip_delay_max_us``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from vipkeeper.checks.dcs.session import Answer, DcsSession, Kv, Request
from vipkeeper.config.load import parse_string
from vipkeeper.config.model import VrrpDcs
from vipkeeper.core.tracking import Status

if TYPE_CHECKING:
    from tests.sim.world import SimHost, World

PPM = 1_000_000
KEY = "/service/pg/leader"
DCS_NAME = "leader"


@dataclass(frozen=True)
class DcsCfg:
    """A history's etcd and its ``vrrp_dcs`` block (the same on every host)."""

    mode: str  # follow | lock
    ttl_s: int
    interval_ms: int
    timeout_ms: int
    etcd_ppm: int  # the etcd leader's clock rate error
    lat_min_us: int
    lat_max_us: int
    vip_delay_max_us: int  # tracker FAIL -> VIP deleted (and every other VIP change), at most
    # follow mode: the leader key's lease (Patroni's ttl).  etcd reports the remaining TTL in whole
    # seconds and the session trusts it minus a 0.5 s margin, so a 2 s lease kept alive every 2/3 s
    # reads as 1 s and is trusted 0.49 s: shorter than interval 0.5 s, the tracker flaps (found by
    # the simulator; Patroni's ttl is 20 s or more).  4 s and up.
    writer_ttl_s: int = 6


def dcs_block(c: DcsCfg) -> list[str]:
    lines = [f"vrrp_dcs {DCS_NAME} {{", "    endpoints http://10.9.0.1:2379 http://10.9.0.2:2379"]
    if c.mode == "lock":
        lines += [f"    lock {KEY}", f"    ttl {c.ttl_s}"]
    else:
        lines += [f"    key {KEY}"]
    lines += [f"    interval {c.interval_ms / 1000:g}", f"    timeout {c.timeout_ms / 1000:g}", "}"]
    return lines


@lru_cache(maxsize=1024)
def dcs_from_text(text: str) -> VrrpDcs:
    config, _diagnostics = parse_string(text)
    return config.dcs_checks[DCS_NAME]


# ------------------------------------------------------------------ the etcd model


@dataclass
class Lease:
    ttl_s: int
    expiry_us: int  # server clock
    gen: int = 0


class EtcdModel:
    def __init__(self, world: World, cfg: DcsCfg) -> None:
        self.world = world
        self.cfg = cfg
        self.ppm = cfg.etcd_ppm
        self.kv: dict[str, tuple[bytes, int]] = {}  # key -> (value, lease)
        self.leases: dict[int, Lease] = {}
        self.revision = 1
        self.next_lease = 0x100
        self.quorum = True
        self.cut: set[str] = set()
        self.loss = 0.0
        self.lat_min_us = cfg.lat_min_us
        self.lat_max_us = cfg.lat_max_us
        self.requests = 0
        self.expired = 0
        self.watchers: dict[str, Callable[[], None]] = {}  # host -> kick
        self.slow: dict[str, int] = {}  # host -> extra one-way latency (a congested path)

    def server_us(self) -> int:
        return self.world.now_us * (PPM + self.ppm) // PPM

    def true_at(self, server_us: int) -> int:
        return -(-server_us * PPM // (PPM + self.ppm))

    def _lat(self, host: str) -> int:
        return self.world.rng_dcs.randint(self.lat_min_us, self.lat_max_us) + self.slow.get(host, 0)

    def _lost(self, host: str) -> bool:
        return host in self.cut or (self.loss > 0 and self.world.rng_dcs.random() < self.loss)

    def send(self, host: str, req: Request, reply: Callable[[object, str | None], None]) -> None:
        """A request from ``host``: applied at its arrival, answered ``reply(result, error)``."""
        if self._lost(host):
            return
        self.requests += 1
        w = self.world

        def arrive() -> None:
            if host in self.cut:
                return
            if self.quorum:
                result, error = self._apply(req)
            else:
                result, error = None, "no_leader"
            if self._lost(host):
                return
            w.push_dcs(w.now_us + self._lat(host), lambda: None if host in self.cut else reply(result, error))

        w.push_dcs(w.now_us + self._lat(host), arrive)

    # ------------------------------------------------------------ the state machine

    def _apply(self, req: Request) -> tuple[object, str | None]:
        now = self.server_us()
        op = req.op
        if op == "get":
            kv = self.kv.get(req.key)
            return (None if kv is None else Kv(kv[0], kv[1]), self.revision), None
        if op == "ttl":
            lease = self.leases.get(req.lease_id)
            return (-1 if lease is None else int((lease.expiry_us - now) / PPM)), None
        if op == "grant":
            self.next_lease += 1
            self.leases[self.next_lease] = Lease(req.ttl_s, 0)
            self._refresh(self.next_lease)
            return (self.next_lease, req.ttl_s), None
        if op == "keepalive":
            if req.lease_id not in self.leases:
                return None, "lease_not_found"
            self._refresh(req.lease_id)
            return self.leases[req.lease_id].ttl_s, None
        if op == "create":
            kv = self.kv.get(req.key)
            if kv is not None:
                return (False, Kv(kv[0], kv[1])), None
            if req.lease_id and req.lease_id not in self.leases:
                return None, "lease_not_found"
            self.kv[req.key] = (req.value.encode(), req.lease_id)
            self._changed()
            return (True, None), None
        if op == "revoke":
            if self.leases.pop(req.lease_id, None) is None:
                return None, "lease_not_found"
            self._drop_keys(req.lease_id)
            return None, None
        raise AssertionError(op)

    def _refresh(self, lease_id: int) -> None:
        lease = self.leases[lease_id]
        lease.expiry_us = self.server_us() + lease.ttl_s * PPM
        lease.gen += 1
        gen = lease.gen
        self.world.push_dcs(self.true_at(lease.expiry_us), lambda: self._expire(lease_id, gen))

    def _expire(self, lease_id: int, gen: int) -> None:
        lease = self.leases.get(lease_id)
        if lease is None or lease.gen != gen or not self.quorum:
            return  # kept alive since, revoked, or no leader to expire it (refreshed on election)
        assert self.server_us() >= lease.expiry_us
        del self.leases[lease_id]
        self.expired += 1
        self._drop_keys(lease_id)

    def _drop_keys(self, lease_id: int) -> None:
        gone = [k for k, (_v, lid) in self.kv.items() if lid == lease_id]
        for k in gone:
            del self.kv[k]
        if gone:
            self._changed()

    def _changed(self) -> None:
        self.revision += 1
        w = self.world
        for host, kick in list(self.watchers.items()):
            if host not in self.cut:
                w.push_dcs(w.now_us + self._lat(host), lambda h=host, k=kick: None if h in self.cut else k())

    def set_quorum(self, up: bool) -> None:
        if up and not self.quorum:
            self.quorum = True
            for lease_id in list(self.leases):
                self._refresh(lease_id)  # a new leader extends every lease to its full TTL
        self.quorum = up

    def holder(self) -> str | None:
        kv = self.kv.get(KEY)
        return None if kv is None else kv[0].decode()


# ------------------------------------------------------------------ clients on a host


Steps = Generator[Request, Answer, None]


class SimClient:
    """One etcd client of a host: one request at a time, each bounded by ``timeout_us`` of the
    host's clock (a lost request or answer is a ``timeout``).  Dead once ``stop``ped."""

    def __init__(self, world: World, host: SimHost, timeout_s: float) -> None:
        self.world = world
        self.host = host
        self.timeout_s = timeout_s
        self.token = 0
        self.alive = True

    def local_s(self) -> float:
        return self.host.local(self.world.now_us) / PPM

    def issue(self, req: Request, then: Callable[[Answer], None]) -> None:
        self.token += 1
        token = self.token
        sent = self.local_s()
        w, h = self.world, self.host

        def answered(result: object, error: str | None) -> None:
            if self.alive and self.token == token:
                self.token += 1
                then(Answer(sent, self.local_s(), result, error, error or "", "sim"))

        def timed_out() -> None:
            if self.alive and self.token == token:
                self.token += 1
                then(Answer(sent, self.local_s(), None, "timeout", "no answer in time", "sim"))

        deadline_local = h.local(w.now_us) + round(self.timeout_s * PPM)
        w.push_dcs(h.true_at(deadline_local), timed_out)
        w.etcd.send(h.name, req, answered)

    def stop(self) -> None:
        self.alive = False


class HostDcs:
    """The daemon's ``DcsTracker`` on one host: drives the real session like ``tracker.py``."""

    def __init__(self, world: World, host: SimHost, cfg: VrrpDcs, on_change: Callable[[], None]) -> None:
        self.world = world
        self.host = host
        self.client = SimClient(world, host, cfg.timeout_s)
        self.session = DcsSession(cfg.name, cfg.mode, cfg.key, host.name, cfg.ttl_s, cfg.interval_s, cfg.timeout_s)
        self.on_change = on_change
        self.wake_token = 0
        world.etcd.watchers[host.name] = self.kick

    @property
    def status(self) -> Status:
        return self.session.state.status

    def start(self) -> None:
        self._loop()

    def kick(self) -> None:
        if self.client.alive:
            self.session.kick()
            self._loop()

    def set_eligible(self, eligible: bool) -> None:
        if self.client.alive and self.session.set_eligible(eligible, "" if eligible else "chk is FAIL"):
            self._loop()

    def _settle(self) -> None:
        if self.session.settle(self.client.local_s()):
            self.on_change()

    def _loop(self) -> None:
        """What ``run_forever`` does between awaits: settle, start a due round, sleep."""
        s = self.session
        s.logs.clear()
        if s.in_round:
            self._settle()
            self._arm()
            return
        now = self.client.local_s()
        if s.round_due(now):
            self._next(s.begin_round(now))
            return
        self._settle()
        self._arm()

    def _next(self, req: Request | None) -> None:
        s = self.session
        if req is None:  # the round is over
            self._settle()
            self._loop() if s.round_due(self.client.local_s()) else self._arm()
            return
        if req.op == "revoke":
            self._settle()  # fail first: the VIP goes before the key does
        self.client.issue(req, lambda ans: self._next(s.answer(ans)))
        self._arm()

    def _arm(self) -> None:
        d = self.session.next_deadline()
        self.wake_token += 1
        if d is None:
            if not self.session.in_round:
                token = self.wake_token
                self.world.push_dcs(self.world.now_us, lambda: self._wake(token))
            return
        h = self.host
        token = self.wake_token
        # +1 µs: the float deadline must be behind the local clock when the wake runs
        at = max(self.world.now_us, h.true_at(math.ceil(d * PPM) + 1) + self.world.late_wake_us(h))
        self.world.push_dcs(at, lambda: self._wake(token))

    def _wake(self, token: int) -> None:
        if self.client.alive and token == self.wake_token:
            self._loop()

    def stop(self, *, revoke_after_us: int | None) -> None:
        """The daemon stops (SIGTERM: the revoke goes once the VIPs are released) or dies
        (``revoke_after_us`` None: nothing is sent; the lease runs out at etcd)."""
        self.client.stop()
        self.world.etcd.watchers.pop(self.host.name, None)
        req = self.session.release("stopping")
        if req is not None and revoke_after_us is not None:
            w, h = self.world, self.host
            w.push_dcs(w.now_us + revoke_after_us, lambda: w.etcd.send(h.name, req, lambda _r, _e: None))


class Writer:
    """A Patroni-like writer of the leader key on a host (follow mode): every ``loop_s`` it
    keeps its lease alive while it holds the key, and takes the key (grant + create-if-absent,
    value = its host name) when it is absent.  It never deletes or rewrites the key: the key
    moves only when the holder's lease expires (see the report of issue 16 about switchovers)."""

    def __init__(self, world: World, host: SimHost, ttl_s: int) -> None:
        self.world = world
        self.host = host
        self.ttl_s = ttl_s
        self.loop_s = ttl_s / 3
        self.client = SimClient(world, host, min(1.0, self.loop_s))
        self.lease: int | None = None
        self.busy = False
        self._tick()

    def _tick(self) -> None:
        if not self.client.alive:
            return
        h = self.host
        w = self.world
        w.push_dcs(h.true_at(h.local(w.now_us) + round(self.loop_s * PPM)), self._tick)
        if not self.busy:
            self.busy = True
            self._run(self._steps(), None)

    def _run(self, steps: Steps, ans: Answer | None) -> None:
        try:
            req = steps.send(ans) if ans is not None else next(steps)
        except StopIteration:
            self.busy = False
            return
        self.client.issue(req, lambda a: self._run(steps, a))

    def _steps(self) -> Steps:
        if self.lease is not None:
            a = yield Request("keepalive", lease_id=self.lease)
            if a.ok or a.error != "lease_not_found":
                return
            self.lease = None
        r = yield Request("get", KEY)
        if not r.ok or r.result[0] is not None:
            return
        g = yield Request("grant", ttl_s=self.ttl_s)
        if not g.ok:
            return
        lease = g.result[0]
        c = yield Request("create", KEY, lease_id=lease, value=self.host.name)
        if c.ok and c.result[0]:
            self.lease = lease

    def stop(self) -> None:
        self.client.stop()
