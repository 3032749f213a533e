"""``use_vmac``: the instance's macvlan with the VRRP virtual MAC (keepalived vrrp_vmac.c,
vrrp_if_config.c), created and deleted through netlink.

keepalived's facts, followed here:

- the interface is a macvlan in mode *private* on the instance's ``interface``, named
  ``vrrp.VRID`` unless ``use_vmac NAME`` (the next free of ``vrrp1.VRID``, ``vrrp2.VRID``...
  when another instance has that name, vrrp.c create_vmac_name), with the MAC
  ``00:00:5e:00:01:VRID`` (IPv4; RFC 5798 §7.3) or the one configured;
- an interface of that name that is already a macvlan (left by a crash) is replaced; one that
  is not a macvlan is never touched (the instance cannot start);
- IPv4: on the macvlan ``arp_ignore=1``, ``accept_local=1``, ``rp_filter=0``,
  ``promote_secondaries=1``; on the base interface ``arp_ignore=1`` and ``arp_filter=1``,
  the old values restored when its last macvlan goes (vrrp_if_config.c); IPv6 is disabled on
  the macvlan (no link-local address, no MLD/DAD from the virtual MAC);
- IPv4, when ``net.ipv4.conf.all.rp_filter`` is set (the kernel uses the larger of ``all`` and
  the interface's, so the macvlan's 0 would not count): every interface's and ``default``'s
  ``rp_filter`` is raised to it and ``all`` set to 0; restored at stop where still ours
  (vrrp_if_config.c clear_rp_filter / restore_rp_filter);
- IPv6: MAC 00:00:5e:00:02:VRID; no automatic link-local address (``addr_gen_mode`` none,
  RFC 5798 §7.4) but, unless ``vmac_xmit_base``, the instance's source address (the base
  interface's link-local one) on the macvlan, so adverts leave from it with the virtual MAC
  (vrrp_vmac.c set_link_local_address; added without DAD here: the base already did it);
- it is brought up after those settings and deleted at stop.

pyroute2 is imported inside the functions: only a configuration with ``use_vmac`` loads it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["VMAC_PREFIX", "Vmacs", "default_mac", "pick_name"]

VMAC_PREFIX = "vrrp"  # keepalived's default vmac_prefix
_IFNAMSIZ = 16
_SYSCTL = "/proc/sys/net"
# vrrp_if_config.c: vmac_sysctl and parent_sysctl
_VMAC_IPV4 = (("arp_ignore", 1), ("accept_local", 1), ("rp_filter", 0), ("promote_secondaries", 1))
_BASE_IPV4 = (("arp_ignore", 1), ("arp_filter", 1))
_IN6_ADDR_GEN_MODE_NONE = 1  # linux/if_link.h
_IFA_F_NODAD = 0x02  # linux/if_addr.h


def default_mac(vrid: int, family: int) -> bytes:
    """RFC 5798 §7.3: 00-00-5E-00-01-{VRID} (IPv4), 00-00-5E-00-02-{VRID} (IPv6)."""
    return bytes((0, 0, 0x5E, 0, 1 if family == 4 else 2, vrid))


def pick_name(vrid: int, used: Iterable[str], family: int = 4, prefix: str = VMAC_PREFIX) -> str:
    """keepalived create_vmac_name: ``vrrp.VRID``, else ``vrrp1.VRID``, ``vrrp2.VRID``...;
    for IPv6 ``vrrp6.VRID`` is the second choice."""
    taken = set(used)
    num = 0
    while True:
        tail = f"{num or ''}.{vrid}"
        name = prefix[: _IFNAMSIZ - 1 - len(tail)] + tail
        if name not in taken:
            return name
        if family == 6:
            num = 6 if num == 0 else 1 if num == 6 else num + 2 if num == 5 else num + 1
        else:
            num += 1


def _sysctl_path(family: str, ifname: str, key: str) -> str:
    return f"{_SYSCTL}/{family}/conf/{ifname}/{key}"


def read_sysctl(family: str, ifname: str, key: str) -> int | None:
    try:
        with open(_sysctl_path(family, ifname, key)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def write_sysctl(family: str, ifname: str, key: str, value: int) -> None:
    try:
        with open(_sysctl_path(family, ifname, key), "w") as f:
            f.write(f"{value}\n")
    except OSError as exc:
        log.warning("cannot set net.%s.conf.%s.%s=%d: %s", family, ifname, key, value, exc)


@dataclass
class _Base:
    """A base interface's ARP settings before the first macvlan on it, and its macvlans."""

    ifname: str
    saved: dict[str, int]
    vmacs: set[str] = field(default_factory=set)


