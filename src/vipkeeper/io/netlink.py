"""Addresses and link state over rtnetlink, with pyroute2's asyncio core.

The daemon never shells out to ``ip``. pyroute2 0.9 facts this module relies
on (read from its source, checked on 0.9.7):

* ``AsyncIPRoute`` methods are coroutines; ``addr("dump")`` / ``link("dump")``
  return an *async generator* after the await, ``addr("add")``, ``link("get")``
  return lists. Kernel refusals raise ``NetlinkError`` whose ``code`` is the
  errno (EEXIST 17 on a duplicate add, EADDRNOTAVAIL 99 on deleting a missing
  address, ENODEV 19 on an unknown link).
* ``ifaddrmsg['flags']`` is 8 bits; the full flag word is the ``IFA_FLAGS``
  attribute. IPv4 uses ``IFA_LOCAL`` for the interface's own address.
* Monitoring: ``await mon.bind(groups=RTMGRP_LINK)`` then ``mon.get()`` yields
  the messages of *one* datagram and ends, so it is called in a loop. After a
  socket error (ENOBUFS on overflow) the object is dead for good
  (``status['error']`` is raised from every access): close it and open a new
  one. ``close()`` alone does not wake a pending ``get()``: we also put the
  core's terminator (an empty datagram) into its message queue.
* Bridge ports produce RTM_NEWLINK/RTM_DELLINK with ``family`` AF_BRIDGE (a
  port leaving a bridge is an AF_BRIDGE DELLINK): only AF_UNSPEC messages
  describe the link itself.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface, ip_interface

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from vipkeeper.io import linuxconst as lc

log = logging.getLogger(__name__)

__all__ = ["LinkEvent", "LinkInfo", "Netlink"]

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


def _mac(text: str | None) -> bytes:
    if not text:
        return b""
    try:
        return bytes.fromhex(text.replace(":", ""))
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
    if msg["family"] == socket.AF_INET:
        addr = msg.get("local") or msg.get("address")
    else:
        addr = msg.get("address")
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


class Netlink:
    """rtnetlink access for the daemon. ``async with Netlink() as nl: ...``"""

    def __init__(self) -> None:
        self._ipr: AsyncIPRoute | None = None
        self._monitors: set[AsyncIPRoute] = set()
        self._closed = False
        self.monitor_errors = 0
        self.malformed = 0

    # -- lifecycle -----------------------------------------------------------
    async def open(self) -> Netlink:
        if self._ipr is None:
            self._closed = False
            self._ipr = AsyncIPRoute()
        return self

    async def __aenter__(self) -> Netlink:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the request socket and stop every ``link_events`` iterator."""
        self._closed = True
        for mon in tuple(self._monitors):
            self._close_monitor(mon)
        ipr, self._ipr = self._ipr, None
        if ipr is not None:
            try:
                ipr.close()
            except Exception:  # pragma: no cover - best effort
                log.debug("closing AsyncIPRoute", exc_info=True)

    @property
    def ipr(self) -> AsyncIPRoute:
        if self._ipr is None:
            raise RuntimeError("Netlink is not open (use 'async with Netlink()')")
        return self._ipr

    # -- links ---------------------------------------------------------------
    async def link_by_name(self, ifname: str) -> LinkInfo | None:
        try:
            msgs = await self.ipr.link("get", ifname=ifname)
        except NetlinkError as exc:
            if exc.code in (errno.ENODEV, errno.EINVAL):
                return None
            raise OSError(exc.code, f"link get {ifname}: {exc}") from exc
        for msg in msgs:
            return _link_info(msg)
        return None

    async def links(self) -> list[LinkInfo]:
        out = []
        async for msg in await self.ipr.link("dump"):
            try:
                out.append(_link_info(msg))
            except Exception:
                self.malformed += 1
        return out

    # -- addresses -------------------------------------------------------------
    async def _dump_addresses(self, ifindex: int, family: int | None):
        af = _family_af(family)
        kw = {"index": ifindex}
        if af is not None:
            kw["family"] = af
        out = []
        async for msg in await self.ipr.addr("dump", **kw):
            try:
                if msg["index"] != ifindex or (af is not None and msg["family"] != af):
                    continue
                iface = _addr_interface(msg)
                if iface is not None:
                    out.append((iface, _addr_flags(msg), int(msg["scope"])))
            except Exception:
                self.malformed += 1
        return out

    async def addresses(self, ifindex: int, family: int | None = None) -> list[IPv4Interface | IPv6Interface]:
        """Every address on the interface, in the kernel's order."""
        return [iface for iface, _f, _s in await self._dump_addresses(ifindex, family)]

    async def primary_address(self, ifindex: int, family: int) -> IPv4Address | IPv6Address | None:
        """The source address VRRP adverts use by default.

        IPv4: the first non-secondary, global-scope address. IPv6: the
        link-local address (RFC 5798 §5.1.2.1), only once it is usable
        (not tentative, not DAD-failed); None until then.
        """
        af = _family_af(family)
        if af is None:
            raise ValueError("primary_address needs family 4 or 6")
        bad = lc.IFA_F_TENTATIVE | lc.IFA_F_DADFAILED
        for iface, flags, scope in await self._dump_addresses(ifindex, af):
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
    ) -> bool:
        """Add an address. True if added, False if it was already there (EEXIST).

        IPv6 addresses are added with IFA_F_NODAD: a VIP is usable at once.
        Other kernel refusals raise OSError with the errno.
        """
        iface = ip_interface(addr)
        kw: dict = {"index": ifindex, "address": str(iface.ip), "prefixlen": iface.network.prefixlen}
        # keepalived >= 2.3.2 (vrrp_ipaddress.c): every VIP carries IFA_PROTO "keepalived"
        # (18, RTPROT_KEEPALIVED, unless rt_addrprotos gives that name another number)
        kw["proto"] = lc.RTPROT_KEEPALIVED
        if iface.version == 6:
            kw["flags"] = lc.IFA_F_NODAD
        if brd is not None and iface.version == 4:
            kw["broadcast"] = str(brd)
        if scope is not None:
            kw["scope"] = _scope(scope)
        if label is not None and iface.version == 4:
            kw["label"] = label
        try:
            await self.ipr.addr("add", **kw)
        except NetlinkError as exc:
            if exc.code == errno.EEXIST:
                return False
            raise OSError(exc.code, f"add {iface} on #{ifindex}: {exc}") from exc
        return True

    async def del_address(self, ifindex: int, addr: IPv4Interface | IPv6Interface | str) -> bool:
        """Delete an address. True if deleted, False if it was not there (EADDRNOTAVAIL)."""
        iface = ip_interface(addr)
        try:
            await self.ipr.addr("del", index=ifindex, address=str(iface.ip), prefixlen=iface.network.prefixlen)
        except NetlinkError as exc:
            if exc.code in (errno.EADDRNOTAVAIL, errno.ENODEV):
                return False
            raise OSError(exc.code, f"del {iface} on #{ifindex}: {exc}") from exc
        return True

    # -- link monitoring ---------------------------------------------------------
    async def _open_monitor(self) -> AsyncIPRoute:
        mon = AsyncIPRoute()
        self._monitors.add(mon)
        try:
            await mon.bind(groups=lc.RTMGRP_LINK)
        except BaseException:
            self._close_monitor(mon)
            raise
        return mon

    def _close_monitor(self, mon: AsyncIPRoute) -> None:
        self._monitors.discard(mon)
        try:
            queue = mon.local.msg_queue if hasattr(mon.local, "msg_queue") else None
        except Exception:
            queue = None
        try:
            mon.close()
        except Exception:
            log.debug("closing link monitor", exc_info=True)
        if queue is not None:
            try:
                queue.put_nowait(0, b"")  # wake a pending get(): it ends empty
            except Exception:
                pass

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
        mon: AsyncIPRoute | None = None
        resync = snapshot
        try:
            while not self._closed:
                if mon is None:
                    try:
                        mon = await self._open_monitor()
                        if resync:
                            current = await self.links()
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        if self._closed:
                            return
                        self.monitor_errors += 1
                        log.warning("link monitor: cannot open: %s", exc)
                        if mon is not None:
                            self._close_monitor(mon)
                            mon = None
                        await asyncio.sleep(_MONITOR_RETRY_S)
                        continue
                    if resync:
                        seen = set()
                        for info in current:
                            seen.add(info.ifindex)
                            if known.get(info.ifindex) != (info.ifname, info.up):
                                known[info.ifindex] = (info.ifname, info.up)
                                yield LinkEvent(info.ifindex, info.ifname, info.up)
                        for ifindex in [i for i in known if i not in seen]:
                            name, _up = known.pop(ifindex)
                            yield LinkEvent(ifindex, name, False, True)
                    resync = True  # every later reopen re-reads the links
                try:
                    batch = [msg async for msg in mon.get()]
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if self._closed:
                        return
                    self.monitor_errors += 1
                    log.warning("link monitor failed (%s); reopening", exc)
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
                        ev = parse_link_message(msg)
                    except Exception:
                        self.malformed += 1
                        log.debug("malformed link message", exc_info=True)
                        continue
                    if ev is None:
                        continue
                    if ev.deleted:
                        known.pop(ev.ifindex, None)
                        yield ev
                        continue
                    if known.get(ev.ifindex) != (ev.ifname, ev.up):
                        known[ev.ifindex] = (ev.ifname, ev.up)
                        yield ev
        finally:
            if mon is not None:
                self._close_monitor(mon)
