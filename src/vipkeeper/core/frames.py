"""Gratuitous ARP and unsolicited Neighbour Advertisement frames, as bytes (pure).

Both are whole Ethernet frames for an AF_PACKET/SOCK_RAW socket, built the way keepalived
2.2.7 builds them (vrrp_arp.c, vrrp_ndisc.c) and checked byte for byte against frames captured
from it (tests/unit/golden/).

Gratuitous ARP (42 bytes, no padding: the NIC pads short frames)::

    Ethernet  dst ff:ff:ff:ff:ff:ff  src <interface MAC>  type 0x0806
    ARP       htype 1, ptype 0x0800, hlen 6, plen 4, op 1 (REQUEST)
              sender MAC <interface MAC>   sender IP <VIP>
              target MAC ff:ff:ff:ff:ff:ff target IP <VIP>

keepalived puts the broadcast address (not zeros, unlike RFC 5227 §3's ARP announcement) in
the target hardware address.

Unsolicited NA (86 bytes), RFC 4861 §4.4 / §7.2.6::

    Ethernet  dst 33:33:00:00:00:01  src <interface MAC>  type 0x86dd
    IPv6      traffic class 0, flow label 0, payload 32, next header 58, hop limit 255
              src <the VIP itself>  dst ff02::1 (all nodes)
    ICMPv6    type 136, code 0, checksum, flags R (only if IPv6 forwarding is on for the
              interface) | O (override), target <VIP>
    option    type 2 (target link-layer address), length 1 (8 octets), <interface MAC>

keepalived uses the VIP, not the interface's link-local address, as the IPv6 source.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

from vipkeeper.core.checksum import internet_checksum, pseudo_header_v6
from vipkeeper.core.constants import (
    ARPHRD_ETHER,
    ARPOP_REQUEST,
    ETH_ALEN,
    ETH_BROADCAST,
    ETH_P_ARP,
    ETH_P_IP,
    ETH_P_IPV6,
    IPPROTO_ICMPV6,
    IPV6_ALL_NODES,
    IPV6_MCAST_MAC_PREFIX,
    ND_HOP_LIMIT,
    ND_NA_FLAG_OVERRIDE,
    ND_NA_FLAG_ROUTER,
    ND_NEIGHBOR_ADVERT,
    ND_OPT_TARGET_LINKADDR,
)

__all__ = ["gratuitous_arp", "ipv6_multicast_mac", "parse_mac", "unsolicited_na"]

_ETH = struct.Struct("!6s6sH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")
_IP6 = struct.Struct("!IHBB16s16s")
_NA = struct.Struct("!BBHI16sBB6s")  # type, code, checksum, flags+reserved, target, opt type, opt len, lladdr
_NA_LEN = _NA.size  # 32


def parse_mac(text: str) -> bytes:
    """``"52:54:00:12:34:01"`` (or with ``-``) -> 6 bytes."""
    parts = text.replace("-", ":").split(":")
    if len(parts) != ETH_ALEN or not all(1 <= len(p) <= 2 for p in parts):
        raise ValueError(f"not a MAC address: {text!r}")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError(f"not a MAC address: {text!r}") from None


def _check_mac(mac: bytes) -> bytes:
    mac = bytes(mac)
    if len(mac) != ETH_ALEN:
        raise ValueError(f"a MAC address is {ETH_ALEN} bytes, not {len(mac)}")
    return mac


def ipv6_multicast_mac(group: IPv6Address) -> bytes:
    """RFC 2464 §7: 33:33 followed by the group's last 32 bits."""
    return IPV6_MCAST_MAC_PREFIX + group.packed[12:]


def gratuitous_arp(mac: bytes, ip: IPv4Address) -> bytes:
    """The gratuitous ARP request keepalived broadcasts for ``ip`` from interface MAC ``mac``."""
    mac = _check_mac(mac)
    if not isinstance(ip, IPv4Address):
        raise ValueError(f"{ip!r} is not an IPv4Address")
    vip = ip.packed
    return _ETH.pack(ETH_BROADCAST, mac, ETH_P_ARP) + _ARP.pack(
        ARPHRD_ETHER, ETH_P_IP, ETH_ALEN, 4, ARPOP_REQUEST, mac, vip, ETH_BROADCAST, vip
    )


def unsolicited_na(
    mac: bytes,
    ip: IPv6Address,
    *,
    src: IPv6Address | None = None,
    router: bool = False,
) -> bytes:
    """The unsolicited Neighbour Advertisement keepalived sends for ``ip``.

    ``src``: the IPv6 source; keepalived uses the advertised address itself (the default).
    ``router``: set the R flag; keepalived sets it when IPv6 forwarding is enabled on the
    interface (RFC 4861 §4.4: "set when the sender is a router").
    """
    mac = _check_mac(mac)
    if not isinstance(ip, IPv6Address):
        raise ValueError(f"{ip!r} is not an IPv6Address")
    source = ip if src is None else src
    flags = ND_NA_FLAG_OVERRIDE | (ND_NA_FLAG_ROUTER if router else 0)
    icmp = bytearray(_NA.pack(ND_NEIGHBOR_ADVERT, 0, 0, flags << 24, ip.packed, ND_OPT_TARGET_LINKADDR, 1, mac))
    csum = internet_checksum(pseudo_header_v6(source, IPV6_ALL_NODES, IPPROTO_ICMPV6, _NA_LEN) + icmp)
    struct.pack_into("!H", icmp, 2, csum)
    ip6 = _IP6.pack(6 << 28, _NA_LEN, IPPROTO_ICMPV6, ND_HOP_LIMIT, source.packed, IPV6_ALL_NODES.packed)
    return _ETH.pack(ipv6_multicast_mac(IPV6_ALL_NODES), mac, ETH_P_IPV6) + ip6 + bytes(icmp)
