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
* keepalived 2.4 ``auth_hmac`` (``core.auth_hmac``): the trailer signed once per advert and
  appended to every copy, and verified on receipt before the router sees the advert (keepalived
  vrrp_check_packet); the wall clock is ``now_us + wall_offset_us`` (the daemon keeps the
  offset, UTC minus monotonic);
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

from vipkeeper.core import codec, frames, ipsec_ah
from vipkeeper.core.auth_hmac import TRAILER_LEN, HmacState, pseudo_header
from vipkeeper.core.checksum_dialect import UnicastChecksum
from vipkeeper.core.constants import AUTH_AH, ETH_ALEN, PRIORITY_STOP, VRRP_TTL
from vipkeeper.core.events import (
    AdvertDropped,
    AdvertReceived,
    AuthClockSkew,
    ChecksumSwitched,
    Effect,
    Event,
    Gratuitous,
    GroupStateChanged,
    HostEntryLost,
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
    SyncGroupChanged,
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
    ah: ipsec_ah.AhSequence | None = None  # auth_type AH: the sequence counter (core.ipsec_ah)
    hmac: HmacState | None = None  # auth_hmac: send sequence and replay marks

    def __post_init__(self) -> None:
        self.destinations = self.router.params.destinations
        if self.router.params.auth_type == AUTH_AH:
            self.ah = ipsec_ah.AhSequence()
        self.hmac = _hmac_state(self.router.params, None)

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
                auth_type=p.sent_auth[0],
                # AH: auth_data is the HMAC key, never sent; the field stays zero (keepalived)
                auth_data=p.sent_auth[1] if p.auth_type != AUTH_AH else b"",
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


def _hmac_state(params: RouterParams, old: HmacState | None) -> HmacState | None:
    """The auth_hmac state for ``params``; a reload keeps the send sequence and the marks."""
    if params.auth_hmac is None:
        return None
    if old is None:
        return HmacState(params.auth_hmac)
    old.params = params.auth_hmac
    return old


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
        self._own_fault: dict[str, bool] = {}  # sync group members: has it a fault of its own?
        self._heap: list[tuple[int, int, str]] = []
        self._queued: dict[str, int] = {}  # name -> the deadline that has an entry in _heap
        self._seq = 0
        # Packets no instance could be named for (each also in exactly one counter).
        self.unknown_vrid = 0
        self.decode_errors: dict[str, int] = {}  # reason -> count, every decode failure
        self.received = 0  # every packet given to receive()
        self._retired = 0  # packets counted by routers removed since
        # UTC minus monotonic, in µs: the daemon keeps it current (auth_hmac timestamps).
        self.wall_offset_us = 0

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
        ep.hmac = _hmac_state(params, ep.hmac)
        if (old.checksum_mode, old.v3_checksum_pseudo, old.unicast, old.group) != (
            params.checksum_mode,
            params.v3_checksum_pseudo,
            params.unicast,
            params.group,
        ):
            ep.dialect = UnicastChecksum.for_params(params)
            ep.last_decoded = None  # decoded in the old dialect
        ep.frames = _gratuitous_frames(params, link.mac)
        if params.auth_type != AUTH_AH:
            ep.ah = None
        elif ep.ah is None:
            ep.ah = ipsec_ah.AhSequence()  # (an AH instance keeps its counter: keepalived reload)
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

    def host_entry_lost(self, name: str, what: str, now_us: int) -> list[Effect]:
        """A tracked virtual route or rule of router ``name`` was deleted (see ``HostEntryLost``)."""
        return self._feed(name, HostEntryLost(what), now_us)

    def set_link(self, ifindex: int, up: bool, now_us: int) -> list[Effect]:
        """An interface went up or down: the routers on it leave or enter FAULT."""
        out: list[Effect] = []
        for ep in list(self._eps.values()):
            if ep.link.ifindex != ifindex or ep.router.link_up is up:
                continue
            if not ep.router.params.track_primary:  # dont_track_primary (keepalived vrrp.c, vrrp_if.c)
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
        ah_packet = bool(pkt.ip_header)  # IPsec AH (protocol 51): payload = AH header + VRRP
        vrid_at = ipsec_ah.AH_HEADER_LEN + 1 if ah_packet else 1
        if len(payload) <= vrid_at:
            self.decode_errors["too_short"] = self.decode_errors.get("too_short", 0) + 1
            return [AdvertDropped("too_short", pkt.src, f"{len(payload)} bytes, no VRID")]
        ep = self._by_key.get((pkt.ifindex, pkt.family, payload[vrid_at]))
        if ep is None:
            # RFC 5798 §7.1: not a VRID configured on this interface.
            self.unknown_vrid += 1
            return [AdvertDropped("unknown_vrid", pkt.src, f"VRID {payload[vrid_at]} on ifindex {pkt.ifindex}")]
        router = ep.router
        drops = router.counters.drops
        if pkt.src == ep.link.src:  # our own advert looped back, or someone using our address
            drops["own_address"] = drops.get("own_address", 0) + 1
            return []
        p = router.params
        # (the cheap tests first: is_multicast is a network lookup in ipaddress)
        if not p.unicast and pkt.dst is not p.group and pkt.dst != p.group and pkt.dst.is_multicast:
            # keepalived binds each socket to its group (mcast_dst_ip / vrrp_mcast_group4/6):
            # an advert for this VRID sent to another group never reaches the instance.
            drops["wrong_cast"] = drops.get("wrong_cast", 0) + 1
            return [AdvertDropped("wrong_cast", pkt.src, f"sent to {pkt.dst}, not our group {p.group}", p.name)]
        if ah_packet or ep.ah is not None:
            # keepalived vrrp_check_packet(): AH expected exactly when auth_type is AH.
            bad = self._check_ah(ep, pkt)
            if bad is not None:
                reason, detail = bad
                if reason == "bad_ah":
                    self.decode_errors[reason] = self.decode_errors.get(reason, 0) + 1
                drops[reason] = drops.get(reason, 0) + 1
                return [AdvertDropped(reason, pkt.src, detail, router.params.name)]
            payload = payload[ipsec_ah.AH_HEADER_LEN :]
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
                    allow_auth_ah=ep.ah is not None,
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
        if ep.ah is not None:  # AH and auth_hmac never come together (keepalived 2.4 drops legacy auth)
            self._ah_after_check(ep, pkt, adv, now_us, out)
            return out
        if adv.trailer or ep.hmac is not None:
            refused = self._authenticate(ep, pkt, adv, now_us, out)
            if refused is not None:
                drops[refused.reason] = drops.get(refused.reason, 0) + 1
                out.append(refused)
                return out
        effects = router.handle(AdvertReceived(adv, pkt.src, pkt.ttl, multicast), now_us)
        self._emit(ep, effects, now_us, out)
        return out

    def _check_ah(self, ep: _Endpoint, pkt: Received) -> tuple[str, str] | None:
        """keepalived vrrp_check_packet() / vrrp_in_chk_ipsecah(): the AH framing, its ICV,
        SPI and sequence number (which moves the instance's counter).  (reason, detail) or None."""
        ah = ep.ah
        if ah is None:
            return "auth_type_mismatch", "IPsec AH packet, but our auth_type is not AH"
        if not pkt.ip_header:
            return "auth_type_mismatch", "no IPsec AH header, but our auth_type is AH"
        try:
            hdr, _vrrp = ipsec_ah.parse(pkt.payload)
        except DecodeError as exc:
            return exc.reason, str(exc)
        p = ep.router.params
        why = ipsec_ah.verify(p.auth_data, pkt.ip_header, pkt.payload, hdr, pkt.src, unicast=p.unicast)  # type: ignore[arg-type]
        if why is None:
            why = ah.accept(hdr.seq)
        if why is not None:
            return "auth_failure", why
        return None

    def _ah_after_check(
        self, ep: _Endpoint, pkt: Received, adv: codec.Advertisement, now_us: int, out: list[Effect]
    ) -> None:
        """Hand an AH-verified advert to the router, with keepalived's counter rules
        (vrrp_check_packet: a BACKUP clears "cycled"; vrrp_state_master_rx: a MASTER that
        hears a lower priority continues from that advert's sequence number + 1)."""
        router, ah = ep.router, ep.ah
        assert ah is not None
        state, mine, own = router.state, router.effective_priority, router.src_addr
        accepted = router.counters.adverts_received
        effects = router.handle(AdvertReceived(adv, pkt.src, pkt.ttl, pkt.dst.is_multicast), now_us)
        if router.counters.adverts_received != accepted:
            if state is State.BACKUP:
                ah.heard_as_backup()
            elif state is State.MASTER and adv.priority != PRIORITY_STOP:
                ours = int(own) if own is not None else 0
                if adv.priority < mine or (adv.priority == mine and int(pkt.src) < ours):
                    ah.master_heard_lower(ipsec_ah.parse(pkt.payload)[0].seq)
                else:  # a higher master: keepalived clears "cycled" too
                    ah.heard_as_backup()
        self._emit(ep, effects, now_us, out)

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

    def _authenticate(
        self, ep: _Endpoint, pkt: Received, adv: codec.Advertisement, now_us: int, out: list[Effect]
    ) -> AdvertDropped | None:
        """keepalived 2.4 vrrp_check_packet / vrrp_auth_ext_verify (vrrp.c): the trailer is
        verified before any field reaches the state machine.  None: go on."""
        p = ep.router.params
        hm = ep.hmac
        if hm is None:
            # keepalived without auth_hmac reads the trailer as a too long packet.
            return AdvertDropped("auth_trailer", pkt.src, "an auth_hmac trailer, and no auth_hmac here", p.name)
        if adv.version != p.version:
            return None  # keepalived checks the version first: the router drops it
        if not adv.trailer:
            if hm.params.requires_trailer:
                return AdvertDropped("auth_missing", pkt.src, "missing authentication trailer", p.name)
            return None  # receive-only / permissive accept unsigned adverts
        if p.unicast and pkt.src not in p.unicast_peers:
            # keepalived: the replay state lives with a configured peer
            return AdvertDropped("not_a_peer", pkt.src, f"{pkt.src} is not a unicast peer", p.name)
        verdict = hm.verify(
            pkt.payload[: len(pkt.payload) - TRAILER_LEN],
            adv.trailer,
            pseudo_header(p.family, p.version, p.vrid, pkt.src),
            pkt.src,
            now_us + self.wall_offset_us,
            unicast=p.unicast,
        )
        if verdict.reason is not None:
            return AdvertDropped(verdict.reason, pkt.src, verdict.detail, p.name)
        if verdict.skew_warning:
            out.append(AuthClockSkew(p.name, pkt.src, verdict.skew_s, hm.params.time_window_s))
        return None

    def _emit(self, ep: _Endpoint, effects: list[RouterEffect], now_us: int, out: list[Effect]) -> None:
        """Turn one router's effects into the node's, in order; then re-queue its deadline."""
        for e in effects:
            if type(e) is SendAdvert:
                prio = e.priority
                if ep.ah is not None:
                    self._transmit_ah(ep, prio, out)
                    continue
                hm = ep.hmac
                if hm is not None and hm.params.signs:
                    # Signed once per advert: every copy carries the same sequence and HMAC
                    # (the HMAC skips the checksum, the only per-destination field).
                    p = ep.router.params
                    src, ifindex, name = ep.link.src, ep.link.ifindex, p.name
                    ttl = p.unicast_ttl if p.unicast else VRRP_TTL
                    body = ep.encoder(ep.destinations[0]).encode(prio)
                    trailer = hm.sign(
                        body, pseudo_header(p.family, p.version, p.vrid, src), now_us + self.wall_offset_us
                    )
                    for dst in ep.destinations:
                        enc = ep.encoder(dst)
                        data = codec.append_trailer(enc.encode(prio), trailer, family=p.family, src=src, dst=enc.dst)
                        out.append(Transmit(ifindex, p.family, src, dst, data, name, ttl=ttl))
                    continue
                txs = ep.transmits.get(prio)
                if txs is None:
                    p = ep.router.params
                    src, ifindex, name = ep.link.src, ep.link.ifindex, p.name
                    ttl = p.unicast_ttl if p.unicast else VRRP_TTL
                    txs = tuple(
                        Transmit(ifindex, p.family, src, dst, ep.encoder(dst).encode(prio), name, ttl=ttl)
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
                    if ep.ah is not None and e.new is State.MASTER:
                        ep.ah.becoming_master()
                    self._sync(ep, e, now_us, out)
        name = ep.router.params.name
        if name in self._group_of and bool(ep.router.own_faults) != self._own_fault.get(name, False):
            self._sync_faults(ep, now_us, out)
        self._schedule(ep)

    def _transmit_ah(self, ep: _Endpoint, prio: int, out: list[Effect]) -> None:
        """One advert round with IPsec AH (keepalived vrrp_send_adv / vrrp_update_pkt): one
        sequence number and IP identification for every destination; whole IPv4 packets."""
        assert ep.ah is not None
        p, src = ep.router.params, ep.link.src
        seq, ident = ep.ah.next_round()
        ttl = p.unicast_ttl if p.unicast else VRRP_TTL
        for dst in ep.destinations:
            packet = ipsec_ah.seal(
                ep.encoder(dst).encode(prio),
                src=src,  # type: ignore[arg-type]
                dst=dst,  # type: ignore[arg-type]
                key=p.auth_data,
                seq=seq,
                ident=ident,
                ttl=ttl,
                unicast=p.unicast,
            )
            out.append(Transmit(ep.link.ifindex, p.family, src, dst, packet, p.name, ttl=ttl, ip_packet=True))

    def _sync_faults(self, ep: _Endpoint, now_us: int, out: list[Effect]) -> None:
        """A member's own fault came or went, with or without a state change (it may already be
        held in FAULT by the group): tell the other members.  keepalived vrrp_track.c
        ``down_instance`` / ``try_up_instance``: a member's first own fault counts in the group's
        ``num_member_fault`` whatever its state, and no member leaves FAULT while it is not 0."""
        name = ep.router.params.name
        self._own_fault[name] = bool(ep.router.own_faults)
        group = self._group_of[name]
        routers = {n: e.router for n, e in self._eps.items()}
        in_fault = frozenset(m for m in group.members if m in routers and routers[m].own_faults)
        for member in group.members:
            other = self._eps.get(member)
            if member == name or other is None:
                continue
            effects = other.router.handle(
                SyncGroupChanged(faults=in_fault - {member}, want=None, group=group.name), now_us
            )
            if effects:
                self._emit(other, effects, now_us, out)

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
