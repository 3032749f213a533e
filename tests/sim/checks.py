"""The invariants of issue 16 for plain VRRP (2, 3, 4), checked at every simulated instant.

Notation (all true-time µs unless said): ``A`` the advert interval, ``k`` ``down_timer_adverts``
(3, RFC 5798 §6.1), ``Skew(p) = (256 - p) / 256 s`` (v2, RFC 3768 §6.1) or
``(256 - p) * A / 256`` (v3, RFC 5798 §6.1), ``MDI(p) = k * A + Skew(p)``
(Master_Down_Interval), ``D`` the network's largest one-way delay, ``T_s`` the instant the
history settles (``World._do_settle``: every later input is the protocol's own), ``ppm_min`` the
slowest host clock of the history (>= -10,000, i.e. -1 %), and ``stretch(L) = ceil(L * 1e6 /
(1e6 + ppm_min))``: the longest true time a host clock takes to count ``L`` local µs.  ``PD`` is
the largest ``preempt_delay``, ``lost`` is 1 when one advert after ``T_s`` is lost, else 0.

Invariant 4 (every instant): every packet the world delivered to a node is counted once,
``node.received == delivered == node.accounted()``; no exception escapes the core
(``world.CoreRaised``).  Also at every instant: a running node holds the VIP iff its router is
MASTER (the holder follows AddVips/DelVips), a host with no daemon after a clean stop or power
loss holds none.

Invariant 2 (from ``T_s``; ``k`` is the history's ``down_timer_adverts``, 2..4):

* (2a) split brain heals: of the MASTERs at ``T_s``, at most one is MASTER at
  ``T_split = T_s + stretch(A) + D + lost * stretch(A)``.  Each of them sends an advert within
  one of its own intervals (RFC 5798 §6.4.3 Adver_Timer), it reaches the others within ``D``, and
  the lower one (priority, then address) leaves MASTER on receipt (§6.4.3 "greater than the local
  Priority ... or the same and the primary address is greater": transition to Backup).  This is
  the issue's "within two advert intervals" read strictly: one interval plus the delay, two
  with a lost advert.
* (2b) one master: from ``T_one`` to the end of the history, every host eligible by its inputs
  (``world.eligible``: daemon up, link up, no tracker failed or pending) is BACKUP or MASTER and
  every other running one FAULT or INIT; exactly one MASTER when some host is eligible (none
  otherwise), the VIP on that host and on no other, and no state transition anywhere, with
  ``T_one = T_s + 2 * D + stretch(MDI(p_min)) + lost * stretch(A)`` without ``preempt_delay``, and
  ``T_one = T_s + 3 * D + stretch(MDI(p_min)) + stretch(PD) + stretch(MDI(p_pd)) + lost * stretch(A)``
  with it (``p_min`` the lowest effective priority of the hosts running at ``T_s``, ``p_pd`` the
  lowest of those with a ``preempt_delay``).
  Derivation: a BACKUP's Master_Down_Timer is re-armed only by an advert it accepts (§6.4.2);
  after ``T_s`` an accepted advert comes from a live MASTER or is a stale one still in flight
  (``<= T_s + D``), so by ``T_s + D + stretch(MDI(p))`` every BACKUP of priority ``p`` that would
  preempt has done so or hears a MASTER at least as high; its first advert reaches every lower
  MASTER within ``D`` (+ one interval when that advert is the lost one), which yields.  The
  lowest priority ``p_min`` has the longest skew, hence the bound.  With ``preempt_delay`` the
  first lower advert starts the delay: it comes from the first MASTER, which may itself only
  appear at ``T_s + D + stretch(MDI(p_min))`` (none at ``T_s``) and reaches the delaying host
  ``D`` later; while the delay runs the host accepts the lower adverts (keepalived), so its down
  timer fires ``stretch(MDI(p_pd))`` after the last one accepted before the delay ended, and its
  first advert takes ``D`` to unseat the lower MASTER.  The issue's "two advert
  intervals plus skew" is the case where a master already exists at ``T_s``; when none does (it
  crashed just before) nothing can be faster than Master_Down_Interval, which is what
  ``k * A + Skew`` is.

Invariant 3:

* (3a, end of history) the MASTER has the highest effective priority of the eligible hosts,
  unless every eligible host above it is ``nopreempt`` (RFC 5798 §6.4.2 Preempt_Mode False).
* (3b, every transition) ``nopreempt`` is respected: a ``nopreempt`` BACKUP becomes MASTER only
  when its own clock shows ``MDI(p)`` since the later of entering BACKUP and the last advert it
  received (``Skew(p)`` when that advert had priority 0).
* (3e, every transition) ``preempt_delay`` is respected: a BACKUP with ``preempt_delay d`` that
  becomes MASTER while it was hearing a lower-priority MASTER (one of its adverts arrived less
  than ``MDI(p)`` ago, so it was discarded: it is preempting) has heard the lower adverts for at
  least ``d`` by its own clock, counted from the first one since it entered BACKUP or last heard
  an advert at least as high (keepalived's preempt_time).  Not for ``fast_preempt`` hosts, whose
  tracker-driven preemption starts the delay without an advert.
* (3d, every transition not caused by a history action) RFC 5798 §6.4.2: a BACKUP becomes MASTER
  only when its own clock shows ``MDI(p)`` since the later of entering BACKUP and the last advert
  it received with a priority at least its own (``Skew(p)`` when that advert had priority 0);
  with vipkeeper's ``fast_preempt`` also on receipt of a lower advert, but, from ``T_s`` on (no
  more loss, partition or crash: a master heard is alive), not within ``MDI(p)`` of an advert at
  least as high from another router (the master it last heard may lower its priority: then
  preempting it at once is what ``fast_preempt`` is for).
* (3c, exact) a BACKUP that receives a priority-0 advert is MASTER when its own clock has counted
  ``Skew(p)`` since (§6.4.2 "set the Master_Down_Timer to Skew_Time"), unless it hears another
  advert or the history acts first.  Measured from the resigning master's send, that is within
  ``D + stretch(Skew(p))``.

The core bugs the simulator found are fixed; ``test_found_bugs.py`` replays each of them.

Invariant 1 (``vrrp_dcs`` histories, ``History.dcs``; issue 12): at every instant at most one
host has the VIP on its interface (``has_vip``: what the VIP worker has done, not what the node
decided), whatever the network, etcd, crashes, late wakes and clock rates (within the bound) do.
In these histories the VIP follows the etcd key, not VRRP priorities alone, and a tracker may
flip whenever etcd says so, so 2a, 2b, 3a and "no transition after the bound" give way to the
end-of-history check (1b): once the network and etcd healed and
``T_live = T_s + stretch(2 * (max(ttl, writer ttl) + interval + 2 * timeout) + 3 * MDI(p_min) +
vip delay)`` passed (a lease to run out, a round to see it, a lock or key to take, VRRP to move),
the VIP is on exactly the host the key names when that host can hold it (daemon up, link up,
its other tracker passing), on none otherwise; in lock mode the key is held by a host that can.
A change of the ``vrrp_dcs`` verdict is an input like a history action for 3b-3e.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tests.sim.world import eligible
from vipkeeper.core.events import Received, State, StateChanged

if TYPE_CHECKING:
    from tests.sim.world import SimHost, World


def can_hold(h: SimHost) -> bool:
    """A host that may hold the VIP by every input but the etcd key: daemon and instance up,
    link up, its other tracker passing."""
    return h.router is not None and h.link_up and not h.chk.faults and not h.chk.pending


PPM = 1_000_000
VRID = 51  # VI_1's: the instance the checks follow


def skew_us(version: int, priority: int, advert_int_cs: int) -> int:
    """Skew_Time from the RFCs, written again here (not ``core.timers``): a core whose arithmetic
    is wrong must not also bend the checks."""
    if version == 3:
        return (256 - priority) * advert_int_cs * 10_000 // 256  # RFC 5798 §6.1
    return (256 - priority) * 1_000_000 // 256  # RFC 3768 §6.1


def master_down_us(version: int, priority: int, advert_int_cs: int, k: int = 3) -> int:
    """Master_Down_Interval (RFC 5798 §6.1), ``k`` = ``down_timer_adverts``."""
    return k * advert_int_cs * 10_000 + skew_us(version, priority, advert_int_cs)


class Violation(Exception):
    def __init__(self, kind: str, message: str, at_us: int) -> None:
        super().__init__(f"[{kind}] at {at_us / 1e6:.6f}s: {message}")
        self.kind = kind
        self.at_us = at_us


@dataclass
class Bounds:
    settle_us: int
    split_us: int
    one_us: int
    end_us: int


@dataclass
class Checker:
    """Per history.  ``on_*`` hooks are called by the world; a violation raises at once."""

    receiving: str | None = None  # the host whose node is in receive() (World._deliver)
    acting: bool = False  # a history action is being applied
    _down: dict[str, tuple[int, str]] = field(default_factory=dict)  # host -> (local µs, entry|adv|p0)
    down_timer_checked: int = 0  # BACKUP -> MASTER promotions checked (3d)
    _down_from: dict[str, str] = field(default_factory=dict)  # host -> who sent the last "adv"
    _last_from: dict[str, str] = field(default_factory=dict)  # host -> who sent the advert being received
    states: set[str] = field(default_factory=set)
    transitions: set[tuple[str, str]] = field(default_factory=set)
    settled: bool = False
    bounds: Bounds | None = None
    masters_at_settle: frozenset[str] = frozenset()
    last_transition_us: int | None = None  # the last one after T_s
    _p0: dict[str, tuple[int, int]] = field(default_factory=dict)  # host -> (deadline, id)
    _p0_seq: int = 0
    _reset: dict[str, tuple[int, bool]] = field(default_factory=dict)  # host -> (local µs, was prio 0)
    handovers: int = 0  # priority-0 handovers checked (3c)
    nopreempt_checked: int = 0  # nopreempt promotions checked (3b)
    _lower: dict[str, tuple[int, int]] = field(default_factory=dict)  # host -> (first, last) lower advert, local µs
    preempt_delay_checked: int = 0  # preemptions after a preempt_delay checked (3b)
    synced: bool = False  # the transition being judged was carried over by the sync group
    vip_instants: int = 0  # instants with a VIP holder, checked for a second one (invariant 1)

    # ------------------------------------------------------------ hooks

    def on_action(self, world: World, kind: str) -> None:
        self._p0.clear()  # the history acted: no exact Skew_Time promise holds across it

    def on_deliver(self, world: World, h: SimHost, frm: str, pkt: Received) -> None:
        if pkt.payload[1] != VRID:
            return  # VI_2's (History.sync): judged through the sync check only
        self._p0.pop(h.name, None)  # another advert: the down timer is re-armed (or not) by it
        if h.state is not State.BACKUP:
            return
        prio = pkt.payload[2]
        local = h.local(world.now_us)
        self._reset[h.name] = (local, prio == 0)
        assert h.router is not None
        if prio == 0:
            self._down[h.name] = (local, "p0")
        elif prio >= h.router.effective_priority:
            self._down[h.name] = (local, "adv")
            self._down_from[h.name] = frm
        self._last_from[h.name] = frm
        if prio:
            assert h.router is not None
            if prio < h.router.effective_priority:
                first = self._lower.get(h.name)
                self._lower[h.name] = (first[0] if first else local, local)
            else:
                self._lower.pop(h.name, None)
        if prio == 0 and not h.late_max_us:  # a late loop wake cannot be exact
            assert h.router is not None
            prio_own = h.router.effective_priority
            hist = world.hist
            deadline = h.true_at(h.local(world.now_us) + skew_us(hist.version, prio_own, hist.advert_int_cs))
            self._p0_seq += 1
            self._p0[h.name] = (deadline, self._p0_seq)
            world.schedule_check(deadline, "p0", h.name, self._p0_seq, world.now_us)

    def on_transition(self, world: World, h: SimHost, e: StateChanged) -> None:
        if "sync group" in e.reason:  # moved by the other member (core.sync_group): an input
            acting, self.acting, self.synced = self.acting, True, True
            self._p0.pop(h.name, None)
            try:
                self._on_transition(world, h, e)
            finally:
                self.acting, self.synced = acting, False
            return
        self._on_transition(world, h, e)

    def _on_transition(self, world: World, h: SimHost, e: StateChanged) -> None:
        now = world.now_us
        self.states.add(str(e.old))
        self.states.add(str(e.new))
        self.transitions.add((str(e.old), str(e.new)))
        if e.new is not State.BACKUP:
            p0 = self._p0.pop(h.name, None)
            if p0 is not None and e.new is State.MASTER:
                if now != p0[0]:
                    raise Violation(
                        "priority0",
                        f"{h.name} took over {(now - p0[0]) / 1e3:+.3f} ms off its Skew_Time after a priority-0 advert",
                        now,
                    )
                self.handovers += 1
        if e.old is State.BACKUP and e.new is State.MASTER and not self.acting and h.router is not None:
            self._check_down_timer(world, h, e)
        if e.old is State.BACKUP and e.new is State.MASTER and h.params.nopreempt and h.router and not self.synced:
            last = self._reset.get(h.name)
            if last is not None:
                hist = world.hist
                prio_own = h.router.effective_priority
                if last[1]:
                    need = skew_us(hist.version, prio_own, hist.advert_int_cs)
                else:
                    need = master_down_us(hist.version, prio_own, hist.advert_int_cs, hist.down_timer_adverts)
                self.nopreempt_checked += 1
                waited = h.local(now) - last[0]
                if waited < need:
                    raise Violation(
                        "nopreempt",
                        f"{h.name} (nopreempt) became MASTER {waited} µs after its last advert or BACKUP "
                        f"entry, its down timer is {need} µs ({e.reason})",
                        now,
                    )
        p = h.params
        delaying = p.preempt_delay_us and not p.fast_preempt and not self.synced
        if e.old is State.BACKUP and e.new is State.MASTER and delaying:
            lower = self._lower.get(h.name)
            resigned = self._reset.get(h.name, (0, False))[1]  # the last advert had priority 0: no preemption
            if lower is not None and h.router is not None and not resigned:
                hist = world.hist
                prio_own = h.router.effective_priority
                mdi = master_down_us(hist.version, prio_own, hist.advert_int_cs, hist.down_timer_adverts)
                local = h.local(now)
                if local - lower[1] < mdi:  # it was discarding a lower master's adverts: preempting
                    self.preempt_delay_checked += 1
                    if local - lower[0] < p.preempt_delay_us:
                        raise Violation(
                            "preempt_delay",
                            f"{h.name} preempted {(local - lower[0]) / 1e6:.6f}s after the first lower advert, "
                            f"preempt_delay is {p.preempt_delay_us / 1e6:g}s ({e.reason})",
                            now,
                        )
        if e.new is not State.BACKUP or e.old is not State.BACKUP:
            self._lower.pop(h.name, None)
        if e.new is State.BACKUP:
            # vipkeeper fast_preempt: leaving FAULT after the master resigned waits Skew_Time only
            router = h.router
            resigned = router is not None and h.params.fast_preempt and router.last_heard_resign
            self._reset[h.name] = (h.local(now), e.old is State.FAULT and resigned)
            self._down[h.name] = (h.local(now), "p0" if e.old is State.FAULT and resigned else "entry")
        if self.settled:
            self.last_transition_us = now
            b = self.bounds
            if b is not None and now >= b.one_us and world.etcd is None:
                raise Violation(
                    "stable",
                    f"{h.name} {e.old}->{e.new} ({e.reason}) after convergence bound "
                    f"T_s+{(b.one_us - b.settle_us) / 1e6:.6f}s",
                    now,
                )

    def _check_down_timer(self, world: World, h: SimHost, e: StateChanged) -> None:
        """3d: RFC 5798 §6.4.2, a BACKUP becomes MASTER when its Master_Down_Timer fires, re-armed
        by every advert at least as high as its own priority (Skew_Time after a priority 0);
        vipkeeper's fast_preempt also on receipt of a lower advert, but not while a higher
        master's advert has the timer armed."""
        p = h.params
        last = self._down.get(h.name)
        router = h.router
        if last is None or router is None:
            return
        if p.owner and p.want_master and last[1] == "entry":
            return  # keepalived: the address owner with state MASTER takes over 1 µs after start
        if p.fast_preempt and not self.settled:
            return  # while the chaos lasts, taking over early is what fast_preempt trades safety for
        hist = world.hist
        now, local = world.now_us, h.local(world.now_us)
        prio = router.effective_priority
        mdi = master_down_us(hist.version, prio, hist.advert_int_cs, hist.down_timer_adverts)
        need = skew_us(hist.version, prio, hist.advert_int_cs) if last[1] == "p0" else mdi
        self.down_timer_checked += 1
        if self.receiving == h.name:
            if not p.fast_preempt:
                raise Violation("down_timer", f"{h.name} became MASTER on receiving an advert ({e.reason})", now)
            other = self._down_from.get(h.name) != self._last_from.get(h.name)
            if last[1] == "adv" and other and local - last[0] < mdi:
                raise Violation(
                    "down_timer",
                    f"{h.name} (fast_preempt) took over on a lower advert from {self._last_from.get(h.name)} "
                    f"{(local - last[0]) / 1e6:.6f}s after one at least as high as its {prio} from "
                    f"{self._down_from.get(h.name)} ({e.reason})",
                    now,
                )
        elif local - last[0] < need:
            raise Violation(
                "down_timer",
                f"{h.name} became MASTER {(local - last[0]) / 1e6:.6f}s after its last {last[1]}, its down timer "
                f"is {need / 1e6:.6f}s ({e.reason})",
                now,
            )

    def on_settle(self, world: World) -> None:
        hist = world.hist
        now = world.now_us
        self.settled = True
        self.masters_at_settle = frozenset(n for n, h in world.hosts.items() if h.state is State.MASTER)
        ppm_min = min(h.ppm for h in world.hosts.values())

        def stretch(local_us: int) -> int:
            return -(-local_us * PPM // (PPM + ppm_min)) + 1

        a_us = hist.advert_int_cs * 10_000
        prios = [h.router.effective_priority for h in world.hosts.values() if h.router is not None]
        p_min = min(prios) if prios else 1
        k = hist.down_timer_adverts
        mdi = master_down_us(hist.version, p_min, hist.advert_int_cs, k)
        lost = stretch(a_us) if world.drop_next_send else 0
        d = world.delay_max_us
        split = now + stretch(a_us) + d + lost
        one = now + 2 * d + stretch(mdi) + lost
        delaying = [h.params for h in world.hosts.values() if h.params.preempt_delay_us]
        if delaying:
            pd = max(p.preempt_delay_us for p in delaying)
            p_pd = min(
                (
                    h.router.effective_priority
                    for h in world.hosts.values()
                    if h.router is not None and h.params.preempt_delay_us
                ),
                default=1,
            )
            mdi_pd = master_down_us(hist.version, p_pd, hist.advert_int_cs, k)
            one += d + stretch(pd) + stretch(mdi_pd)
        end = one + 2 * mdi + hist.tail_us
        if hist.dcs is not None:
            c = hist.dcs
            ttl_us = max(c.ttl_s, c.writer_ttl_s) * 1_000_000
            live = 2 * (ttl_us + (c.interval_ms + 2 * c.timeout_ms) * 1000) + 3 * mdi + c.vip_delay_max_us
            end = now + stretch(live) + 2 * d + hist.tail_us
            self.bounds = Bounds(now, end, end, end)
            return
        self.bounds = Bounds(now, split, one, end)
        world.schedule_check(split, "split")
        world.schedule_check(one, "one")

    def check_due(self, world: World, name: object, *args: object) -> None:
        now = world.now_us
        if name == "p0":
            host, ident, sent_at = args
            entry = self._p0.get(str(host))
            if entry is not None and entry[1] == ident:
                h = world.hosts[str(host)]
                raise Violation(
                    "priority0",
                    f"{host} got a priority-0 advert at {int(sent_at) / 1e6:.6f}s and is {h.state}, "
                    f"not MASTER, once its Skew_Time ran out",
                    now,
                )
            return
        if name == "split":
            still = [n for n in sorted(self.masters_at_settle) if world.hosts[n].state is State.MASTER]
            if len(still) > 1:
                raise Violation("split", f"masters at T_s {sorted(self.masters_at_settle)} still MASTER: {still}", now)
        # "one": at_instant checks from now on

    def at_instant(self, world: World) -> None:
        now = world.now_us
        dcs = world.etcd is not None
        if dcs:
            holders = [n for n, h in world.hosts.items() if h.has_vip]
            self.vip_instants += len(holders) > 0
            if len(holders) > 1:
                raise Violation("two_holders", f"the VIP is on {holders} (etcd key: {world.etcd.holder()})", now)  # type: ignore[union-attr]
        for h in world.hosts.values():
            if h.vip_pending:
                continue  # the VIP worker has not caught up with the node yet
            node = h.node
            if node is None:
                if h.has_vip and not h.daemon_crashed:
                    raise Violation("vip", f"{h.name} holds the VIP with no daemon (not a crash)", now)
                continue
            accounted = node.accounted()
            if node.received != h.delivered or accounted != h.delivered:
                raise Violation(
                    "accounting",
                    f"{h.name}: delivered {h.delivered}, node.received {node.received}, accounted {node.accounted()}",
                    now,
                )
            if h.has_vip != (h.state is State.MASTER):
                raise Violation("vip", f"{h.name} is {h.state} and has_vip={h.has_vip}", now)
            if h.has_vip2 != (h.state2 is State.MASTER):
                raise Violation("vip", f"{h.name} VI_2 is {h.state2} and has its VIP={h.has_vip2}", now)
        b = self.bounds
        if b is not None and now >= b.one_us and not dcs:
            self._check_one(world, now)
            if world.hist.sync:
                for h in world.hosts.values():
                    if h.node is not None and h.state2 is not h.state:
                        raise Violation("sync", f"{h.name}: VI_1 is {h.state}, VI_2 (same sync group) {h.state2}", now)

    def _check_one(self, world: World, now: int) -> None:
        masters = [n for n, h in world.hosts.items() if h.state is State.MASTER]
        holders = [n for n, h in world.hosts.items() if h.has_vip]
        any_eligible = False
        for h in world.hosts.values():
            if h.node is None:
                continue
            ok = eligible(h)
            any_eligible |= ok
            if ok != (h.state in (State.BACKUP, State.MASTER)):
                raise Violation(
                    "state",
                    f"{h.name} is {h.state} with link {'up' if h.link_up else 'down'} and tracking {h.tracking}",
                    now,
                )
        want = 1 if any_eligible else 0
        if len(masters) != want or holders != masters:
            raise Violation(
                "one_master",
                f"{len(masters)} MASTER(s) {masters}, VIP on {holders}, expected {want} "
                f"(bound T_s+{(self.bounds.one_us - self.bounds.settle_us) / 1e6:.6f}s)",  # type: ignore[union-attr]
                now,
            )

    def finish(self, world: World) -> None:
        """End of history: invariant 3a (the highest effective priority won), or 1b."""
        now = world.now_us
        if world.etcd is not None:
            self._finish_dcs(world, now)
            return
        masters = [h for h in world.hosts.values() if h.state is State.MASTER]
        if len(masters) != 1:
            return  # _check_one has judged it
        m = masters[0]
        assert m.router is not None
        mp = m.router.effective_priority
        for h in world.hosts.values():
            if h is m or h.router is None or h.state is not State.BACKUP:
                continue
            p = h.router.effective_priority
            if p > mp and not h.params.nopreempt:
                raise Violation(
                    "priority",
                    f"{m.name} (priority {mp}) is MASTER but {h.name} (priority {p}, preempt) is BACKUP",
                    now,
                )

    def _finish_dcs(self, world: World, now: int) -> None:
        """1b: the VIP on the host the key names when it can hold it, on none otherwise."""
        etcd = world.etcd
        assert etcd is not None and world.hist.dcs is not None
        holders = [n for n, h in world.hosts.items() if h.has_vip]
        able = [n for n, h in world.hosts.items() if can_hold(h)]
        key = etcd.holder()
        if world.hist.dcs.mode == "lock" and able and key not in able:
            raise Violation("dcs_live", f"the lock is held by {key!r}; hosts that can hold it: {able}", now)
        want = [key] if key in able else []
        if holders != want:
            raise Violation("dcs_live", f"the VIP is on {holders}, the key names {key!r} (can hold: {able})", now)

    @property
    def convergence_us(self) -> int:
        if self.bounds is None or self.last_transition_us is None:
            return 0
        return self.last_transition_us - self.bounds.settle_us
