"""Routes, rules and the ``promote_secondaries`` sysctl: ``virtual_routes`` / ``virtual_rules``
(with the VIPs) and ``static_routes`` / ``static_rules`` (at start), over rtnetlink.

pyroute2 is imported inside :meth:`HostRoutes.open`, so a daemon whose configuration has no
route or rule never loads it (``vipkeeper.io.netlink`` may not either).  Routes and rules carry
what keepalived sets (vrrp_iproute.c ``netlink_route``, vrrp_iprule.c ``netlink_rule``): the
protocol ``keepalived`` (18) unless ``no_track``, the table, and a rule's preference.

Adding what is already there and deleting what is gone are not errors (EEXIST, ESRCH, ENOENT):
the daemon's view is "present" or "absent", as keepalived's.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from vipkeeper.config.model import IPInterface, Route, Rule
from vipkeeper.io import linuxconst as lc

log = logging.getLogger(__name__)

__all__ = ["HostRoutes", "addr_key", "route_key", "rule_key", "set_promote_secondaries"]

_AF = {4: socket.AF_INET, 6: socket.AF_INET6}
_ABSENT = (errno.ESRCH, errno.ENOENT, errno.EADDRNOTAVAIL)


def route_request(route: Route, oif: int | None) -> dict[str, Any]:
    """pyroute2 ``route()`` keywords for ``route`` (``oif``: the ifindex of ``dev``)."""
    req: dict[str, Any] = {
        "family": _AF[route.family],
        "table": route.table,
        "type": route.type,
    }
    if route.dst is not None:
        req["dst"] = str(route.dst.network.network_address)
        req["dst_len"] = route.dst.network.prefixlen
    else:
        req["dst_len"] = 0
    if route.via is not None:
        req["gateway"] = str(route.via)
    if route.nexthops:
        hop: dict[str, Any] = {"oif": oif} if oif else {}
        req["multipath"] = [{"gateway": str(gw), **hop} for gw in route.nexthops]
    elif oif:
        req["oif"] = oif
    if route.src is not None:
        req["prefsrc"] = str(route.src)
    if route.scope is not None:
        req["scope"] = route.scope
    if route.metric is not None:
        req["priority"] = route.metric
    if route.protocol is not None:
        req["proto"] = route.protocol
    if route.tos is not None:
        req["tos"] = route.tos
    if route.onlink:
        req["flags"] = lc.RTNH_F_ONLINK
    return req


def rule_request(rule: Rule) -> dict[str, Any]:
    """pyroute2 ``rule()`` keywords for ``rule`` (keepalived vrrp_iprule.c ``netlink_rule``)."""
    req: dict[str, Any] = {
        "family": _AF[rule.family],
        "priority": rule.priority,
        "action": lc.FR_ACT[rule.action],
    }
    if rule.table is not None:
        req["table"] = rule.table
    if rule.goto_target is not None:
        req["goto"] = rule.goto_target
    for key, net in (("src", rule.src), ("dst", rule.dst)):
        if net is not None:
            req[key] = str(net.network.network_address)
            req[key + "_len"] = net.network.prefixlen
    if rule.invert:
        req["flags"] = lc.FIB_RULE_INVERT
    if rule.tos is not None:
        req["tos"] = rule.tos
    if rule.fwmark is not None:
        req["fwmark"] = rule.fwmark
        if rule.fwmask is not None:
            req["fwmask"] = rule.fwmask
    if rule.iif:
        req["iifname"] = rule.iif
    if rule.oif:
        req["oifname"] = rule.oif
    if rule.protocol is not None:
        req["protocol"] = rule.protocol
    return req


#: ("route", family, table, destination or None, prefix length): how a deleted route is matched
RouteKey = tuple[str, int, int, str | None, int]
#: ("rule", family, preference): how a deleted rule is matched
RuleKey = tuple[str, int, int]
#: ("addr", ifindex, address): how a deleted address is matched
AddrKey = tuple[str, int, str]
DeletedKey = RouteKey | RuleKey | AddrKey
_MONITOR_RETRY_S = 0.2


def route_key(route: Route) -> RouteKey:
    if route.dst is None:
        return ("route", _AF[route.family], route.table, None, 0)
    net = route.dst.network
    return ("route", _AF[route.family], route.table, str(net.network_address), net.prefixlen)


def rule_key(rule: Rule) -> RuleKey:
    return ("rule", _AF[rule.family], rule.priority)


def addr_key(ifindex: int, address: IPInterface) -> AddrKey:
    return ("addr", ifindex, str(address.ip))


def deleted_key(msg: Any) -> DeletedKey | None:
    """The key of a deleted route or rule of protocol keepalived (18) (keepalived_netlink.c
    netlink_route_filter / netlink_rule_filter watch only those), or of a deleted address."""
    mtype = msg["header"]["type"]
    if mtype == lc.RTM_DELROUTE and msg.get("proto") == lc.RTPROT_KEEPALIVED:
        table = msg.get("table")
        return ("route", int(msg["family"]), int(table), msg.get("dst"), int(msg.get("dst_len") or 0))
    if mtype == lc.RTM_DELRULE and msg.get("protocol") == lc.RTPROT_KEEPALIVED:
        return ("rule", int(msg["family"]), int(msg.get("priority") or 0))
    if mtype == lc.RTM_DELADDR:
        addr = (msg.get("local") if msg["family"] == socket.AF_INET else None) or msg.get("address")
        if addr:
            return ("addr", int(msg["index"]), str(ipaddress.ip_address(addr)))
    return None


class HostRoutes:
    """Adds and deletes routes and rules.  ``open()`` first (it imports pyroute2)."""

    def __init__(self) -> None:
        self._ipr: Any = None
        self._error: type[Exception] = OSError

    def open(self) -> HostRoutes:
        if self._ipr is None:
            from pyroute2 import AsyncIPRoute
            from pyroute2.netlink.exceptions import NetlinkError

            self._ipr = AsyncIPRoute()
            self._error = NetlinkError
        return self

    def close(self) -> None:
        ipr, self._ipr = self._ipr, None
        if ipr is not None:
            ipr.close()

    async def _ifindex(self, name: str) -> int:
        try:
            links = await self._ipr.link("get", ifname=name)
        except self._error as exc:
            raise OSError(errno.ENODEV, f"interface {name} does not exist") from exc
        return int(links[0]["index"])

    async def add_routes(self, routes: Iterable[Route]) -> list[str]:
        """Add each route; returns those added (already present ones are not).  A route the
        kernel refuses is logged and skipped, the others go on."""
        return [str(r) for r in routes if await self._route("add", r)]

    async def del_routes(self, routes: Iterable[Route]) -> list[str]:
        return [str(r) for r in routes if await self._route("del", r)]

    async def add_rules(self, rules: Iterable[Rule]) -> list[str]:
        return [str(r) for r in rules if await self._rule("add", r)]

    async def del_rules(self, rules: Iterable[Rule]) -> list[str]:
        return [str(r) for r in rules if await self._rule("del", r)]

    async def deletions(self) -> AsyncIterator[DeletedKey]:
        """Yield the key of each route or rule of protocol keepalived, and of each address,
        deleted from the host.
        A failed monitor socket (ENOBUFS) is reopened; deletions meanwhile are missed (logged).
        Runs until cancelled."""
        from pyroute2 import AsyncIPRoute

        groups = (
            lc.RTMGRP_IPV4_ROUTE
            | lc.RTMGRP_IPV6_ROUTE
            | lc.RTMGRP_IPV4_RULE
            | lc.RTMGRP_IPV6_RULE
            | lc.RTMGRP_IPV4_IFADDR
            | lc.RTMGRP_IPV6_IFADDR
        )
        while True:
            mon = AsyncIPRoute()
            try:
                await mon.bind(groups=groups)
                while True:
                    batch = [msg async for msg in mon.get()]
                    if not batch:
                        raise OSError(errno.EIO, "monitor socket closed")
                    for msg in batch:
                        try:
                            key = deleted_key(msg)
                        except (KeyError, TypeError, ValueError):
                            continue
                        if key is not None:
                            yield key
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # pyroute2 raises its own types for a dead socket
                log.warning("route/rule monitor failed (%s); reopening", exc)
                await asyncio.sleep(_MONITOR_RETRY_S)
            finally:
                mon.close()

    async def _route(self, command: str, route: Route) -> bool:
        try:
            oif = await self._ifindex(route.dev) if route.dev else None
        except OSError as exc:
            if command == "add":
                log.error("route %s %s (%s): %s", command, route, route.loc, exc)
            return False
        return await self._request("route", command, route, route_request(route, oif))

    async def _rule(self, command: str, rule: Rule) -> bool:
        return await self._request("rule", command, rule, rule_request(rule))

    async def _request(self, kind: str, command: str, item: Route | Rule, request: dict[str, Any]) -> bool:
        """True when the kernel did it; adding what is there or deleting what is not is False."""
        try:
            await getattr(self._ipr, kind)(command, **request)
            return True
        except self._error as exc:
            code = getattr(exc, "code", 0)
            if (command == "add" and code == errno.EEXIST) or (command == "del" and code in _ABSENT):
                return False
            log.error("%s %s %s (%s): %s", kind, command, item, item.loc, exc)
        return False


def set_promote_secondaries(ifname: str, on: bool = True) -> bool | None:
    """Set ``net.ipv4.conf.IF.promote_secondaries``; returns the value it had (None: no such
    file).  keepalived vrrp_if.c ``set_promote_secondaries`` / ``reset_promote_secondaries``:
    set it when an instance with ``promote_secondaries`` starts, put it back at stop."""
    path = Path("/proc/sys/net/ipv4/conf") / ifname / "promote_secondaries"
    try:
        old = path.read_text().strip() == "1"
        if old != on:
            path.write_text("1\n" if on else "0\n")
        return old
    except OSError as exc:
        log.error("cannot set %s: %s", path, exc)
        return None
