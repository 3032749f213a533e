"""The simulated world: hosts running real, unmodified ``VrrpNode``s on one clock and one network.

What is real: every host's ``vipkeeper.core.node.VrrpNode``, built from keepalived.conf text as the
daemon builds it (``config.load.parse_string`` -> ``config.to_params.router_params``), fed exactly
the inputs ``daemon.app`` feeds it (``receive``, ``on_timer`` at ``next_deadline``, ``set_link``,
``set_tracking``, ``start``, ``reconfigure`` then ``set_tracking``, ``shutdown``).

What is simulated:

* time: one true clock (``World.now_us``, integer µs).  Each host reads its own monotonic clock,
  ``local = clock0_us + true * (1e6 + ppm) // 1e6``, with ``ppm`` up to ±10,000 (±1 %): a host
  whose clock runs slow fires its timers late in true time, one that runs fast fires them early.
  A node's deadline (local µs) is turned into the first true instant its clock reaches it.
* the network: one multicast segment (or unicast peers).  Every ``Transmit``'s bytes go to every
  host its sender can reach, each copy lost with probability ``loss``, delayed by a uniform draw
  in [``delay_min_us``, ``delay_max_us``] (so packets overtake each other), duplicated with
  probability ``dup``; directed blocks make asymmetric partitions; a host whose link is down
  neither sends nor hears.
* the host: its daemon can crash (``kill -9``: the VIP stays on the interface), the host can lose
  power (the VIP goes with it), be stopped with SIGTERM (``shutdown``: resign, VIPs released), be
  restarted (a fresh node; the stale VIP is removed *before* the node starts, as
  ``daemon.app`` does), be reloaded with another priority (``reconfigure``), have its link go down
  and up (``set_link``) and its trackers flip (``set_tracking``); a reload may also remove the
  instance (``remove_router``) and add it back (``add_router``, ``start_router``).  The VIP holder of each host
  follows its ``AddVips``/``DelVips`` effects.

Every random draw comes from ``random.Random`` seeded by the history, and every tie is broken
by a sequence number: a history replays bit for bit.

With ``History.dcs`` (invariant 1), each host's instance also tracks a ``vrrp_dcs`` and an
etcd model is one more participant on the same clock (``tests/sim/dcs.py``): its messages,
lease expiries, watch events and the sessions' wake-ups are ``"dcs"`` queue items (callables),
their draws come from ``rng_dcs`` (so histories without it replay as before), the session's
verdict reaches the node through ``set_tracking`` merged with the history's own tracker
(``SimHost.chk``), and VIP changes take effect after a bounded delay (``vip_delay_max_us``).

A late scheduler wake (``late`` action): the host's loop wakes up to ``late_max_us`` after a
deadline (a loaded machine), for its node's timers and its session alike.
"""

from __future__ import annotations

import heapq
import ipaddress
import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from typing import TYPE_CHECKING

from tests.sim.dcs import DCS_NAME, EtcdModel, HostDcs, Writer, dcs_block, dcs_from_text
from vipkeeper.config.load import parse_string
from vipkeeper.config.to_params import router_params, sync_groups
from vipkeeper.core.events import (
    AddVips,
    DelVips,
    Effect,
    Received,
    State,
    StateChanged,
    TrackingChanged,
    Transmit,
)
from vipkeeper.core.node import VrrpNode
from vipkeeper.core.params import RouterLink, RouterParams
from vipkeeper.core.router import VrrpRouter
from vipkeeper.core.tracking import Status

if TYPE_CHECKING:
    from tests.sim.checks import Checker
    from tests.sim.history import History, HostCfg

PPM = 1_000_000
IFINDEX = 2
INSTANCE = "VI_1"
INSTANCE2 = "VI_2"  # History.sync: a second instance, with VI_1 in vrrp_sync_group G
VIP = {4: "10.0.0.100/24", 6: "fd00::100/64"}
VIP2 = {4: "10.0.0.101/24", 6: "fd00::101/64"}
TTL = 255

