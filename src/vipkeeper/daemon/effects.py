"""Carrying out the node's effects, in order.

``Transmit`` goes straight to the raw VRRP socket of its (interface, family).
VIP adds and removes need netlink (asynchronous) and the gratuitous ARPs that
announce VIPs must follow their add: both run through one ordered queue per
instance (:class:`VipActions`), so "add VIPs, then announce them" always
holds.  Everything else is a log line, a notification, or both.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import Any

from vipkeeper.config.model import Notify, Route, Rule, VirtualAddress
from vipkeeper.core import frames
from vipkeeper.core.events import (
    AddVips,
    AdvertDropped,
    AuthClockSkew,
    ChecksumSwitched,
    DelVips,
    Effect,
    Gratuitous,
    GroupStateChanged,
    LinkStateChanged,
    MasterRxLowerPri,
    PeerConflict,
    PriorityChanged,
    State,
    StateChanged,
    Transmit,
)
from vipkeeper.core.frames import gratuitous_arp, unsolicited_na
from vipkeeper.daemon.notify import Notifier
from vipkeeper.daemon.supervisor import Supervisor
from vipkeeper.io import linuxconst as lc
from vipkeeper.io.l2_socket import L2Sender
from vipkeeper.io.netlink import Netlink
from vipkeeper.io.nftables import Firewall
from vipkeeper.io.routes import HostRoutes
from vipkeeper.io.vrrp_socket import VrrpSocket

log = logging.getLogger(__name__)


def address_options(v: VirtualAddress) -> dict[str, Any]:
    """``Netlink.add_address``'s keyword arguments for a virtual or static address: its
    broadcast, scope, label and keepalived's ``ip addr`` options (vrrp_ipaddress.c)."""
    flags = (
        (lc.IFA_F_HOMEADDRESS if v.home else 0)
        | (lc.IFA_F_MANAGETEMPADDR if v.mngtmpaddr else 0)
        | (lc.IFA_F_NOPREFIXROUTE if v.noprefixroute else 0)
        | (lc.IFA_F_MCAUTOJOIN if v.autojoin else 0)
    )
    return {
        "brd": v.brd,
        "scope": v.scope,
        "label": v.label,
        "flags": flags,
        "nodad": v.nodad,
        "peer": v.peer,
        "preferred_lft_s": v.preferred_lft_s,
    }


WARN_PERIOD_S = 10.0


