"""VrrpNode: everything one host does with VRRP, sans-IO.

The whole protocol endpoint of a host (as aioquic's ``QuicConnection`` is the
whole QUIC endpoint): the daemon hands it every received packet
(:meth:`VrrpNode.receive`), calls :meth:`VrrpNode.on_timer` at
:meth:`VrrpNode.next_deadline`, tells it what changed outside the protocol
(:meth:`set_tracking`, :meth:`set_link`), and carries out the effects it
returns, in order (``core.events``: wire-ready :class:`Transmit` bytes, VIP
adds and removes, gratuitous bursts as frames, state changes for notify).

Here, and nowhere else:

* demultiplexing by (interface, family, VRID) — RFC 5798 §7.1 "MUST verify that
  the VRID is configured on the receiving interface";
* decoding (``core.codec``), in each instance's checksum dialect
  (``core.checksum_dialect``);
* drop accounting: every received packet ends in exactly one counter
  (:meth:`accounted`): ``unknown_vrid``, a node-level ``decode_errors`` reason
  when no instance can be named, or one router's ``adverts_received`` /
  ``drops[reason]``;
* advert encoding, cached per destination and priority (``codec.AdvertEncoder``);
* gratuitous ARP / unsolicited NA frames (``core.frames``);
* sync groups (``core.sync_group``);
* the timer queue over all routers: one deadline per router (keepalived's
  ``sands``), kept in a heap and pushed again only when it moves.

No clock is read: ``now_us`` (monotonic, integer microseconds) is always an
argument.  Nothing that arrives from the network raises out of :meth:`receive`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from vipkeeper.core import codec, frames
from vipkeeper.core.checksum_dialect import UnicastChecksum
from vipkeeper.core.constants import ETH_ALEN
from vipkeeper.core.events import (
    AdvertDropped,
    AdvertReceived,
    ChecksumSwitched,
    Effect,
    Event,
    Gratuitous,
    GroupStateChanged,
    LinkChanged,
    LinkStateChanged,
    Received,
    RouterEffect,
    SendAdvert,
    SendGratuitous,
    Shutdown,
    SourceChanged,
    Start,
    State,
    StateChanged,
    TrackingChanged,
    Transmit,
)
from vipkeeper.core.params import IPAddress, RouterLink, RouterParams
from vipkeeper.core.router import VrrpRouter
from vipkeeper.core.sync_group import SyncGroup
from vipkeeper.errors import DecodeError

__all__ = ["VrrpNode"]

Key = tuple[int, int, int]  # (ifindex, family, vrid)


@dataclass(slots=True)
class _Endpoint:
    """One router and where it lives: its socket key, addresses, encoders, frames."""

    router: VrrpRouter
    link: RouterLink
    dialect: UnicastChecksum
    frames: tuple[bytes, ...]
    encoders: dict[IPAddress, codec.AdvertEncoder] = field(default_factory=dict)
    destinations: tuple[IPAddress, ...] = ()  # router.params.destinations, kept at hand
    # priority -> the Transmits of one advert (immutable, so the same objects every time)
    transmits: dict[int, tuple[Transmit, ...]] = field(default_factory=dict)
    # (payload, src, dst, advert, dst.is_multicast) of the last packet that decoded: a repeat
    # skips the decoder (and the multicast test, a network lookup in ipaddress)
    last_decoded: tuple[bytes, IPAddress, IPAddress, codec.Advertisement, bool] | None = None

    def __post_init__(self) -> None:
        self.destinations = self.router.params.destinations

    def reset_encoders(self) -> None:
        """The source, destinations, checksum dialect or parameters changed."""
        self.encoders.clear()
        self.transmits.clear()

    @property
    def key(self) -> Key:
        p = self.router.params
        return (self.link.ifindex, p.family, p.vrid)

    def encoder(self, dst: IPAddress) -> codec.AdvertEncoder:
        enc = self.encoders.get(dst)
        if enc is None:
            p = self.router.params
            adv = codec.Advertisement(
                version=p.version,
                vrid=p.vrid,
                priority=p.base_priority,
                addresses=p.vips,
                advert_int_cs=p.advert_int_cs,
                auth_type=p.auth_type,
                auth_data=p.auth_data,
            )
            enc = codec.AdvertEncoder(
                adv,
                family=p.family,
                src=self.link.src,
                dst=self.dialect.pseudo_dst(dst),
                v3_checksum_pseudo=p.v3_checksum_pseudo,
            )
            self.encoders[dst] = enc
        return enc


def _gratuitous_frames(params: RouterParams, mac: bytes) -> tuple[bytes, ...]:
    """keepalived vrrp_send_link_update(): one frame per VIP, excluded VIPs too."""
    if len(mac) != ETH_ALEN:
        return ()  # no Ethernet address (e.g. a point-to-point link): nothing to announce
    out = []
    for ip in params.vips + params.excluded_vips:
        if isinstance(ip, IPv4Address):
            out.append(frames.gratuitous_arp(mac, ip))
        else:
            out.append(frames.unsolicited_na(mac, ip))
    return tuple(out)


class VrrpNode:
    """All VRRP routers of one host."""

    def __init__(self) -> None:
        self._eps: dict[str, _Endpoint] = {}
        self._by_key: dict[Key, _Endpoint] = {}
        self._groups: dict[str, SyncGroup] = {}
        self._group_of: dict[str, SyncGroup] = {}
        self._heap: list[tuple[int, int, str]] = []
        self._queued: dict[str, int] = {}  # name -> the deadline that has an entry in _heap
        self._seq = 0
        # Packets no instance could be named for (each also in exactly one counter).
        self.unknown_vrid = 0
        self.decode_errors: dict[str, int] = {}  # reason -> count, every decode failure
        self.received = 0  # every packet given to receive()
        self._retired = 0  # packets counted by routers removed since

    # ------------------------------------------------------------ building

    def add_router(self, params: RouterParams, link: RouterLink) -> None:
        """Add one router (in INIT; :meth:`start` or :meth:`start_router` starts it)."""
        if params.name in self._eps:
            raise ValueError(f"router {params.name} already exists")
        ep = _Endpoint(
            VrrpRouter(params), link, UnicastChecksum.for_params(params), _gratuitous_frames(params, link.mac)
        )
        ep.router.src_addr = link.src
        if ep.key in self._by_key:
            raise ValueError(
                f"VRID {params.vrid} (IPv{params.family}) on ifindex {link.ifindex} is already used "
                f"by {self._by_key[ep.key].router.params.name}"
            )
        self._eps[params.name] = ep
        self._by_key[ep.key] = ep

    def reconfigure(self, old_name: str, params: RouterParams, link: RouterLink, now_us: int) -> list[Effect]:
        """A reload changed a router (same VRID, interface and family): it keeps its
        state and VIPs (a MASTER stays MASTER) and adopts the new settings."""
        ep = self._eps[old_name]
        if ep.key != (link.ifindex, params.family, params.vrid):
            raise ValueError(f"router {old_name}: reconfigure cannot move it to another VRID or interface")
        if params.name != old_name and params.name in self._eps:
            raise ValueError(f"router {old_name}: cannot be renamed {params.name}, which exists")
        del self._eps[old_name]
        self._unqueue(old_name)
        old = ep.router.params
        ep.link = link
        ep.router.src_addr = link.src
        ep.reset_encoders()
        ep.destinations = params.destinations
        if (old.checksum_mode, old.v3_checksum_pseudo, old.unicast, old.group) != (
            params.checksum_mode,
            params.v3_checksum_pseudo,
            params.unicast,
            params.group,
        ):
            ep.dialect = UnicastChecksum.for_params(params)
            ep.last_decoded = None  # decoded in the old dialect
        ep.frames = _gratuitous_frames(params, link.mac)
        self._eps[params.name] = ep
        out: list[Effect] = []
        self._emit(ep, ep.router.reconfigure(params, now_us), now_us, out)
        gained = set(params.vips + params.excluded_vips) - set(old.vips + old.excluded_vips)
        if gained and ep.router.state is State.MASTER and ep.frames:
            # New VIPs on a MASTER: announce them as on becoming MASTER (after the
            # daemon has added them: it queues the VIP change first).
            out.append(
                Gratuitous(params.name, link.ifindex, ep.frames, params.garp_master_repeat, params.garp_interval_us)
            )
        return out

    def remove_router(self, name: str, now_us: int) -> list[Effect]:
        """Remove a router: a MASTER resigns (priority 0) and releases its VIPs."""
        ep = self._eps.get(name)
        if ep is None:
            return []
        out: list[Effect] = []
        self._emit(ep, ep.router.handle(Shutdown(), now_us), now_us, out)
        c = ep.router.counters
        self._retired += c.adverts_received + sum(c.drops.values())  # still accounted for
        del self._eps[name]
        del self._by_key[ep.key]
        self._unqueue(name)
        return out

    def set_sync_groups(self, groups: dict[str, tuple[str, ...]]) -> None:
        """``vrrp_sync_group`` name -> member names.  A group that keeps its name and
        members keeps what it knew (its last common state)."""
        new: dict[str, SyncGroup] = {}
        for name, members in groups.items():
            old = self._groups.get(name)
            new[name] = old if old is not None and old.members == members else SyncGroup(name, members)
        self._groups = new
        self._group_of = {m: g for g in new.values() for m in g.members}

    # ------------------------------------------------------------ queries

    def __contains__(self, name: str) -> bool:
        return name in self._eps

    def router(self, name: str) -> VrrpRouter:
        return self._eps[name].router

    def routers(self) -> Iterator[VrrpRouter]:
        return (ep.router for ep in self._eps.values())

    def link(self, name: str) -> RouterLink:
        return self._eps[name].link

    def group_of(self, name: str) -> str | None:
        g = self._group_of.get(name)
        return None if g is None else g.name

    def next_deadline(self) -> int | None:
        """The earliest time (µs) at which :meth:`on_timer` must be called."""
        heap = self._heap
        while heap:
            d, _, name = heap[0]
            if self._queued.get(name) == d:
                return d
            heapq.heappop(heap)  # stale: the router's deadline moved, or it is gone
        return None

    @property
    def timer_queue_len(self) -> int:
        """Entries in the deadline heap (stale ones included): bounded by the routers, not by
        the packet rate."""
        return len(self._heap)

    def accounted(self) -> int:
        """Every packet given to :meth:`receive` is in exactly one of these counters."""
        total = self.unknown_vrid + self.decode_errors.get("too_short", 0) + self._retired
        for ep in self._eps.values():
            c = ep.router.counters
            total += c.adverts_received + sum(c.drops.values())
        return total

    # ------------------------------------------------------------ inputs

    def start(self, now_us: int) -> list[Effect]:
        """The daemon is ready (sockets open, stale VIPs removed): every router leaves INIT."""
        out: list[Effect] = []
        for ep in list(self._eps.values()):
            self._emit(ep, ep.router.handle(Start(), now_us), now_us, out)
        return out

    def start_router(self, name: str, now_us: int) -> list[Effect]:
        """Start one router added at run time (a reload)."""
        out: list[Effect] = []
        ep = self._eps[name]
        self._emit(ep, ep.router.handle(Start(), now_us), now_us, out)
        return out

    def set_tracking(self, name: str, verdict: TrackingChanged, now_us: int) -> list[Effect]:
        """The tracking arithmetic's verdict for one router (``core.tracking.evaluate``)."""
        return self._feed(name, verdict, now_us)

    def set_link(self, ifindex: int, up: bool, now_us: int) -> list[Effect]:
        """An interface went up or down: the routers on it leave or enter FAULT."""
        out: list[Effect] = []
        for ep in list(self._eps.values()):
            if ep.link.ifindex != ifindex or ep.router.link_up is up:
                continue
            out.append(LinkStateChanged(ep.router.params.name, up))
            self._emit(ep, ep.router.handle(LinkChanged(up=up), now_us), now_us, out)
        return out

    def set_source(self, name: str, src: IPAddress | None, now_us: int) -> list[Effect]:
        """The router's source address left its interface (``None``: it enters FAULT) or is
        there (again), possibly another one (an address taken from the interface): adverts are
        sent from it from now on and the router leaves that FAULT."""
        ep = self._eps.get(name)
        if ep is None:
            return []
        if src is not None and src != ep.link.src:
            ep.link = RouterLink(ep.link.ifindex, src, ep.link.mac)
            ep.router.src_addr = src
            ep.reset_encoders()  # the checksum's pseudo-header has the source
        out: list[Effect] = []
        self._emit(ep, ep.router.handle(SourceChanged(present=src is not None), now_us), now_us, out)
        return out

    def receive(self, pkt: Received, now_us: int) -> list[Effect]:
        """Hot path: one packet from a raw VRRP socket.  Never raises on its content."""
        self.received += 1
        payload = pkt.payload
        if len(payload) < 2:
            self.decode_errors["too_short"] = self.decode_errors.get("too_short", 0) + 1
            return [AdvertDropped("too_short", pkt.src, f"{len(payload)} bytes, no VRID")]
        ep = self._by_key.get((pkt.ifindex, pkt.family, payload[1]))
        if ep is None:
            # RFC 5798 §7.1: not a VRID configured on this interface.
            self.unknown_vrid += 1
            return [AdvertDropped("unknown_vrid", pkt.src, f"VRID {payload[1]} on ifindex {pkt.ifindex}")]
        router = ep.router
        drops = router.counters.drops
        if pkt.src == ep.link.src:  # our own advert looped back, or someone using our address
            drops["own_address"] = drops.get("own_address", 0) + 1
            return []
        out: list[Effect] = []
        last = ep.last_decoded
        src, dst = pkt.src, pkt.dst
        if (
            last is not None
            and last[0] == payload
            and (last[1] is src or last[1] == src)
            and (last[2] is dst or last[2] == dst)
        ):
            # The same bytes between the same addresses as the last advert that decoded (a
            # master repeats itself): the decoder would give the same Advertisement.  Only the
            # decoding is skipped; the router checks and counts it like any other.
            adv, multicast = last[3], last[4]
        else:
            try:
                adv, switched = ep.dialect.decode(
                    payload,
                    family=pkt.family,
                    src=pkt.src,
                    dst=pkt.dst,
                    v3_checksum_pseudo=router.params.v3_checksum_pseudo,
                )
            except DecodeError as exc:
                self.decode_errors[exc.reason] = self.decode_errors.get(exc.reason, 0) + 1
                drops[exc.reason] = drops.get(exc.reason, 0) + 1
                return [AdvertDropped(exc.reason, pkt.src, str(exc), router.params.name)]
            multicast = dst.is_multicast
            ep.last_decoded = (payload, src, dst, adv, multicast)
            if switched:
                ep.reset_encoders()
                out.append(ChecksumSwitched(router.params.name, pkt.src, ep.dialect.group))
        effects = router.handle(AdvertReceived(adv, pkt.src, pkt.ttl, multicast), now_us)
        self._emit(ep, effects, now_us, out)
        return out

    def on_timer(self, now_us: int) -> list[Effect]:
        """Run every router whose deadline is due at ``now_us``."""
        out: list[Effect] = []
        heap = self._heap
        while heap and heap[0][0] <= now_us:
            d, _, name = heapq.heappop(heap)
            if self._queued.get(name) != d:
                continue  # stale entry
            del self._queued[name]
            ep = self._eps[name]
            self._emit(ep, ep.router.on_timer(now_us), now_us, out)
        return out

    def shutdown(self, now_us: int) -> list[Effect]:
        """Stop: every MASTER resigns with a priority-0 advert and releases its VIPs."""
        out: list[Effect] = []
        for ep in list(self._eps.values()):
            self._emit(ep, ep.router.handle(Shutdown(), now_us), now_us, out)
        return out

    # ------------------------------------------------------------ internals

    def _feed(self, name: str, event: Event, now_us: int) -> list[Effect]:
        out: list[Effect] = []
        ep = self._eps[name]
        self._emit(ep, ep.router.handle(event, now_us), now_us, out)
        return out

    def _emit(self, ep: _Endpoint, effects: list[RouterEffect], now_us: int, out: list[Effect]) -> None:
        """Turn one router's effects into the node's, in order; then re-queue its deadline."""
        for e in effects:
            if type(e) is SendAdvert:
                txs = ep.transmits.get(e.priority)
                if txs is None:
                    p = ep.router.params
                    src, ifindex, name, prio = ep.link.src, ep.link.ifindex, p.name, e.priority
                    txs = tuple(
                        Transmit(ifindex, p.family, src, dst, ep.encoder(dst).encode(prio), name)
                        for dst in ep.destinations
                    )
                    ep.transmits[prio] = txs
                out.extend(txs)
            elif type(e) is SendGratuitous:
                if ep.frames:
                    out.append(Gratuitous(ep.router.params.name, ep.link.ifindex, ep.frames, e.count, e.interval_us))
            else:
                out.append(e)  # type: ignore[arg-type]
                if type(e) is StateChanged:
                    self._sync(ep, e, now_us, out)
        self._schedule(ep)

    def _sync(self, ep: _Endpoint, change: StateChanged, now_us: int, out: list[Effect]) -> None:
        """Carry one member's state change to the rest of its sync group."""
        group = self._group_of.get(ep.router.params.name)
        if group is None:
            return
        routers = {n: e.router for n, e in self._eps.items()}
        for member, event in group.fan_out(change.instance, change.old, change.new, routers):
            other = self._eps[member]
            effects = other.router.handle(event, now_us)
            if effects:
                self._emit(other, effects, now_us, out)
        settled = group.settle(routers)
        if settled is not None:
            out.append(GroupStateChanged(group.name, settled))

    def _schedule(self, ep: _Endpoint) -> None:
        # Queue a deadline once: most packets (every dropped one) leave it where it was, and
        # pushing it again per packet would grow the heap with packet rate x timer horizon.
        # A deadline that moved *later* (a backup hearing its master: every advert) keeps the
        # earlier entry: when it comes, the router finds nothing due and is queued at its real
        # deadline then.  One heap entry per Master_Down_Interval instead of one per advert;
        # never a late wake-up (the entry is never later than the router's deadline).
        d = ep.router.next_deadline()
        name = ep.router.params.name
        if d is None:
            self._queued.pop(name, None)
            return
        q = self._queued.get(name)
        if q is None or d < q:
            self._queued[name] = d
            self._seq += 1
            heapq.heappush(self._heap, (d, self._seq, name))

    def _unqueue(self, name: str) -> None:
        self._queued.pop(name, None)  # its heap entries are now stale