# Queue phases at one instant: packets and history actions first, then the nodes' timers, then
# the checks that must see what the timers did.
PHASE_INPUT = 0
PHASE_CHECK = 2


class CoreRaised(Exception):
    """An exception escaped ``VrrpNode`` (invariant 4)."""


def conf_text(h: HostCfg, hist: History, priority: int | None = None) -> str:
    """The host's keepalived.conf, as an operator would write it."""
    lines = [
        "vrrp_instance VI_1 {",
        f"    state {'MASTER' if h.state_master else 'BACKUP'}",
        "    interface eth0",
        "    virtual_router_id 51",
        f"    version {hist.version}",
        f"    priority {h.priority if priority is None else priority}",
        f"    advert_int {hist.advert_int_cs / 100:g}",
    ]
    if hist.down_timer_adverts != 3:
        lines.append(f"    down_timer_adverts {hist.down_timer_adverts}")
    for flag in ("nopreempt", "fast_preempt", "lower_prio_no_advert", "higher_prio_send_advert"):
        if getattr(h, flag):
            lines.append(f"    {flag}")
    if h.preempt_delay_s:
        lines.append(f"    preempt_delay {h.preempt_delay_s}")
    if hist.unicast:
        lines.append(f"    unicast_src_ip {h.addr}")
        lines.append("    unicast_peer {")
        lines += [f"        {o.addr}" for o in hist.hosts if o.name != h.name]
        lines.append("    }")
    if hist.dcs is not None:
        lines += ["    track_script {", f"        {DCS_NAME}", "    }"]
    lines += ["    virtual_ipaddress {", f"        {VIP[hist.family]}", "    }", "}", ""]
    if hist.dcs is not None:
        lines = dcs_block(hist.dcs) + lines
    if hist.sync:
        # the same instance again (VRID 52, its own VIP), both in one sync group
        body = lines[1 : lines.index("    virtual_ipaddress {")]
        body = [x.replace("virtual_router_id 51", "virtual_router_id 52") for x in body]
        lines += [f"vrrp_instance {INSTANCE2} {{", *body, "    virtual_ipaddress {", f"        {VIP2[hist.family]}"]
        lines += ["    }", "}", "vrrp_sync_group G {", "    group {", f"        {INSTANCE}", f"        {INSTANCE2}"]
        lines += ["    }", "}", ""]
    return "\n".join(lines)


@lru_cache(maxsize=4096)
def params_from_text(text: str) -> RouterParams:
    config, diagnostics = parse_string(text)
    errors = [d for d in diagnostics if d.is_error]
    if errors:
        raise ValueError(f"simulator built a bad config: {errors}\n{text}")
    return router_params(config.instances[0], config.global_defs)


@lru_cache(maxsize=4096)
def params2_from_text(text: str) -> tuple[RouterParams, dict[str, tuple[str, ...]]]:
    """History.sync: the second instance's params and the sync groups, as ``daemon.app`` builds them."""
    config, _diagnostics = parse_string(text)
    return router_params(config.instances[1], config.global_defs), sync_groups(config)