class RateLimitedLog:
    """At most one WARNING per key every ``period_s``; the rest at DEBUG, counted."""

    def __init__(self, period_s: float = WARN_PERIOD_S) -> None:
        self.period_s = period_s
        self._last: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}

    def warn(self, key: tuple[str, str], msg: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last.get(key)
        if last is None or now - last >= self.period_s:
            n = self._suppressed.pop(key, 0)
            suffix = f" ({n} more suppressed)" if n else ""
            log.warning(msg + suffix, *args)
            self._last[key] = now
        else:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            log.debug(msg, *args)


class GratuitousPacer:
    """keepalived's ``garp_interval`` / ``gna_interval`` (vrrp_arp.c send_gratuitous_arp,
    vrrp_ndisc.c): on one interface, gratuitous ARPs are at least ``garp_interval`` apart and
    unsolicited NAs at least ``gna_interval`` apart, whichever instance sends them; a packet
    that comes too early waits for its slot."""

    def __init__(self) -> None:
        self._next: dict[str, float] = {}  # "arp" / "na" -> loop time of the next free slot

    async def wait(self, kind: str, interval_s: float) -> None:
        loop = asyncio.get_running_loop()
        while True:  # another instance may take the slot while this one sleeps: look again
            now, at = loop.time(), self._next.get(kind, 0.0)
            if at <= now:
                self._next[kind] = now + interval_s  # keepalived: garp_next_time = now + interval
                return
            await asyncio.sleep(at - now)


_ETHERTYPE_IPV6 = b"\x86\xdd"  # an unsolicited NA (core.frames); anything else is an ARP


@dataclass(frozen=True, slots=True)
class VipDiff:
    """A reload changed the VIPs of an instance that holds them."""

    removed: tuple[VirtualAddress, ...]
    added: tuple[VirtualAddress, ...]


@dataclass(frozen=True, slots=True)
class HostDiff:
    """A reload changed the virtual_routes / virtual_rules of an instance that holds its VIPs:
    the old lists (the new ones are the instance's :class:`HostChanges` by then)."""

    routes: tuple[Route, ...]
    rules: tuple[Rule, ...]
    firewall: Firewall | None = None  # the instance's firewall before the reload


@dataclass(slots=True)
class HostChanges:
    """What an instance changes on the host beside its addresses (keepalived vrrp.c
    ``vrrp_state_become_master`` / ``vrrp_restore_interface``): ``virtual_routes`` and
    ``virtual_rules``, added after the VIPs and removed before them, and, without accept mode,
    the firewall drop of its VIPs, set before the VIPs are added and cleared after they are gone."""

    routes: tuple[Route, ...] = ()
    rules: tuple[Rule, ...] = ()
    host: HostRoutes | None = None  # open when there are routes or rules
    firewall: Firewall | None = None  # set when the instance does not accept (no_accept)
    garp_extra_if_s: int = 0  # ``garp_extra_if all N``: periodic GARP/NA on the VIPs' other interfaces


VipAction = AddVips | DelVips | Gratuitous | VipDiff | HostDiff


class VipActions:
    """One instance's VIP changes and gratuitous bursts, one after another."""

    def __init__(
        self,
        name: str,
        vips: tuple[VirtualAddress, ...],
        ifindex: int,
        ifname: str,
        *,
        netlink: Netlink,
        l2: L2Sender,
        is_master: Callable[[str], bool],
    ) -> None:
        self.name = name
        self.vips = vips  # virtual_ipaddress + virtual_ipaddress_excluded
        self.ifindex = ifindex
        self.ifname = ifname
        self.base_ifname: str | None = None  # use_vmac: a VIP with "dev BASE" goes on the macvlan too
        self._nl = netlink
        self._l2 = l2
        self._is_master = is_master
        self.host = HostChanges()
        self._extra_l2: dict[str, tuple[L2Sender, bytes]] = {}  # garp_extra_if: ifname -> (sender, MAC)
        self._held_event = asyncio.Event()
        self._queue: asyncio.Queue[VipAction] = asyncio.Queue()
        self.held = False
        self.garps_sent = 0
        # garp_interval / gna_interval (per instance, else vrrp_garp_interval / vrrp_gna_interval)
        # with the interface's pacer: every packet is spaced, not only the rounds of a burst
        self.pacer: GratuitousPacer | None = None
        # use_vmac_addr / a VIP's use_vmac: VIPs on a macvlan of their own, announced from it
        self.ifindex_for: dict[IPv4Interface | IPv6Interface, int] = {}
        self.l2_for: dict[IPv4Address | IPv6Address, tuple[L2Sender, bytes]] = {}
        self.garp_interval_s = 0.0
        self.gna_interval_s = 0.0
        self.worker: asyncio.Task[None] | None = None
        self.extra_worker: asyncio.Task[None] | None = None

    def start(self, supervisor: Supervisor) -> None:
        self.worker = supervisor.spawn(self._run(), f"vips-{self.name}")
        self.extra_worker = supervisor.spawn(self._extra_garp_loop(), f"garp-extra-{self.name}")

    def put(self, action: VipAction) -> None:
        self._queue.put_nowait(action)

    async def join(self, timeout_s: float) -> None:
        try:
            await asyncio.wait_for(self._queue.join(), timeout_s)
        except TimeoutError:
            log.error("(%s) timed out releasing VIPs", self.name)

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
        if self.extra_worker is not None:
            self.extra_worker.cancel()
        for l2, _mac in self._extra_l2.values():
            l2.close()
        self._extra_l2.clear()

    async def _run(self) -> None:
        while True:
            action = await self._queue.get()
            try:
                match action:
                    case AddVips():
                        await self.add()
                    case DelVips():
                        await self.delete()
                    case Gratuitous():
                        await self._gratuitous(action)
                    case VipDiff():
                        await self._diff(action)
                    case HostDiff():
                        await self._host_diff(action)
            except OSError as exc:  # netlink or the packet socket refused: the daemon goes on
                log.error("(%s) %s failed: %s", self.name, type(action).__name__, exc)
            finally:
                self._queue.task_done()

    async def _firewall(self, command: str, vips: tuple[VirtualAddress, ...]) -> None:
        """Drop (``add``) or accept again (``delete``) traffic to ``vips``.  A failure is logged
        and the VIPs still move: holding the VIP matters more than refusing traffic to it."""
        fw = self.host.firewall
        if fw is None or not vips:
            return
        pairs = [(v.address.ip, v.dev or self.ifname) for v in vips]
        try:
            await (fw.add(pairs) if command == "add" else fw.delete(pairs))
        except OSError as exc:
            log.error("(%s) no_accept: cannot %s the firewall drop of %s: %s", self.name, command, _ips(vips), exc)

    async def add(self) -> None:
        h = self.host
        await self._firewall("add", self.vips)  # before the addresses: never a moment when they accept
        added = []
        for v in self.vips:
            if await self._nl.add_address(await self._ifindex(v), v.address, **address_options(v)):
                added.append(str(v.address.ip))
        self.held = True
        self._held_event.set()
        log.info("(%s) VIPs added: %s", self.name, ", ".join(added) or "(already present)")
        if h.host is not None:
            if h.routes:
                routes = await h.host.add_routes(h.routes)
                log.info("(%s) virtual routes added: %s", self.name, "; ".join(routes) or "(already present)")
            if h.rules:
                rules = await h.host.add_rules(h.rules)
                log.info("(%s) virtual rules added: %s", self.name, "; ".join(rules) or "(already present)")

    async def delete(self, quiet: bool = False) -> list[str]:
        h = self.host
        if h.host is not None:  # rules, then routes, then addresses (keepalived's order)
            rules = await h.host.del_rules(h.rules)
            routes = await h.host.del_routes(h.routes)
            if rules and not quiet:
                log.info("(%s) virtual rules removed: %s", self.name, "; ".join(rules))
            if routes and not quiet:
                log.info("(%s) virtual routes removed: %s", self.name, "; ".join(routes))
        removed = []
        for v in self.vips:
            if await self._nl.del_address(await self._ifindex(v), v.address, v.peer):
                removed.append(str(v.address.ip))
        self.held = False
        self._held_event.clear()
        if not quiet:
            log.info("(%s) VIPs removed: %s", self.name, ", ".join(removed) or "(none present)")
        await self._firewall("delete", self.vips)
        return removed

    async def _host_diff(self, diff: HostDiff) -> None:
        h = self.host
        if diff.firewall is not None and h.firewall is None:  # no_accept -> accept
            try:
                await diff.firewall.delete([(v.address.ip, v.dev or self.ifname) for v in self.vips])
            except OSError as exc:
                log.error("(%s) accept: cannot remove the firewall drop: %s", self.name, exc)
        elif diff.firewall is None and h.firewall is not None:  # accept -> no_accept
            await self._firewall("add", self.vips)
        if h.host is None:
            return
        await h.host.del_rules(r for r in diff.rules if r not in h.rules)
        await h.host.del_routes(r for r in diff.routes if r not in h.routes)
        await h.host.add_routes(h.routes)
        await h.host.add_rules(h.rules)
        log.info("(%s) reload: virtual routes and rules updated", self.name)

    async def _diff(self, diff: VipDiff) -> None:
        for v in diff.removed:
            await self._nl.del_address(await self._ifindex(v), v.address, v.peer)
        await self._firewall("delete", diff.removed)
        await self._firewall("add", diff.added)
        for v in diff.added:
            await self._nl.add_address(await self._ifindex(v), v.address, **address_options(v))
        log.info(
            "(%s) reload: VIPs removed %s, added %s",
            self.name,
            [str(v.address.ip) for v in diff.removed],
            [str(v.address.ip) for v in diff.added],
        )

    async def _ifindex(self, v: VirtualAddress) -> int:
        own = self.ifindex_for.get(v.address)
        if own is not None:
            return own
        if v.dev is None or v.dev == self.ifname or v.dev == self.base_ifname:
            return self.ifindex
        link = await self._nl.link_by_name(v.dev)
        if link is None:
            raise OSError(errno.ENODEV, f"VIP {v.address} dev {v.dev}: no such interface")
        return link.ifindex

    def extra_interfaces(self) -> dict[str, VirtualAddress]:
        """Each interface other than the instance's that has a VIP, with its first VIP."""
        out: dict[str, VirtualAddress] = {}
        for v in self.vips:
            if v.dev is not None and v.dev != self.ifname:
                out.setdefault(v.dev, v)
        return out

    async def _extra_garp_loop(self) -> None:
        """``garp_extra_if all N`` (keepalived vrrp.c vrrp_send_vmac_update): while MASTER,
        every N seconds from becoming MASTER, one gratuitous ARP / NA on each other interface
        that has a VIP, for its first VIP there, from that interface's MAC."""
        loop = asyncio.get_running_loop()
        while True:
            await self._held_event.wait()
            interval_s = self.host.garp_extra_if_s
            if not interval_s:
                await asyncio.sleep(1.0)  # a reload may set it
                continue
            due = loop.time() + interval_s
            while self.held and loop.time() < due:
                await asyncio.sleep(min(due - loop.time(), 1.0))
            if self.held and self._is_master(self.name):
                await self._send_extra_garps()

    async def _send_extra_garps(self) -> None:
        for ifname, v in self.extra_interfaces().items():
            try:
                l2, mac = await self._extra_sender(ifname)
            except OSError as exc:
                self._extra_l2.pop(ifname, None)
                log.warning("(%s) garp_extra_if on %s: %s", self.name, ifname, exc)
                continue
            ip = v.address.ip
            if isinstance(ip, ipaddress.IPv4Address):
                frame = frames.gratuitous_arp(mac, ip)
            else:
                frame = frames.unsolicited_na(mac, ip)
            if l2.send(frame):
                self.garps_sent += 1
                log.debug(
                    "(%s) garp_extra_if: gratuitous %s for %s on %s",
                    self.name,
                    "ARP" if ip.version == 4 else "NA",
                    ip,
                    ifname,
                )

    async def _extra_sender(self, ifname: str) -> tuple[L2Sender, bytes]:
        got = self._extra_l2.get(ifname)
        if got is None:
            link = await self._nl.link_by_name(ifname)
            if link is None:
                raise OSError(errno.ENODEV, "no such interface")
            l2 = L2Sender(ifname=ifname, ifindex=link.ifindex)
            l2.open()
            got = self._extra_l2[ifname] = (l2, link.mac)
        return got

    async def _gratuitous(self, g: Gratuitous) -> None:
        paced = self.pacer is not None and (self.garp_interval_s > 0 or self.gna_interval_s > 0)
        for i in range(g.count):
            if i and g.interval_us and not paced:
                await asyncio.sleep(g.interval_us / 1e6)
            if not self._is_master(self.name):
                return  # keepalived stops announcing once it is no longer MASTER
            for frame in g.frames:
                if paced:
                    na = frame[12:14] == _ETHERTYPE_IPV6
                    interval_s = self.gna_interval_s if na else self.garp_interval_s
                    if interval_s > 0 and self.pacer is not None:
                        await self.pacer.wait("na" if na else "arp", interval_s)
                        if not self._is_master(self.name):
                            return
                l2 = self._l2
                if self.l2_for:
                    l2, frame = self._rerouted(frame)
                if l2.send(frame):
                    self.garps_sent += 1

    def _rerouted(self, frame: bytes) -> tuple[L2Sender, bytes]:
        """A VIP on a macvlan of its own: its frame from that macvlan, with its MAC."""
        if frame[12:14] == _ETHERTYPE_IPV6:
            ip: IPv4Address | IPv6Address = IPv6Address(frame[62:78])  # the NA's target
        else:
            ip = IPv4Address(frame[28:32])  # the ARP's sender address
        route = self.l2_for.get(ip)
        if route is None:
            return self._l2, frame
        l2, mac = route
        if isinstance(ip, IPv6Address):
            return l2, unsolicited_na(mac, ip, router=bool(frame[58] & 0x80))
        return l2, gratuitous_arp(mac, ip)


def _ips(vips: tuple[VirtualAddress, ...]) -> str:
    return ", ".join(str(v.address.ip) for v in vips)


class EffectRunner:
    """Carries out a list of node effects, in order."""

    def __init__(
        self,
        *,
        sockets: Mapping[tuple[int, int], VrrpSocket],
        vips: Mapping[str, VipActions],
        notifier: Callable[[], Notifier | None],
        notify_of: Callable[[str, str], Notify],
        ifname_of: Callable[[str], str],
        priority_changes_of: Callable[[str], bool] = lambda name: False,
    ) -> None:
        self._sockets = sockets
        self._vips = vips
        self._notifier = notifier
        self._notify_of = notify_of  # (kind, name) -> the config's Notify block
        self._ifname_of = ifname_of
        self._priority_changes_of = priority_changes_of  # notify_priority_changes, resolved
        self.deleting: set[str] = set()  # instances a reload is deleting: STOP is notified as DELETED/FAULT
        self.ratelog = RateLimitedLog()

    def run(self, effects: list[Effect]) -> None:
        for e in effects:
            t = type(e)
            if t is Transmit:
                tx: Transmit = e  # type: ignore[assignment]
                self._sockets[(tx.ifindex, tx.family)].send(
                    tx.payload, tx.dst, tx.src, ttl=tx.ttl, ip_packet=tx.ip_packet
                )
            elif t is AddVips or t is DelVips or t is Gratuitous:
                self._vips[e.instance].put(e)  # type: ignore[union-attr,arg-type]
            elif t is AdvertDropped:
                self._dropped(e)  # type: ignore[arg-type]
            else:
                self._other(e)

    def _dropped(self, e: AdvertDropped) -> None:
        if not e.instance:
            if e.reason == "unknown_vrid":
                log.debug("packet for unknown %s from %s", e.detail, e.src)
                return
            self.ratelog.warn(("", e.reason), "dropped packet from %s: %s (%s)", e.src, e.reason, e.detail)
            return
        self.ratelog.warn(
            (e.instance, e.reason), "(%s) dropped advert from %s: %s (%s)", e.instance, e.src, e.reason, e.detail
        )

    def _other(self, e: Effect) -> None:
        match e:
            case StateChanged(old=old, new=new, reason=reason, priority=prio, instance=name):
                log.info("(%s) %s -> %s: %s [priority %d]", name, old, new, reason, prio)
                notifier = self._notifier()
                if name in self.deleting and new is State.STOP:
                    if notifier is not None:
                        notifier.deleted(name, self._notify_of("INSTANCE", name), old, prio)
                else:
                    self._notify("INSTANCE", name, new, prio)
            case GroupStateChanged(group=group, state=state):
                log.info("sync group %s is %s", group, state)
                self._notify("GROUP", group, state, 0)
            case PriorityChanged(old=old, new=new, instance=name, state=state):
                log.info("(%s) effective priority %d -> %d", name, old, new)
                notifier = self._notifier()
                if notifier is not None and self._priority_changes_of(name):
                    word = "MASTER_PRIORITY" if state is State.MASTER else "BACKUP_PRIORITY"  # vrrp_notify.c
                    notifier.event(name, word, new)
            case MasterRxLowerPri(instance=name, src=src, priority=prio, ours=ours):
                # keepalived: "Received advert from %s with lower priority %d, ours %d"
                log.info("(%s) received advert from %s with lower priority %d, ours %d", name, src, prio, ours)
                notifier = self._notifier()
                if notifier is not None:
                    notify = self._notify_of("INSTANCE", name)
                    notifier.event(name, "MASTER_RX_LOWER_PRI", ours, notify.master_rx_lower_pri)
            case PeerConflict(message=msg, instance=name):
                self.ratelog.warn((name, "conflict"), "(%s) %s", name, msg)
            case ChecksumSwitched(instance=name, src=src, pseudo_dst=group):
                log.warning(
                    "(%s) %s uses the old VRRPv3 unicast checksum (pseudo-header destination %s); "
                    "using it from now on, as keepalived does (old_unicast_checksum)",
                    name,
                    src,
                    group,
                )
            case AuthClockSkew(instance=name, src=src, skew_s=skew, window_s=window):
                # keepalived 2.4 vrrp_auth_ext_verify, rate limited as its other auth lines
                self.ratelog.warn(
                    (name, "auth_clock_skew"),
                    "(%s) authentication clock skew %d s from %s approaching the window of %d s",
                    name,
                    skew,
                    src,
                    window,
                )
            case LinkStateChanged(instance=name, up=up):
                log.info("(%s) interface %s is %s", name, self._ifname_of(name), "up" if up else "down")

    def _notify(self, kind: str, name: str, state: object, priority: int) -> None:
        notifier = self._notifier()
        if notifier is not None:
            notifier.changed(kind, name, self._notify_of(kind, name), state, priority)  # type: ignore[arg-type]
