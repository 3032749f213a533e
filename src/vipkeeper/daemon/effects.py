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
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from vipkeeper.config.model import VirtualAddress
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
    PeerConflict,
    PriorityChanged,
    StateChanged,
    Transmit,
)
from vipkeeper.daemon.notify import Notifier
from vipkeeper.daemon.supervisor import Supervisor
from vipkeeper.io.l2_socket import L2Sender
from vipkeeper.io.netlink import Netlink
from vipkeeper.io.vrrp_socket import VrrpSocket

log = logging.getLogger(__name__)

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


@dataclass(frozen=True, slots=True)
class VipDiff:
    """A reload changed the VIPs of an instance that holds them."""

    removed: tuple[VirtualAddress, ...]
    added: tuple[VirtualAddress, ...]


VipAction = AddVips | DelVips | Gratuitous | VipDiff


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
        self._nl = netlink
        self._l2 = l2
        self._is_master = is_master
        self._queue: asyncio.Queue[VipAction] = asyncio.Queue()
        self.held = False
        self.garps_sent = 0
        self.worker: asyncio.Task[None] | None = None

    def start(self, supervisor: Supervisor) -> None:
        self.worker = supervisor.spawn(self._run(), f"vips-{self.name}")

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
            except OSError as exc:  # netlink or the packet socket refused: the daemon goes on
                log.error("(%s) %s failed: %s", self.name, type(action).__name__, exc)
            finally:
                self._queue.task_done()

    async def add(self) -> None:
        added = []
        for v in self.vips:
            if await self._nl.add_address(await self._ifindex(v), v.address, brd=v.brd, scope=v.scope, label=v.label):
                added.append(str(v.address.ip))
        self.held = True
        log.info("(%s) VIPs added: %s", self.name, ", ".join(added) or "(already present)")

    async def delete(self, quiet: bool = False) -> list[str]:
        removed = []
        for v in self.vips:
            if await self._nl.del_address(await self._ifindex(v), v.address):
                removed.append(str(v.address.ip))
        self.held = False
        if not quiet:
            log.info("(%s) VIPs removed: %s", self.name, ", ".join(removed) or "(none present)")
        return removed

    async def _diff(self, diff: VipDiff) -> None:
        for v in diff.removed:
            await self._nl.del_address(await self._ifindex(v), v.address)
        for v in diff.added:
            await self._nl.add_address(await self._ifindex(v), v.address, brd=v.brd, scope=v.scope, label=v.label)
        log.info(
            "(%s) reload: VIPs removed %s, added %s",
            self.name,
            [str(v.address.ip) for v in diff.removed],
            [str(v.address.ip) for v in diff.added],
        )

    async def _ifindex(self, v: VirtualAddress) -> int:
        if v.dev is None or v.dev == self.ifname:
            return self.ifindex
        link = await self._nl.link_by_name(v.dev)
        if link is None:
            raise OSError(errno.ENODEV, f"VIP {v.address} dev {v.dev}: no such interface")
        return link.ifindex

    async def _gratuitous(self, g: Gratuitous) -> None:
        for i in range(g.count):
            if i and g.interval_us:
                await asyncio.sleep(g.interval_us / 1e6)
            if not self._is_master(self.name):
                return  # keepalived stops announcing once it is no longer MASTER
            for frame in g.frames:
                if self._l2.send(frame):
                    self.garps_sent += 1


class EffectRunner:
    """Carries out a list of node effects, in order."""

    def __init__(
        self,
        *,
        sockets: Mapping[tuple[int, int], VrrpSocket],
        vips: Mapping[str, VipActions],
        notifier: Callable[[], Notifier | None],
        notify_of: Callable[[str, str], object],
        ifname_of: Callable[[str], str],
    ) -> None:
        self._sockets = sockets
        self._vips = vips
        self._notifier = notifier
        self._notify_of = notify_of  # (kind, name) -> the config's Notify block
        self._ifname_of = ifname_of
        self.ratelog = RateLimitedLog()

    def run(self, effects: list[Effect]) -> None:
        for e in effects:
            t = type(e)
            if t is Transmit:
                self._sockets[(e.ifindex, e.family)].send(e.payload, e.dst, e.src)  # type: ignore[union-attr]
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
                self._notify("INSTANCE", name, new, prio)
            case GroupStateChanged(group=group, state=state):
                log.info("sync group %s is %s", group, state)
                self._notify("GROUP", group, state, 0)
            case PriorityChanged(old=old, new=new, instance=name):
                log.info("(%s) effective priority %d -> %d", name, old, new)
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
