"""What the daemon changes on the host beside the VIPs: static_ipaddress / static_routes /
static_rules, each instance's :class:`HostChanges` (virtual routes and rules, the no_accept
firewall, promote_secondaries), and the watch that reacts when a tracked route or rule is
deleted.  The routes and the firewall are opened only when a configuration uses them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from vipkeeper.config.model import Config, Route, Rule, VrrpInstance
from vipkeeper.daemon.effects import HostChanges, address_options
from vipkeeper.daemon.supervisor import Supervisor
from vipkeeper.io.netlink import Netlink
from vipkeeper.io.nftables import Firewall
from vipkeeper.io.routes import HostRoutes, addr_key, route_key, rule_key, set_promote_secondaries

log = logging.getLogger(__name__)

__all__ = ["HostNet"]


def _tracked_route(r: Route) -> bool:
    return not r.no_track and r.dev is not None  # keepalived: no dev, not tracked


def _tracked(routes: tuple[Route, ...], rules: tuple[Rule, ...]) -> bool:
    return any(map(_tracked_route, routes)) or any(not r.no_track for r in rules)


def match_deleted(key: tuple[Any, ...], routes: tuple[Route, ...], rules: tuple[Rule, ...]) -> Route | Rule | None:
    """The tracked route or rule ``key`` names, if any."""
    if key[0] == "route":
        return next((r for r in routes if _tracked_route(r) and route_key(r) == key), None)
    if key[0] == "rule":
        return next((r for r in rules if not r.no_track and rule_key(r) == key), None)
    return None


class HostNet:
    """The host changes of one daemon.  ``instances()``: the running instances by name;
    ``held(name)``: does it hold its VIPs; ``lost(name, what)``: feed the node a
    ``HostEntryLost`` (a tracked virtual route or rule was deleted)."""

    def __init__(
        self,
        supervisor: Supervisor,
        *,
        config: Callable[[], Config],
        instances: Callable[[], Mapping[str, VrrpInstance]],
        held: Callable[[str], bool],
        lost: Callable[[str, str], None],
    ) -> None:
        self._supervisor = supervisor
        self._config = config
        self._instances = instances
        self._held = held
        self._lost = lost
        self._routes: HostRoutes | None = None  # opened (pyroute2 imported) only when used
        self._firewall: Firewall | None = None  # the nftables table, only when an instance has no accept mode
        self._promoted: dict[str, bool] = {}  # interface -> its promote_secondaries before we set it
        self._watch: asyncio.Task[None] | None = None
        self._nl: Netlink | None = None
        self._static_ifindex: dict[str, int] = {}  # dev of a static address -> its ifindex

    def route_table(self) -> HostRoutes:
        if self._routes is None:
            self._routes = HostRoutes().open()
        return self._routes

    async def start(self, nl: Netlink, config: Config) -> None:
        """Static entries in place; a crashed run's firewall table gone when none is needed."""
        await self.static(nl, None, config)
        if all(i.accept for i in config.instances):
            await Firewall().remove_leftover()  # a crashed run's drops must not stay

    async def static(self, nl: Netlink, old: Config | None, new: Config | None) -> None:
        """static_ipaddress / static_routes / static_rules (keepalived vrrp_daemon.c): at start
        leftovers are removed and the entries added; at stop (``new`` None) removed, rules
        first; on a reload the entries that are gone are removed and the others (re)added."""
        self._nl = nl
        start = old is None
        if start:
            old = new  # start: remove leftovers of a previous run first, as keepalived does
        assert old is not None

        def gone(old_items: tuple[Any, ...], new_items: tuple[Any, ...] | None) -> list[Any]:
            return [x for x in old_items if start or new_items is None or x not in new_items]

        gone_rules = gone(old.static_rules, new.static_rules if new else None)
        gone_routes = gone(old.static_routes, new.static_routes if new else None)
        gone_addrs = gone(old.static_addresses, new.static_addresses if new else None)
        if gone_rules or gone_routes:
            await self.route_table().del_rules(gone_rules)
            await self.route_table().del_routes(gone_routes)
        for a in gone_addrs:
            link = await nl.link_by_name(a.dev or "")
            if link is not None:
                await nl.del_address(link.ifindex, a.address, a.peer)
        if new is None:
            if old.static_addresses or old.static_routes or old.static_rules:
                log.info("static addresses, routes and rules removed")
            return
        for a in new.static_addresses:
            link = await nl.link_by_name(a.dev or "")
            if link is None:
                log.error("%s: static address %s: interface %s does not exist", a.loc, a.address, a.dev)
                continue
            self._static_ifindex[a.dev or ""] = link.ifindex
            try:
                await nl.add_address(link.ifindex, a.address, **address_options(a))
            except OSError as exc:
                log.error("%s: static address %s: %s", a.loc, a.address, exc)
        if new.static_routes or new.static_rules:
            await self.route_table().add_routes(new.static_routes)
            await self.route_table().add_rules(new.static_rules)
        if new.static_addresses or new.static_routes or new.static_rules:
            log.info(
                "static: %d address(es), %d route(s), %d rule(s) installed",
                len(new.static_addresses),
                len(new.static_routes),
                len(new.static_rules),
            )
        self.ensure_watch(new)

    async def changes_for(self, inst: VrrpInstance) -> HostChanges:
        """The routes, rules and firewall an instance changes with its VIPs; promote_secondaries."""
        changes = HostChanges(
            routes=inst.virtual_routes, rules=inst.virtual_rules, garp_extra_if_s=inst.garp_extra_if_s
        )
        if inst.virtual_routes or inst.virtual_rules:
            changes.host = self.route_table()
        if not inst.accept:
            if self._firewall is None:
                self._firewall = Firewall()
                try:
                    await self._firewall.setup()
                except OSError as exc:
                    log.error("(%s) no_accept: cannot create the nftables table: %s", inst.name, exc)
            changes.firewall = self._firewall
        if inst.promote_secondaries and inst.interface not in self._promoted:
            # keepalived vrrp.c: set at start, put back at stop (vrrp_if.c reset_promote_secondaries)
            old = set_promote_secondaries(inst.interface, True)
            if old is not None:
                self._promoted[inst.interface] = old
                log.info("(%s) promote_secondaries set on %s", inst.name, inst.interface)
        return changes

    def ensure_watch(self, config: Config) -> None:
        """Watch route/rule deletions once a tracked virtual or static route or rule exists."""
        tracked = (
            any(_tracked(i.virtual_routes, i.virtual_rules) for i in config.instances)
            or _tracked(config.static_routes, config.static_rules)
            or any(not a.no_track for a in config.static_addresses)
        )
        if tracked and self._watch is None:
            self._watch = self._supervisor.spawn(self._watch_deletions(), "route-watch")

    def stop_watch(self) -> None:
        """Before the daemon deletes its own entries at stop: they must not be reinstated."""
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None

    async def _watch_deletions(self) -> None:
        """keepalived keepalived_netlink.c netlink_route_filter / netlink_rule_filter: a tracked
        virtual route or rule deleted from a MASTER sends it to BACKUP; a tracked static one is
        put back."""
        async for key in self.route_table().deletions():
            for name, inst in self._instances().items():
                item = match_deleted(key, inst.virtual_routes, inst.virtual_rules)
                if item is not None and self._held(name):
                    what = f"virtual {'route' if isinstance(item, Route) else 'rule'} {item}"
                    log.warning("(%s) %s was deleted from the host", name, what)
                    self._lost(name, what)
            config = self._config()
            if key[0] == "addr":
                await self._reinstate_address(key, config)
                continue
            lost = match_deleted(key, config.static_routes, config.static_rules)
            if lost is not None:
                log.warning("%s: static %s was deleted from the host; reinstating it", lost.loc, lost)
                if isinstance(lost, Route):
                    await self.route_table().add_routes([lost])
                else:
                    await self.route_table().add_rules([lost])

    async def _reinstate_address(self, key: tuple[Any, ...], config: Config) -> None:
        """keepalived keepalived_netlink.c: a deleted static address (not no_track) is put back."""
        for a in config.static_addresses:
            ifindex = self._static_ifindex.get(a.dev or "")
            if a.no_track or ifindex is None or addr_key(ifindex, a.address) != key or self._nl is None:
                continue
            log.warning("%s: static address %s was deleted from %s; reinstating it", a.loc, a.address, a.dev)
            try:
                await self._nl.add_address(ifindex, a.address, **address_options(a))
            except OSError as exc:
                log.error("%s: static address %s: %s", a.loc, a.address, exc)

    async def stop(self, nl: Netlink, config: Config) -> None:
        """At stop: static entries removed, promote_secondaries put back, the firewall table gone."""
        self.stop_watch()
        await self.static(nl, config, None)
        for ifname, old in self._promoted.items():
            if not old:
                set_promote_secondaries(ifname, False)
        self._promoted.clear()
        if self._firewall is not None:
            await self._firewall.close()
            self._firewall = None
        self.close()

    def close(self) -> None:
        if self._routes is not None:
            self._routes.close()
            self._routes = None