@dataclass
class SimHost:
    name: str
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address
    cfg: HostCfg
    params: RouterParams
    ppm: int
    clock0_us: int
    mac: bytes
    node: VrrpNode | None = None  # None: no daemon running
    powered: bool = True
    daemon_crashed: bool = False  # killed: its VIP may still be on the interface
    link_up: bool = True
    tracking: TrackingChanged = field(default_factory=lambda: TrackingChanged(offset=0))  # what the node was told
    chk: TrackingChanged = field(default_factory=lambda: TrackingChanged(offset=0))  # the history's tracker
    dcs: HostDcs | None = None  # the vrrp_dcs tracker of the running daemon
    writer: Writer | None = None  # follow mode: the host's Patroni-like leader-key writer
    vip_pending: int = 0  # VIP changes decided and not yet on the interface
    vip_last_us: int = 0  # when the last of them takes effect
    late_max_us: int = 0  # the host's loop wakes up to this late
    has_vip2: bool = False  # History.sync: VI_2's VIP
    has_vip: bool = False
    delivered: int = 0  # packets given to the current node's receive()
    wake_us: int | None = None  # true time of the node's next deadline
    incarnation: int = 0
    configured: bool = True  # the instance is in its keepalived.conf (a reload may remove it)

    def local(self, true_us: int) -> int:
        return self.clock0_us + true_us * (PPM + self.ppm) // PPM

    def true_at(self, local_us: int) -> int:
        """The first true instant at which this host's clock reads ``local_us`` or later."""
        t = max(0, -(-(local_us - self.clock0_us) * PPM // (PPM + self.ppm)))
        while self.local(t) < local_us:
            t += 1
        while t > 0 and self.local(t - 1) >= local_us:
            t -= 1
        return t

    def true_duration(self, local_dur_us: int, from_true_us: int) -> int:
        """True time this host's clock takes to advance ``local_dur_us`` from ``from_true_us``."""
        return self.true_at(self.local(from_true_us) + local_dur_us) - from_true_us

    @property
    def running(self) -> bool:
        return self.node is not None

    @property
    def router(self) -> VrrpRouter | None:
        """The instance's router: None with no daemon, or while a reload has removed it."""
        node = self.node
        return None if node is None or INSTANCE not in node else node.router(INSTANCE)

    @property
    def state(self) -> State | None:
        r = self.router
        return None if r is None else r.state

    @property
    def state2(self) -> State | None:
        node = self.node
        return None if node is None or INSTANCE2 not in node else node.router(INSTANCE2).state


class World:
    def __init__(self, hist: History, checker: Checker | None = None) -> None:
        self.hist = hist
        self.rng = random.Random(hist.seed * 2 + 1)  # the network's draws
        self.now_us = 0
        self.checker = checker
        self.hosts: dict[str, SimHost] = {}
        for i, h in enumerate(hist.hosts):
            text = conf_text(h, hist)
            self.hosts[h.name] = SimHost(
                h.name,
                ipaddress.ip_address(h.addr),
                h,
                params_from_text(text),
                h.ppm,
                h.clock0_us,
                bytes((2, 0, 0, 0, 0, i + 1)),
            )
        self._queue: list[tuple[int, int, int, str, tuple[object, ...]]] = []
        self._seq = 0
        self.blocked: set[tuple[str, str]] = set()  # (from, to)
        self.loss = 0.0
        self.dup = 0.0
        self.delay_min_us = hist.delay_min_us
        self.delay_max_us = hist.delay_max_us
        self.drop_next_send = False
        self.sent = 0
        self.lost = 0
        self.duplicated = 0
        self.reordered = 0
        self._last_arrival: dict[tuple[str, str], int] = {}
        self.on_action: list[Callable[[str], None]] = []
        self.rng_dcs = random.Random(hist.seed * 2 + 3)  # etcd, VIP delays, late wakes
        self.etcd = EtcdModel(self, hist.dcs) if hist.dcs is not None else None
        self.vip_delay_max_us = 0 if hist.dcs is None else hist.dcs.vip_delay_max_us
        for t_us, kind, *args in hist.actions:
            self._push(t_us, PHASE_INPUT, "action", (kind, *args))

    # ------------------------------------------------------------ the queue

    def _push(self, t_us: int, phase: int, kind: str, data: tuple[object, ...]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (t_us, phase, self._seq, kind, data))

    def push_dcs(self, t_us: int, fn: Callable[[], None]) -> None:
        """An etcd message, lease expiry, watch event or session wake-up at ``t_us``."""
        self._push(max(t_us, self.now_us), PHASE_INPUT, "dcs", (fn,))

    def late_wake_us(self, h: SimHost) -> int:
        return self.rng_dcs.randint(0, h.late_max_us) if h.late_max_us else 0

    def schedule_check(self, t_us: int, name: str, *args: object) -> None:
        """Run ``checker.check_due(name, *args)`` at ``t_us``, after that instant's timers."""
        self._push(max(t_us, self.now_us), PHASE_CHECK, "check", (name, *args))

    def _next_wake(self) -> int | None:
        best: int | None = None
        for h in self.hosts.values():
            w = h.wake_us
            if w is not None and (best is None or w < best):
                best = w
        return best

    def run_until(self, end_us: int) -> None:
        q = self._queue
        while True:
            wake = self._next_wake()
            nxt = q[0][0] if q else None
            if wake is not None and (nxt is None or wake < nxt):
                nxt = wake
            if nxt is None or nxt > end_us:
                self.now_us = end_us
                return
            self.now_us = now = nxt
            while q and q[0][0] == now and q[0][1] == PHASE_INPUT:
                _, _, _, kind, data = heapq.heappop(q)
                if kind == "pkt":
                    self._deliver(*data)  # type: ignore[arg-type]
                elif kind == "dcs":
                    data[0]()  # type: ignore[operator]
                else:
                    self._act(data)
            for h in self.hosts.values():
                if h.wake_us is not None and h.wake_us <= now and h.node is not None:
                    self._call(h, partial(h.node.on_timer, h.local(now)))
            checker = self.checker
            # (an input the timers queued for this very instant -- a "dcs" item -- runs first: the
            # loop comes back to this instant for it, then for the checks)
            while q and q[0][0] == now and q[0][1] == PHASE_CHECK:
                _, _, _, kind, data = heapq.heappop(q)
                if checker is not None:
                    checker.check_due(self, *data)
            if checker is not None:
                checker.at_instant(self)

    # ------------------------------------------------------------ the core

    def _call(self, h: SimHost, fn: Callable[[], list[Effect]]) -> None:
        """One call into the node, as the daemon makes it; then carry out its effects in order."""
        try:
            effects = fn()
        except Exception as exc:
            raise CoreRaised(f"{h.name}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}") from exc
        for e in effects:
            te = type(e)
            if te is Transmit:
                self._send(h, e)  # type: ignore[arg-type]
            elif te is AddVips or te is DelVips:
                if e.instance == INSTANCE2:  # type: ignore[union-attr]
                    h.has_vip2 = te is AddVips
                else:
                    self._vip(h, te is AddVips)
            elif te is StateChanged and self.checker is not None and e.instance != INSTANCE2:  # type: ignore[union-attr]
                self.checker.on_transition(self, h, e)  # type: ignore[arg-type]
        node = h.node
        if node is not None:
            d = node.next_deadline()
            h.wake_us = None if d is None else max(self.now_us, h.true_at(d) + self.late_wake_us(h))

    def _vip(self, h: SimHost, up: bool) -> None:
        """The daemon's VIP worker: at once, or after a bounded delay, in order."""
        if not self.vip_delay_max_us:
            h.has_vip = up
            return
        at = max(h.vip_last_us, self.now_us + self.rng_dcs.randint(0, self.vip_delay_max_us))
        h.vip_last_us = at
        h.vip_pending += 1
        inc = h.incarnation

        def apply() -> None:
            if h.incarnation == inc and h.powered:
                h.has_vip = up
                h.vip_pending -= 1

        self.push_dcs(at, apply)

    # ------------------------------------------------------------ vrrp_dcs

    def _retrack(self, h: SimHost) -> None:
        """The daemon's TrackerSet: the history's tracker and the vrrp_dcs (weight 0) merged into
        the instance's verdict; lock mode told whether the other tracker passes."""
        t = h.chk
        if self.hist.sync and (t.offset or t.pending):
            # keepalived sets a sync group member's tracking weights to 0 (without
            # sync_group_tracking_weight: "probably won't work"): a member's tracker only FAULTs it.
            # Not judged yet: a member held in INIT by a tracker that has not reported; keepalived
            # holds the whole group then (num_member_init), vipkeeper's sync group does not.
            t = replace(t, offset=0, pending=frozenset())
        dcs = h.dcs
        if dcs is not None:
            st = dcs.status
            if st is Status.FAIL:
                t = replace(t, faults=t.faults | {DCS_NAME})
            elif st is Status.INIT:
                t = replace(t, pending=t.pending | {DCS_NAME})
        h.tracking = t
        node = h.node
        if node is not None and INSTANCE in node:  # a removed instance's trackers are forgotten
            self._call(h, lambda: node.set_tracking(INSTANCE, t, h.local(self.now_us)))
        if dcs is not None and dcs.session.mode == "lock":
            dcs.set_eligible(not h.chk.faults and not h.chk.pending)

    def _dcs_changed(self, h: SimHost) -> None:
        """The session's verdict changed: to the node at once (``on_change`` -> ``set_tracking``)."""
        checker = self.checker
        if checker is not None:
            checker.on_action(self, "dcs")
            checker.acting = True
        try:
            self._retrack(h)
        finally:
            if checker is not None:
                checker.acting = False

    def _start_dcs(self, h: SimHost) -> None:
        hist = self.hist
        if hist.dcs is None:
            return
        if hist.dcs.mode == "follow" and (h.writer is None or not h.writer.client.alive):
            h.writer = Writer(self, h, hist.dcs.writer_ttl_s)
        cfg = dcs_from_text(conf_text(h.cfg, hist))
        h.dcs = HostDcs(self, h, cfg, lambda: self._dcs_changed(h))

    def _stop_dcs(self, h: SimHost, revoke_after_us: int | None, power: bool) -> None:
        if h.dcs is not None:
            h.dcs.stop(revoke_after_us=revoke_after_us)
            h.dcs = None
        if power and h.writer is not None:
            h.writer.stop()
            h.writer = None

    # ------------------------------------------------------------ the network

    def _send(self, h: SimHost, t: Transmit) -> None:
        self.sent += 1
        if not h.link_up:
            return
        if self.drop_next_send:
            self.drop_next_send = False
            self.lost += 1
            return
        rng = self.rng
        for o in self.hosts.values():
            if o is h or (h.name, o.name) in self.blocked:
                continue
            if not t.dst.is_multicast and o.addr != t.dst:
                continue
            if self.loss and rng.random() < self.loss:
                self.lost += 1
                continue
            copies = 2 if self.dup and rng.random() < self.dup else 1
            self.duplicated += copies - 1
            for _ in range(copies):
                at = self.now_us + rng.randint(self.delay_min_us, self.delay_max_us)
                key = (h.name, o.name)
                if at < self._last_arrival.get(key, 0):
                    self.reordered += 1
                else:
                    self._last_arrival[key] = at
                pkt = Received(t.family, t.src, t.dst, TTL, IFINDEX, t.payload)
                self._push(at, PHASE_INPUT, "pkt", (o.name, h.name, pkt))

    def _deliver(self, to: str, frm: str, pkt: Received) -> None:
        h = self.hosts[to]
        node = h.node
        if node is None or not h.link_up:
            return  # no daemon to hear it, or no carrier
        h.delivered += 1
        checker = self.checker
        if checker is not None:
            checker.on_deliver(self, h, frm, pkt)
            checker.receiving = h.name
        try:
            self._call(h, lambda: node.receive(pkt, h.local(self.now_us)))
        finally:
            if checker is not None:
                checker.receiving = None

    # ------------------------------------------------------------ the history's actions

    def _act(self, data: tuple[object, ...]) -> None:
        kind, *args = data
        checker = self.checker
        if checker is not None:
            checker.on_action(self, str(kind))
            checker.acting = True
        try:
            getattr(self, f"_do_{kind}")(*args)
        finally:
            if checker is not None:
                checker.acting = False

    def _do_partition(self, frm: str, to: str) -> None:
        self.blocked.add((frm, to))

    def _do_heal(self) -> None:
        self.blocked.clear()

    def _do_net(self, loss_pm: int, dup_pm: int) -> None:
        self.loss = loss_pm / 1000
        self.dup = dup_pm / 1000

    def _do_link(self, name: str, up: bool) -> None:
        h = self.hosts[name]
        h.link_up = up
        node = h.node
        if node is not None:
            self._call(h, lambda: node.set_link(IFINDEX, up, h.local(self.now_us)))

    def _do_track(self, name: str, offset: int, fault: bool, pending: bool = False) -> None:
        h = self.hosts[name]
        h.chk = TrackingChanged(
            offset=offset,
            faults=frozenset({"chk"}) if fault else frozenset(),
            pending=frozenset({"chk0"}) if pending else frozenset(),
        )
        self._retrack(h)

    def _do_crash(self, name: str, power: bool) -> None:
        h = self.hosts[name]
        h.node = None
        h.wake_us = None
        self._stop_dcs(h, None, power)
        if power:
            h.powered = False
            h.has_vip = h.has_vip2 = False  # the address went with the machine
            h.vip_pending = 0
            h.incarnation += 1  # VIP changes under way are lost with it
        else:
            h.daemon_crashed = True  # kill -9: the VIP stays on the interface

    def _do_stop(self, name: str) -> None:
        h = self.hosts[name]
        node = h.node
        if node is None:
            return
        self._call(h, lambda: node.shutdown(h.local(self.now_us)))
        h.node = None
        h.wake_us = None
        # daemon.app: the VIPs are released, then the trackers stop (the lock's revoke)
        self._stop_dcs(h, max(0, h.vip_last_us - self.now_us), False)

    def _do_restart(self, name: str) -> None:
        """Start the daemon (booting the host first if it lost power), as ``daemon.app`` does:
        stale VIPs removed, routers added, link and tracking verdicts fed, then ``start``."""
        h = self.hosts[name]
        if h.node is not None:
            self._do_crash(name, False)
        h.powered = True
        h.daemon_crashed = False
        h.has_vip = h.has_vip2 = False  # io.stale_vips / VipActions.delete(quiet=True) before the first election
        h.vip_pending = 0
        node = VrrpNode()
        h.node = node
        h.delivered = 0
        h.incarnation += 1
        now = h.local(self.now_us)
        self._start_dcs(h)
        if self.hist.sync:
            p2, groups = params2_from_text(conf_text(h.cfg, self.hist, h.params.base_priority))
            node.set_sync_groups(groups)
            node.add_router(p2, RouterLink(IFINDEX, h.addr, h.mac))
        if h.configured:
            node.add_router(h.params, RouterLink(IFINDEX, h.addr, h.mac))
            self._call(h, lambda: node.set_link(IFINDEX, h.link_up, now))
            self._retrack(h)
        self._call(h, lambda: node.start(now))
        if h.dcs is not None:
            h.dcs.start()

    def _do_reload(self, name: str, priority: int) -> None:
        """SIGHUP with a changed priority: ``reconfigure`` then the tracking verdict again."""
        h = self.hosts[name]
        h.params = params_from_text(conf_text(h.cfg, self.hist, priority))
        node = h.node
        if node is None or INSTANCE not in node:
            return
        now = h.local(self.now_us)
        link = RouterLink(IFINDEX, h.addr, h.mac)
        self._call(h, lambda: node.reconfigure(INSTANCE, h.params, link, now))
        if self.hist.sync and INSTANCE2 in node:  # the same priority for both members
            p2 = params2_from_text(conf_text(h.cfg, self.hist, priority))[0]
            self._call(h, lambda: node.reconfigure(INSTANCE2, p2, link, now))
        self._call(h, lambda: node.set_tracking(INSTANCE, h.tracking, now))

    def _do_unconfigure(self, name: str) -> None:
        """A reload whose configuration no longer has the instance (``daemon.app._remove_instance``)."""
        h = self.hosts[name]
        h.configured = False
        node = h.node
        if node is not None and INSTANCE in node:
            self._call(h, lambda: node.remove_router(INSTANCE, h.local(self.now_us)))

    def _do_configure(self, name: str) -> None:
        """A reload that adds the instance back (``daemon.app._apply``: add, link, tracking, start)."""
        h = self.hosts[name]
        h.configured = True
        node = h.node
        if node is None or INSTANCE in node:
            return
        now = h.local(self.now_us)
        node.add_router(h.params, RouterLink(IFINDEX, h.addr, h.mac))
        self._call(h, lambda: node.set_link(IFINDEX, h.link_up, now))
        self._call(h, lambda: node.set_tracking(INSTANCE, h.tracking, now))
        self._call(h, lambda: node.start_router(INSTANCE, now))

    def _do_late(self, name: str, max_us: int) -> None:
        """The host's loop wakes up to ``max_us`` late from now on (0: on time again)."""
        self.hosts[name].late_max_us = max_us

    def _do_etcd_cut(self, name: str, cut: bool) -> None:
        """The host cannot reach any etcd member (both ways), or can again."""
        assert self.etcd is not None
        (self.etcd.cut.add if cut else self.etcd.cut.discard)(name)

    def _do_etcd_slow(self, name: str, extra_us: int) -> None:
        """The host's path to etcd gets ``extra_us`` slower each way (0: normal again)."""
        assert self.etcd is not None
        self.etcd.slow[name] = extra_us

    def _do_etcd_quorum(self, up: bool) -> None:
        assert self.etcd is not None
        self.etcd.set_quorum(up)

    def _do_etcd_net(self, loss_pm: int, lat_max_us: int) -> None:
        """etcd's messages lost with ``loss_pm`` per mille; latency up to ``lat_max_us`` (slow etcd)."""
        assert self.etcd is not None
        self.etcd.loss = loss_pm / 1000
        self.etcd.lat_max_us = max(self.etcd.lat_min_us, lat_max_us)

    def _do_settle(self, lose_one: bool, revive: tuple[str, ...] | list[str]) -> None:
        """The end of the chaos: the network heals (no loss; delay stays bounded, duplicates and
        reordering stay), every link comes up, crashed daemons restart (their stale VIPs would
        otherwise stay: an operator's problem, not the protocol's), the hosts in ``revive``
        come back; trackers keep their last verdict.  With ``lose_one`` the next advert sent is
        lost (the issue's "three intervals with a lost advert")."""
        self.blocked.clear()
        self.loss = 0.0
        for h in self.hosts.values():
            h.late_max_us = 0
        etcd = self.etcd
        if etcd is not None:
            etcd.cut.clear()
            etcd.slow.clear()
            etcd.loss = 0.0
            etcd.lat_max_us = self.hist.dcs.lat_max_us  # type: ignore[union-attr]
            etcd.set_quorum(True)
        for h in self.hosts.values():
            if not h.link_up:
                self._do_link(h.name, True)
        for h in self.hosts.values():
            if not h.configured:
                self._do_configure(h.name)
        for h in self.hosts.values():
            if h.daemon_crashed or (h.name in revive and h.node is None):
                self._do_restart(h.name)
        self.drop_next_send = lose_one
        if self.checker is not None:
            self.checker.on_settle(self)


def eligible(h: SimHost) -> bool:
    """May this host be MASTER, judged from its inputs only: daemon running, link up, every
    tracker reported and none failed."""
    if h.router is None or not h.link_up or h.tracking.faults:
        return False
    # A weight-0 tracker that has not reported holds a router where it is in INIT or FAULT (an
    # unknown result is no reason to come up); it does not move a BACKUP or a MASTER
    # (core.router._try_leave_init).
    return not h.tracking.pending or h.state in (State.BACKUP, State.MASTER)


def with_priority(p: RouterParams, priority: int) -> RouterParams:
    return replace(p, base_priority=priority)
