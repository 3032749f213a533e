"""LinkedRouters: several VRRP engines on a fake link with a fake clock.

Adverts go through the real codec (encode on send, decode on receive), are
delivered after ``latency_us`` to every router the sender can reach, and may
be lost at random (seeded).  Time only moves when the harness moves it, so a
test of many seconds of protocol time runs in milliseconds.
"""

from __future__ import annotations

import heapq
import ipaddress
import random
from dataclasses import dataclass, field

from vipkeeper.core import codec
from vipkeeper.core.events import (
    AddVips,
    AdvertReceived,
    DelVips,
    Effect,
    Event,
    SendAdvert,
    SendGratuitous,
    State,
    StateChanged,
)
from vipkeeper.core.instance import VrrpRouter
from vipkeeper.core.params import RouterParams

US = 1_000_000


@dataclass
class Host:
    name: str
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address
    router: VrrpRouter
    has_vips: bool = False
    alive: bool = True
    sent: list[tuple[int, int]] = field(default_factory=list)  # (time_us, priority)
    garps: list[int] = field(default_factory=list)  # time_us of each gratuitous burst
    states: list[tuple[int, State, str]] = field(default_factory=list)


class LinkedRouters:
    def __init__(self, *, latency_us: int = 200, loss: float = 0.0, seed: int = 1) -> None:
        self.now_us = 0
        self.latency_us = latency_us
        self.loss = loss
        self.rng = random.Random(seed)
        self.hosts: dict[str, Host] = {}
        self._queue: list[tuple[int, int, str, AdvertReceived]] = []  # (due, seq, dst, event)
        self._seq = 0
        self._blocked: set[frozenset[str]] = set()

    # ------------------------------------------------------------ building

    def add(self, name: str, addr: str, params: RouterParams) -> Host:
        r = VrrpRouter(params)
        r.src_addr = ipaddress.ip_address(addr)
        h = Host(name, r.src_addr, r)
        self.hosts[name] = h
        return h

    def start(self, *names: str) -> None:
        from vipkeeper.core.events import Start

        for n in names or tuple(self.hosts):
            self.feed(n, Start())

    # ------------------------------------------------------------ network

    def partition(self, a: set[str], b: set[str]) -> None:
        for x in a:
            for y in b:
                self._blocked.add(frozenset((x, y)))

    def heal(self) -> None:
        self._blocked.clear()

    def kill(self, name: str) -> None:
        """The host vanishes silently (power loss): no resign, VIPs gone with it."""
        h = self.hosts[name]
        h.alive = False
        h.has_vips = False

    def _reachable(self, src: str, dst: str) -> bool:
        return frozenset((src, dst)) not in self._blocked

    # ------------------------------------------------------------ driving

    def feed(self, name: str, event: Event) -> list[Effect]:
        h = self.hosts[name]
        if not h.alive:
            return []
        effects = h.router.handle(event, self.now_us)
        self._apply(h, effects)
        return effects

    def _apply(self, h: Host, effects: list[Effect]) -> None:
        p = h.router.p
        for e in effects:
            if isinstance(e, SendAdvert):
                h.sent.append((self.now_us, e.priority))
                adv = codec.Advertisement(
                    version=p.version,
                    vrid=p.vrid,
                    priority=e.priority,
                    addresses=p.vips,
                    advert_int_cs=p.advert_int_cs,
                    auth_type=p.auth_type if p.version == 2 else 0,
                    auth_data=p.auth_data if p.version == 2 else b"",
                )
                for other in self.hosts.values():
                    if other is h or not self._reachable(h.name, other.name):
                        continue
                    if self.loss and self.rng.random() < self.loss:
                        continue
                    dst = other.addr if p.unicast_peers else _group(p.family)
                    wire = codec.encode(adv, family=p.family, src=h.addr, dst=dst)
                    got = codec.decode(wire, family=p.family, src=h.addr, dst=dst)
                    ev = AdvertReceived(got, h.addr, 255, multicast=not p.unicast_peers)
                    self._seq += 1
                    heapq.heappush(self._queue, (self.now_us + self.latency_us, self._seq, other.name, ev))
            elif isinstance(e, AddVips):
                h.has_vips = True
            elif isinstance(e, DelVips):
                h.has_vips = False
            elif isinstance(e, SendGratuitous):
                h.garps.append(self.now_us)
            elif isinstance(e, StateChanged):
                h.states.append((self.now_us, e.new, e.reason))

    def _next_time(self) -> int | None:
        times = [q[0] for q in self._queue[:1]]
        for h in self.hosts.values():
            if h.alive:
                d = h.router.next_deadline()
                if d is not None:
                    times.append(d)
        return min(times) if times else None

    def run_until(self, t_us: int) -> None:
        while True:
            nxt = self._next_time()
            if nxt is None or nxt > t_us:
                self.now_us = t_us
                return
            self.now_us = max(self.now_us, nxt)
            while self._queue and self._queue[0][0] <= self.now_us:
                _, _, dst, ev = heapq.heappop(self._queue)
                self.feed(dst, ev)
            for h in self.hosts.values():
                d = h.router.next_deadline()
                if h.alive and d is not None and d <= self.now_us:
                    self._apply(h, h.router.on_timer(self.now_us))

    def run_for(self, dt_us: int) -> None:
        self.run_until(self.now_us + dt_us)

    # ------------------------------------------------------------ asserting

    def masters(self) -> list[str]:
        return [n for n, h in self.hosts.items() if h.alive and h.router.state is State.MASTER]

    def holders(self) -> list[str]:
        return [n for n, h in self.hosts.items() if h.alive and h.has_vips]

    def became_master_at(self, name: str, after_us: int = 0) -> int | None:
        for t, s, _ in self.hosts[name].states:
            if s is State.MASTER and t >= after_us:
                return t
        return None


def _group(family: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address("224.0.0.18" if family == 4 else "ff02::12")


def params(name: str = "VI_1", **kw) -> RouterParams:
    base = dict(
        name=name,
        vrid=51,
        version=2,
        family=4,
        base_priority=100,
        advert_int_cs=100,
        vips=(ipaddress.ip_address("172.20.0.115"),),
    )
    base.update(kw)
    return RouterParams(**base)