class Vmacs:
    """The macvlans this daemon created, and the base settings to restore."""

    def __init__(self) -> None:
        self._ours: dict[str, tuple[int, str]] = {}  # vmac name -> (its ifindex, its base's name)
        self._bases: dict[str, _Base] = {}
        self._all_rp_filter: int | None = None  # all.rp_filter we cleared, to restore
        self._rp_filter_raised: dict[str, int] = {}  # interface (or "default") -> its old rp_filter

    def __contains__(self, ifname: str) -> bool:
        return ifname in self._ours

    @property
    def names(self) -> list[str]:
        return list(self._ours)

    def ifindex(self, name: str) -> int | None:
        entry = self._ours.get(name)
        return None if entry is None else entry[0]

    async def create(
        self,
        name: str,
        *,
        base_ifindex: int,
        base_ifname: str,
        mac: bytes,
        family: int,
        ipv6: bool = False,
        link_local: IPv6Address | None = None,
    ) -> int:
        """Create (or replace) macvlan ``name`` on the base, set keepalived's sysctls, bring it
        up; returns its ifindex.  Raises OSError (the caller cannot run the instance)."""
        from pyroute2 import AsyncIPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            async with AsyncIPRoute() as ipr:
                old = await _link(ipr, name)
                if old is not None:
                    kind = _kind(old)
                    if kind != "macvlan":
                        raise OSError(f"interface {name} exists and is not a macvlan ({kind or 'no kind'})")
                    log.info("replacing the existing macvlan %s", name)
                    await ipr.link("del", index=old["index"])
                await ipr.link(
                    "add",
                    ifname=name,
                    kind="macvlan",
                    link=base_ifindex,
                    macvlan_mode="private",
                    address=mac.hex(":"),
                )
                new = await _link(ipr, name)
                if new is None:
                    raise OSError(f"macvlan {name} vanished after its creation")
                ifindex = int(new["index"])
                self._ours[name] = (ifindex, base_ifname)
                self._settings(name, base_ifname, family, ipv6)
                await ipr.link("set", index=ifindex, state="up")
                if link_local is not None:
                    await ipr.addr("add", index=ifindex, address=str(link_local), prefixlen=64, flags=_IFA_F_NODAD)
        except NetlinkError as exc:
            raise OSError(exc.code, f"macvlan {name} on {base_ifname}: {exc}") from exc
        log.info("created macvlan %s on %s with MAC %s", name, base_ifname, mac.hex(":"))
        return ifindex

    def _settings(self, name: str, base_ifname: str, family: int, ipv6: bool) -> None:
        # IPv6 off on an IPv4 instance's macvlan before it is up, unless an eVIP is IPv6
        # (keepalived link_set_ipv6, VRRP_FLAG_EVIP_OTHER_FAMILY).
        if family == 4 and not ipv6:
            write_sysctl("ipv6", name, "disable_ipv6", 1)
        else:
            write_sysctl("ipv6", name, "addr_gen_mode", _IN6_ADDR_GEN_MODE_NONE)
        if family != 4:
            return
        if self._all_rp_filter is None:
            self._clear_rp_filter()
        for key, value in _VMAC_IPV4:
            write_sysctl("ipv4", name, key, value)
        base = self._bases.get(base_ifname)
        if base is None:
            saved = {k: v for k, _ in _BASE_IPV4 if (v := read_sysctl("ipv4", base_ifname, k)) is not None}
            base = self._bases[base_ifname] = _Base(base_ifname, saved)
            for key, value in _BASE_IPV4:
                if saved.get(key) != value:
                    write_sysctl("ipv4", base_ifname, key, value)
        base.vmacs.add(name)

    async def delete(self, name: str) -> None:
        """Delete a macvlan we created; restore its base's settings when it was the last."""
        entry = self._ours.pop(name, None)
        if entry is None:
            return
        ifindex, base_ifname = entry
        from pyroute2 import AsyncIPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            async with AsyncIPRoute() as ipr:
                await ipr.link("del", index=ifindex)
            log.info("deleted macvlan %s", name)
        except NetlinkError as exc:
            log.error("cannot delete macvlan %s: %s", name, exc)
        base = self._bases.get(base_ifname)
        if base is not None:
            base.vmacs.discard(name)
            if not base.vmacs:
                del self._bases[base_ifname]
                for key, value in base.saved.items():
                    if value != dict(_BASE_IPV4)[key]:
                        write_sysctl("ipv4", base_ifname, key, value)

    async def delete_all(self) -> None:
        for name in list(self._ours):
            await self.delete(name)
        self._restore_rp_filter()

    def _clear_rp_filter(self) -> None:
        all_rp = read_sysctl("ipv4", "all", "rp_filter")
        if not all_rp:
            return
        self._all_rp_filter = all_rp
        try:
            names = [n for n in os.listdir(f"{_SYSCTL}/ipv4/conf") if n != "all"]
        except OSError:
            names = ["default"]
        for name in names:
            old = read_sysctl("ipv4", name, "rp_filter")
            if old is not None and old < all_rp:
                write_sysctl("ipv4", name, "rp_filter", all_rp)
                self._rp_filter_raised[name] = old
        log.info("use_vmac: net.ipv4.conf.all.rp_filter %d -> 0 (the other interfaces raised to %d)", all_rp, all_rp)
        write_sysctl("ipv4", "all", "rp_filter", 0)

    def _restore_rp_filter(self) -> None:
        """Put back what we changed, where nobody changed it since (keepalived restore_rp_filter)."""
        if self._all_rp_filter is None:
            return
        all_rp, self._all_rp_filter = self._all_rp_filter, None
        if read_sysctl("ipv4", "all", "rp_filter") == 0:
            write_sysctl("ipv4", "all", "rp_filter", all_rp)
        for name, old in self._rp_filter_raised.items():
            if read_sysctl("ipv4", name, "rp_filter") == all_rp:
                write_sysctl("ipv4", name, "rp_filter", old)
        self._rp_filter_raised = {}


async def _link(ipr: Any, name: str) -> Any:
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        msgs = await ipr.link("get", ifname=name)
    except NetlinkError:
        return None
    for msg in msgs:
        return msg
    return None


def _kind(msg: Any) -> str | None:
    info = msg.get_attr("IFLA_LINKINFO")
    return None if info is None else info.get_attr("IFLA_INFO_KIND")
