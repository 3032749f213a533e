"""Addresses, link state and their events over raw rtnetlink (:mod:`vipkeeper.io.rtnl`).

The daemon never shells out to ``ip``, and since issue 14 no longer imports pyroute2 either
(~13 MB and ~0.2 s of start-up for a handful of messages; pyroute2 stays in the lab and tests).
Kernel facts this module relies on (rtnetlink(7), net/ipv4/devinet.c, net/ipv6/addrconf.c):

* Refusals come back as ``NLMSG_ERROR`` with the errno: EEXIST on an exclusive add of an address
  that is there, EADDRNOTAVAIL on deleting a missing address, ENODEV on an unknown link.
* ``ifaddrmsg.ifa_flags`` is 8 bits; the full flag word is the ``IFA_FLAGS`` attribute. IPv4
  uses ``IFA_LOCAL`` for the interface's own address (``IFA_ADDRESS`` is the peer on
  point-to-point links).
* A multicast subscription that overflows gets ENOBUFS and has lost messages: we close it,
  open a new one and re-read the state, so changes missed meanwhile are still reported.
* Bridge ports produce RTM_NEWLINK/RTM_DELLINK with ``family`` AF_BRIDGE (a port leaving a
  bridge is an AF_BRIDGE DELLINK): only AF_UNSPEC messages describe the link itself.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Container
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface, ip_address, ip_interface
from typing import Any, TypeVar

from vipkeeper.io import linuxconst as lc
from vipkeeper.io.rtnl import RtnlMonitor, RtnlSocket

log = logging.getLogger(__name__)

__all__ = ["AddrEvent", "LinkEvent", "LinkInfo", "Netlink"]

_T = TypeVar("_T")

_SCOPES = {
    "global": lc.RT_SCOPE_UNIVERSE,
    "universe": lc.RT_SCOPE_UNIVERSE,
    "site": lc.RT_SCOPE_SITE,
    "link": lc.RT_SCOPE_LINK,
    "host": lc.RT_SCOPE_HOST,
    "nowhere": lc.RT_SCOPE_NOWHERE,
}
_MONITOR_RETRY_S = 0.2


@dataclass(frozen=True, slots=True)
class LinkInfo:
    ifindex: int
    ifname: str
    mac: bytes
    up: bool  # administratively up (IFF_UP) and operationally up (IFF_RUNNING)
    mtu: int


@dataclass(frozen=True, slots=True)
class LinkEvent:
    ifindex: int
    ifname: str
    up: bool
    deleted: bool = False  # RTM_DELLINK: the interface is gone (up is False)


@dataclass(frozen=True, slots=True)
class AddrEvent:
    """An address appeared on (or changed its flags), or left, an interface."""

    ifindex: int
    ip: IPv4Address | IPv6Address
    prefixlen: int
    deleted: bool = False  # RTM_DELADDR
    flags: int = 0  # IFA_F_* (the full IFA_FLAGS word)


def _family_af(family: int | None) -> int | None:
    if family in (None, 0):
        return None
    if family in (4, socket.AF_INET):
        return socket.AF_INET
    if family in (6, socket.AF_INET6):
        return socket.AF_INET6
    raise ValueError(f"family must be 4, 6 or None, not {family!r}")


def _scope(scope: int | str) -> int:
    if isinstance(scope, str):
        if scope.isdigit():
            return int(scope)
        try:
            return _SCOPES[scope.lower()]
        except KeyError:
            raise ValueError(f"unknown address scope {scope!r}") from None
    return int(scope)


def _link_up(flags: int) -> bool:
    return bool(flags & lc.IFF_UP) and bool(flags & lc.IFF_RUNNING)


def _mac(value: bytes | str | None) -> bytes:
    if not value:
        return b""
    if isinstance(value, bytes):
        return value
    try:
        return bytes.fromhex(value.replace(":", ""))
    except ValueError:
        return b""


def _link_info(msg) -> LinkInfo:
    return LinkInfo(
        ifindex=int(msg["index"]),
        ifname=str(msg.get("ifname") or ""),
        mac=_mac(msg.get("address")),
        up=_link_up(int(msg["flags"])),
        mtu=int(msg.get("mtu") or 0),
    )


def _addr_flags(msg) -> int:
    flags = msg.get("IFA_FLAGS")
    return int(flags if flags is not None else msg["flags"])


def _addr_interface(msg) -> IPv4Interface | IPv6Interface | None:
    # IFA_LOCAL is the address itself; IFA_ADDRESS the peer of a point-to-point one (both
    # families), else the address again (IPv6 then sends IFA_ADDRESS only)
    addr = msg.get("local") or msg.get("address")
    if not addr:
        return None
    return ip_interface(f"{addr}/{msg['prefixlen']}")


def parse_link_message(msg) -> LinkEvent | None:
    """RTM_NEWLINK/RTM_DELLINK message -> LinkEvent; None when it is not about a link itself.

    Raises on a malformed message (the caller counts it).
    """
    mtype = msg["header"]["type"]
    if mtype not in (lc.RTM_NEWLINK, lc.RTM_DELLINK):
        return None
    if msg.get("family", 0) != socket.AF_UNSPEC:
        return None  # AF_BRIDGE port notifications
    ifindex = int(msg["index"])
    ifname = str(msg.get("ifname") or "")
    if mtype == lc.RTM_DELLINK:
        return LinkEvent(ifindex, ifname, False, True)
    return LinkEvent(ifindex, ifname, _link_up(int(msg["flags"])))


def parse_addr_message(msg: dict[str, Any]) -> AddrEvent | None:
    """RTM_NEWADDR/RTM_DELADDR message -> AddrEvent; None for other messages.

    Raises on a malformed message (the caller counts it)."""
    mtype = msg["header"]["type"]
    if mtype not in (lc.RTM_NEWADDR, lc.RTM_DELADDR):
        return None
    iface = _addr_interface(msg)
    if iface is None:
        raise ValueError("address message without an address")
    return AddrEvent(int(msg["index"]), iface.ip, iface.network.prefixlen, mtype == lc.RTM_DELADDR, _addr_flags(msg))


def _oserror(exc: OSError, what: str) -> OSError:
    return OSError(exc.errno, f"{what}: {exc.strerror or exc}")


class Netlink:
    """rtnetlink access for the daemon. ``async with Netlink() as nl: ...``

    Requests are synchronous underneath (the kernel answers inside ``send``); the methods stay
    coroutines so that callers do not depend on that."""

    def __init__(self) -> None:
        self._rt: RtnlSocket | None = None
        self._monitors: set[RtnlMonitor] = set()
        self._closed = False
        self.monitor_errors = 0
        self.malformed = 0

    # -- lifecycle -----------------------------------------------------------
    async def open(self) -> Netlink:
        if self._rt is None:
            self._closed = False
            self._rt = RtnlSocket()
        return self

    async def __aenter__(self) -> Netlink:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the request socket and end every ``link_events``/``addr_events`` iterator."""
        self._closed = True
        for mon in tuple(self._monitors):
            self._close_monitor(mon)
        rt, self._rt = self._rt, None
        if rt is not None:
            rt.close()

    @property
    def rt(self) -> RtnlSocket:
        if self._rt is None:
            raise RuntimeError("Netlink is not open (use 'async with Netlink()')")
        return self._rt

    # -- links ---------------------------------------------------------------
    async def link_by_name(self, ifname: str) -> LinkInfo | None:
        try:
            msgs = self.rt.link_get(ifname)
        except OSError as exc:
            if exc.errno in (errno.ENODEV, errno.EINVAL):
                return None
            raise _oserror(exc, f"link get {ifname}") from exc
        for msg in msgs:
            return _link_info(msg)
        return None

    async def links(self) -> list[LinkInfo]:
        out = []
        for msg in self.rt.link_dump():
            try:
                out.append(_link_info(msg))
            except (KeyError, TypeError, ValueError):
                self.malformed += 1
        return out

    # -- addresses -------------------------------------------------------------
    async def _dump_addresses(self, ifindex: int | None, family: int | None):
        af = _family_af(family)
        out = []
        for msg in self.rt.addr_dump(af or socket.AF_UNSPEC):
            try:
                if (ifindex is not None and msg["index"] != ifindex) or (af is not None and msg["family"] != af):
                    continue
                iface = _addr_interface(msg)
                if iface is not None:
                    out.append((int(msg["index"]), iface, _addr_flags(msg), int(msg["scope"])))
            except (KeyError, TypeError, ValueError):
                self.malformed += 1
        return out

    async def addresses(self, ifindex: int, family: int | None = None) -> list[IPv4Interface | IPv6Interface]:
        """Every address on the interface, in the kernel's order."""
        return [iface for _i, iface, _f, _s in await self._dump_addresses(ifindex, family)]

    async def primary_address(
        self, ifindex: int, family: int, exclude: Container[IPv4Address | IPv6Address] = ()
    ) -> IPv4Address | IPv6Address | None:
        """The source address VRRP adverts use by default.

        IPv4: the first non-secondary, global-scope address. IPv6: the
        link-local address (RFC 5798 §5.1.2.1), only once it is usable
        (not tentative, not DAD-failed); None until then.  Addresses in ``exclude`` (the
        daemon's own VIPs, as keepalived's ignore_address_if_ours_or_link_local) never are.
        """
        af = _family_af(family)
        if af is None:
            raise ValueError("primary_address needs family 4 or 6")
        bad = lc.IFA_F_TENTATIVE | lc.IFA_F_DADFAILED
        for _i, iface, flags, scope in await self._dump_addresses(ifindex, af):
            if iface.ip in exclude:
                continue
            if af == socket.AF_INET:
                if not flags & lc.IFA_F_SECONDARY and scope == lc.RT_SCOPE_UNIVERSE:
                    return iface.ip
            elif iface.ip.is_link_local and not flags & bad:
                return iface.ip
        return None

    async def add_address(
        self,
        ifindex: int,
        addr: IPv4Interface | IPv6Interface | str,
        *,
        brd: IPv4Address | str | None = None,
        scope: int | str | None = None,
        label: str | None = None,
        flags: int = 0,
        nodad: bool = True,
        peer: IPv4Address | IPv6Address | None = None,
        preferred_lft_s: int | None = None,
    ) -> bool:
        """Add an address. True if added, False if it was already there (EEXIST).

        IPv6 addresses are added with IFA_F_NODAD (a VIP is usable at once) unless ``nodad``
        is False (``-nodad``); ``flags`` adds IFA_F_* flags (``home``, ``noprefixroute``...),
        ``peer`` makes it a point-to-point address, ``preferred_lft_s`` (IPv6) its preferred
        lifetime (0: deprecated, never chosen as a source).  Other kernel refusals raise
        OSError with the errno.
        """
        iface = ip_interface(addr)
        if iface.version == 6 and nodad:
            flags |= lc.IFA_F_NODAD
        try:
            self.rt.addr_change(
                True,
                ifindex,
                iface.ip.packed,
                iface.network.prefixlen,
                flags=flags,
                scope=_scope(scope) if scope is not None else lc.RT_SCOPE_UNIVERSE,
                broadcast=ip_address(str(brd)).packed if brd is not None and iface.version == 4 else None,
                label=label if iface.version == 4 else None,
                # keepalived >= 2.3.2 (vrrp_ipaddress.c): every VIP carries IFA_PROTO "keepalived"
                # (18, RTPROT_KEEPALIVED, unless rt_addrprotos gives that name another number)
                proto=lc.RTPROT_KEEPALIVED,
                peer=peer.packed if peer is not None else None,
                preferred_lft_s=preferred_lft_s if iface.version == 6 else None,
            )
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                return False
            raise _oserror(exc, f"add {iface} on #{ifindex}") from exc
        return True

    async def del_address(
        self,
        ifindex: int,
        addr: IPv4Interface | IPv6Interface | str,
        peer: IPv4Address | IPv6Address | None = None,
    ) -> bool:
        """Delete an address (``peer``: the one it was added with, point-to-point). True if
        deleted, False if it was not there (EADDRNOTAVAIL)."""
        iface = ip_interface(addr)
        try:
            self.rt.addr_change(
                False, ifindex, iface.ip.packed, iface.network.prefixlen, peer=peer.packed if peer else None
            )
        except OSError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.ENODEV):
                return False
            raise _oserror(exc, f"del {iface} on #{ifindex}") from exc
        return True

    # -- monitoring ----------------------------------------------------------------
    async def _open_monitor(self, groups: int) -> RtnlMonitor:
        mon = RtnlMonitor(groups)
        self._monitors.add(mon)
        return mon

    def _close_monitor(self, mon: RtnlMonitor) -> None:
        self._monitors.discard(mon)
        try:
            mon.close()
        except OSError:
            log.debug("closing an rtnetlink monitor", exc_info=True)

    async def _watch(
        self,
        what: str,
        groups: int,
        resync: Callable[[], Awaitable[list[_T]]],
        parse: Callable[[dict[str, Any]], _T | None],
        snapshot: bool,
    ) -> AsyncIterator[_T]:
        """The monitor loop shared by link and address events.

        After the subscription is (re)opened ``resync()`` reads the state and returns the events
        it implies (the first time only with ``snapshot``); then every parsed message is yielded.
        A socket error reopens and resyncs; malformed messages are counted and skipped; the
        iterator ends when :meth:`close` is called."""
        mon: RtnlMonitor | None = None
        do_resync = snapshot
        try:
            while not self._closed:
                if mon is None:
                    try:
                        mon = await self._open_monitor(groups)
                        current = await resync() if do_resync else []
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # an open or a dump that fails: retry shortly
                        if self._closed:
                            return
                        self.monitor_errors += 1
                        log.warning("%s monitor: cannot open: %s", what, exc)
                        if mon is not None:
                            self._close_monitor(mon)
                            mon = None
                        await asyncio.sleep(_MONITOR_RETRY_S)
                        continue
                    for cur in current:
                        yield cur
                    do_resync = True  # every later reopen re-reads the state
                try:
                    batch = [msg async for msg in mon.get()]
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # ENOBUFS, a truncated datagram: reopen and resync
                    if self._closed:
                        return
                    self.monitor_errors += 1
                    log.warning("%s monitor failed (%s); reopening", what, exc)
                    self._close_monitor(mon)
                    mon = None
                    continue
                if not batch:
                    if self._closed:
                        return
                    self.monitor_errors += 1
                    self._close_monitor(mon)
                    mon = None
                    continue
                for msg in batch:
                    try:
                        parsed = parse(msg)
                    except Exception:  # whatever the kernel sent, the daemon goes on
                        self.malformed += 1
                        log.debug("malformed %s message", what, exc_info=True)
                        continue
                    if parsed is not None:
                        yield parsed
        finally:
            if mon is not None:
                self._close_monitor(mon)

    async def link_events(self, *, snapshot: bool = False) -> AsyncIterator[LinkEvent]:
        """Yield a LinkEvent each time a link's (name, up) changes or it is deleted.

        With ``snapshot=True`` the current state of every link is yielded first,
        after the monitor is bound, so nothing falls between "read state" and
        "watch changes". If the monitor socket fails (e.g. ENOBUFS), it is
        reopened and the links re-read; changes missed meanwhile are yielded.
        Malformed messages are counted in ``malformed`` and skipped.
        The iterator ends when :meth:`close` is called.
        """
        known: dict[int, tuple[str, bool]] = {}

        async def resync() -> list[LinkEvent]:
            current = await self.links()
            out = []
            seen = set()
            for info in current:
                seen.add(info.ifindex)
                if known.get(info.ifindex) != (info.ifname, info.up):
                    known[info.ifindex] = (info.ifname, info.up)
                    out.append(LinkEvent(info.ifindex, info.ifname, info.up))
            for ifindex in [i for i in known if i not in seen]:
                name, _up = known.pop(ifindex)
                out.append(LinkEvent(ifindex, name, False, True))
            return out

        def parse(msg: dict[str, Any]) -> LinkEvent | None:
            ev = parse_link_message(msg)
            if ev is None:
                return None
            if ev.deleted:
                known.pop(ev.ifindex, None)
                return ev
            if known.get(ev.ifindex) == (ev.ifname, ev.up):
                return None
            known[ev.ifindex] = (ev.ifname, ev.up)
            return ev

        async for ev in self._watch("link", lc.RTMGRP_LINK, resync, parse, snapshot):
            yield ev

    async def addr_events(self, *, snapshot: bool = False) -> AsyncIterator[AddrEvent]:
        """Yield an AddrEvent when an address appears, changes its flags or leaves.

        Same contract as :meth:`link_events` (snapshot, reopen + resync, ``close``)."""
        known: dict[tuple[int, IPv4Address | IPv6Address], tuple[int, int]] = {}  # -> (prefixlen, flags)

        async def resync() -> list[AddrEvent]:
            out = []
            seen = set()
            for ifindex, iface, flags, _scope in await self._dump_addresses(None, None):
                key = (ifindex, iface.ip)
                seen.add(key)
                if known.get(key) != (iface.network.prefixlen, flags):
                    known[key] = (iface.network.prefixlen, flags)
                    out.append(AddrEvent(ifindex, iface.ip, iface.network.prefixlen, False, flags))
            for key in [k for k in known if k not in seen]:
                prefixlen, flags = known.pop(key)
                out.append(AddrEvent(key[0], key[1], prefixlen, True, flags))
            return out

        def parse(msg: dict[str, Any]) -> AddrEvent | None:
            ev = parse_addr_message(msg)
            if ev is None:
                return None
            key = (ev.ifindex, ev.ip)
            if ev.deleted:
                known.pop(key, None)
                return ev
            if known.get(key) == (ev.prefixlen, ev.flags):
                return None
            known[key] = (ev.prefixlen, ev.flags)
            return ev

        groups = lc.RTMGRP_IPV4_IFADDR | lc.RTMGRP_IPV6_IFADDR
        async for ev in self._watch("address", groups, resync, parse, snapshot):
            yield ev
