"""Protocol numbers of VRRP (v2: RFC 3768, v3: RFC 5798) and of the frames sent beside it.

Pure: plain values only. Every number carries the section that defines it.
Where keepalived (2.2.7) does something the RFCs leave open, the comment says so.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from typing import Final

# --------------------------------------------------------------------------- IP layer
IPPROTO_VRRP: Final = 112  # RFC 3768 §5.2.4, RFC 5798 §5.1.1.4 / §5.1.2.4
IPPROTO_AH: Final = 51  # RFC 2338 §5.3.6 (VRRPv2 "IP Authentication Header" mode), RFC 4302
IPPROTO_ICMPV6: Final = 58  # RFC 4443

VRRP_TTL: Final = 255  # RFC 3768 §5.2.3 (TTL), RFC 5798 §5.1.1.3 (TTL) / §5.1.2.3 (Hop Limit)

VRRP_GROUP_V4: Final = IPv4Address("224.0.0.18")  # RFC 3768 §5.2.2, RFC 5798 §5.1.1.2
VRRP_GROUP_V6: Final = IPv6Address("ff02::12")  # RFC 5798 §5.1.2.2

# keepalived sets the IPv4 TOS byte (it builds the header itself, IP_HDRINCL) and the IPv6
# traffic class to 0xC0: precedence 6, "internetwork control" (RFC 791 §3.1).  The IPv4
# header has Identification = a per-instance counter starting at 1, and no DF flag.
VRRP_TOS: Final = 0xC0

FAMILY_V4: Final = 4
FAMILY_V6: Final = 6

# --------------------------------------------------------------------------- VRRP header
VRRP_VERSION_2: Final = 2  # RFC 3768 §5.3.1
VRRP_VERSION_3: Final = 3  # RFC 5798 §5.2.1
VRRP_TYPE_ADVERTISEMENT: Final = 1  # RFC 3768 §5.3.2, RFC 5798 §5.2.2 (the only type)

VRID_MIN: Final = 1  # RFC 3768 §5.3.3, RFC 5798 §5.2.3: "configurable in the range 1-255"
VRID_MAX: Final = 255

PRIORITY_STOP: Final = 0  # RFC 3768 §5.3.4, RFC 5798 §5.2.4: master stops participating
PRIORITY_DEFAULT: Final = 100  # RFC 3768 §5.3.4, RFC 5798 §5.2.4: default for backups
PRIORITY_OWNER: Final = 255  # RFC 3768 §5.3.4, RFC 5798 §5.2.4: the address owner
PRIORITY_BACKUP_MAX: Final = 254  # RFC 3768 §5.3.4, RFC 5798 §5.2.4: backups use 1-254

MAX_ADDRESSES: Final = 255  # RFC 3768 §5.3.5, RFC 5798 §5.2.5: "Count IPvX Addrs" is 8 bits

VRRP_HEADER_LEN: Final = 8  # RFC 3768 §5.1, RFC 5798 §5.1: the fixed part before the addresses
VRRP_CHECKSUM_OFFSET: Final = 6  # RFC 3768 §5.1, RFC 5798 §5.1: the checksum field (IPV6_CHECKSUM)
IPV4_ADDR_LEN: Final = 4
IPV6_ADDR_LEN: Final = 16

# Authentication (VRRPv2 only).  RFC 2338 §5.3.6 defined 1 = simple text password and
# 2 = IP Authentication Header; RFC 3768 §5.3.6 removed both and keeps 1 and 2 "reserved
# for backward compatibility with RFC 2338".  keepalived still implements them (auth_type
# PASS / AH).  VRRPv3 has no authentication at all (RFC 5798 §9).
AUTH_NONE: Final = 0
AUTH_PASS: Final = 1
AUTH_AH: Final = 2
AUTH_DATA_LEN: Final = 8  # RFC 2338 §5.3.10, RFC 3768 §5.3.10 (two 32-bit words)

# Advertisement interval.
ADVERT_INT_DEFAULT_S: Final = 1  # RFC 3768 §5.3.7: seconds, default 1
ADVERT_INT_V2_MAX_S: Final = 255  # RFC 3768 §5.3.7: an 8-bit field of seconds
ADVERT_INT_DEFAULT_CS: Final = 100  # RFC 5798 §5.2.7: centiseconds, default 100
ADVERT_INT_V3_MAX_CS: Final = 4095  # RFC 5798 §5.2.7: a 12-bit field of centiseconds
CS_PER_S: Final = 100

# Master_Down_Interval = 3 * advertisement interval + skew: RFC 3768 §6.1, RFC 5798 §6.1.
ADVERTS_BEFORE_MASTER_DOWN: Final = 3

# --------------------------------------------------------------------------- virtual MAC
# RFC 3768 §7.3, RFC 5798 §7.3: 00-00-5E-00-01-{VRID} (IPv4), 00-00-5E-00-02-{VRID} (IPv6).
VMAC_PREFIX_V4: Final = bytes((0x00, 0x00, 0x5E, 0x00, 0x01))
VMAC_PREFIX_V6: Final = bytes((0x00, 0x00, 0x5E, 0x00, 0x02))


def vmac(vrid: int, family: int) -> bytes:
    """The virtual router MAC address for ``vrid`` (RFC 3768 §7.3, RFC 5798 §7.3)."""
    if not VRID_MIN <= vrid <= VRID_MAX:
        raise ValueError(f"VRID {vrid} is outside {VRID_MIN}..{VRID_MAX}")
    if family == FAMILY_V4:
        return VMAC_PREFIX_V4 + bytes((vrid,))
    if family == FAMILY_V6:
        return VMAC_PREFIX_V6 + bytes((vrid,))
    raise ValueError(f"family must be 4 or 6, not {family!r}")


# --------------------------------------------------------------------------- Ethernet / ARP / ND
ETH_ALEN: Final = 6
ETH_HLEN: Final = 14
ETH_BROADCAST: Final = b"\xff" * 6
ETH_P_IP: Final = 0x0800  # RFC 894
ETH_P_ARP: Final = 0x0806  # RFC 826
ETH_P_IPV6: Final = 0x86DD  # RFC 2464 §3

ARPHRD_ETHER: Final = 1  # RFC 826 hardware type "Ethernet (10Mb)"
ARPOP_REQUEST: Final = 1  # RFC 826; gratuitous ARP as a request: RFC 5227 §3
ARPOP_REPLY: Final = 2

IPV6_ALL_NODES: Final = IPv6Address("ff02::1")  # RFC 4291 §2.7.1
IPV6_MCAST_MAC_PREFIX: Final = b"\x33\x33"  # RFC 2464 §7: 33-33 + low 32 bits of the group
ND_HOP_LIMIT: Final = 255  # RFC 4861 §4.4 / §7.1.2: NA hop limit MUST be 255
ND_NEIGHBOR_ADVERT: Final = 136  # RFC 4861 §4.4
ND_NA_FLAG_ROUTER: Final = 0x80  # RFC 4861 §4.4 "R"
ND_NA_FLAG_SOLICITED: Final = 0x40  # RFC 4861 §4.4 "S" (never set in an unsolicited NA)
ND_NA_FLAG_OVERRIDE: Final = 0x20  # RFC 4861 §4.4 "O"
ND_OPT_TARGET_LINKADDR: Final = 2  # RFC 4861 §4.6.1
