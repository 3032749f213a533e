"""LinkedNodes: several hosts' :class:`VrrpNode` on a fake link with a fake clock.

Each host is one real ``VrrpNode`` (the whole sans-IO endpoint: demux, decode,
checksum dialect, encoding, sync groups).  The bytes of every ``Transmit``
effect are delivered, after ``latency_us``, to every host the sender can reach
(to the group) or to the addressed peer (unicast), and go in through
``VrrpNode.receive`` as a raw socket would hand them over.  Adverts may be lost
at random (seeded).  Time only moves when the harness moves it, so a test of
many seconds of protocol time runs in milliseconds.
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
    Gratuitous,
    LinkChanged,
    Received,
    Shutdown,
    Start,
    State,
    StateChanged,
    TrackingChanged,
    Transmit,
)
from vipkeeper.core.node import VrrpNode
from vipkeeper.core.params import RouterLink, RouterParams
from vipkeeper.core.router import VrrpRouter

US = 1_000_000
IFINDEX = 2
MAC = bytes.fromhex("020000000001")


@dataclass
class Host:
    name: str
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address
    node: VrrpNode
    router_name: str
    has_vips: bool = False
    alive: bool = True
    sent: list[tuple[int, int]] = field(default_factory=list)  # (time_us, priority)
    wire: list[Transmit] = field(default_factory=list)  # every Transmit, bytes included
    garps: list[int] = field(default_factory=list)  # time_us of each gratuitous burst
    states: list[tuple[int, State, str]] = field(default_factory=list)

    @property
    def router(self) -> VrrpRouter:
        return self.node.router(self.router_name)


class LinkedNodes:
    def __init__(self, *, latency_us: int = 200, loss: float = 0.0, seed: int = 1) -> None:
        self.now_us = 0
        self.latency_us = latency_us
        self.loss = loss
        self.rng = random.Random(seed)
        self.hosts: dict[str, Host] = {}
        self._queue: list[tuple[int, int, str, Received]] = []  # (due, seq, dst host, packet)
        self._seq = 0
        self._blocked: set[frozenset[str]] = set()

    # ------------------------------------------------------------ building

    def add(self, name: str, addr: str, params: RouterParams) -> Host:
        node = VrrpNode()
        ip = ipaddress.ip_address(addr)
        node.add_router(params, RouterLink(IFINDEX, ip, MAC))
        h = Host(name, ip, node, params.name)
        self.hosts[name] = h
        return h

    def start(self, *names: str) -> None:
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
        """Give one host's node an input, as the daemon would."""
        h = self.hosts[name]
        if not h.alive:
            return []
        node, r = h.node, h.router_name
        match event:
            case Start():
                effects = node.start(self.now_us)
            case TrackingChanged():
                effects = node.set_tracking(r, event, self.now_us)
            case LinkChanged(up=up):
                effects = node.set_link(IFINDEX, up, self.now_us)
            case Shutdown():
                effects = node.shutdown(self.now_us)
            case AdvertReceived(advert=adv, src=src, ttl=ttl, multicast=mc):
                p = h.router.params
                dst = p.group if mc else h.addr
                wire = codec.encode(adv, family=p.family, src=src, dst=dst)
                effects = node.receive(Received(p.family, src, dst, ttl, IFINDEX, wire), self.now_us)
            case _:
                raise TypeError(f"LinkedNodes.feed: {event!r}")
        self._apply(h, effects)
        return effects

    def _apply(self, h: Host, effects: list[Effect]) -> None:
        for e in effects:
            if isinstance(e, Transmit):
                h.wire.append(e)
                h.sent.append((self.now_us, e.payload[2]))
                self._deliver(h, e)
            elif isinstance(e, AddVips):
                h.has_vips = True
            elif isinstance(e, DelVips):
                h.has_vips = False
            elif isinstance(e, Gratuitous):
                h.garps.append(self.now_us)
            elif isinstance(e, StateChanged):
                h.states.append((self.now_us, e.new, e.reason))

    def _deliver(self, h: Host, t: Transmit) -> None:
        multicast = t.dst.is_multicast
        for other in self.hosts.values():
            if other is h or not self._reachable(h.name, other.name):
                continue
            if not multicast and other.addr != t.dst:
                continue
            if self.loss and self.rng.random() < self.loss:
                continue
            if t.ip_packet:  # IPsec AH: a whole IPv4 packet, as the protocol-51 socket receives it
                hdr = codec.parse_ipv4_header(t.payload)
                head = t.payload[: len(t.payload) - len(hdr.payload)]
                pkt = Received(t.family, hdr.src, hdr.dst, hdr.ttl, IFINDEX, hdr.payload, head)
            else:
                pkt = Received(t.family, t.src, t.dst, t.ttl, IFINDEX, t.payload)
            self._seq += 1
            heapq.heappush(self._queue, (self.now_us + self.latency_us, self._seq, other.name, pkt))

    def _next_time(self) -> int | None:
        times = [q[0] for q in self._queue[:1]]
        for h in self.hosts.values():
            if h.alive:
                d = h.node.next_deadline()
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
                _, _, dst, pkt = heapq.heappop(self._queue)
                h = self.hosts[dst]
                if h.alive:
                    self._apply(h, h.node.receive(pkt, self.now_us))
            for h in self.hosts.values():
                d = h.node.next_deadline()
                if h.alive and d is not None and d <= self.now_us:
                    self._apply(h, h.node.on_timer(self.now_us))

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
