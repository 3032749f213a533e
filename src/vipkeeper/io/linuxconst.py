"""Linux constants that Python's :mod:`socket` module lacks (checked on Python 3.11).

Each constant is declared once, here, with the kernel header it comes from,
and only the ones vipkeeper uses.  Where :mod:`socket` does define a name on
some Python versions we take that value and only fall back to the literal.
The VRRP protocol number itself is a wire fact: ``core.constants.IPPROTO_VRRP``.
"""

from __future__ import annotations

import socket as _socket

# --- <linux/in.h> -----------------------------------------------------------
IP_PKTINFO = getattr(_socket, "IP_PKTINFO", 8)
IP_MULTICAST_ALL = getattr(_socket, "IP_MULTICAST_ALL", 49)

# --- <linux/in6.h> ----------------------------------------------------------
IPV6_CHECKSUM = getattr(_socket, "IPV6_CHECKSUM", 7)
IPV6_MULTICAST_ALL = getattr(_socket, "IPV6_MULTICAST_ALL", 29)  # Linux >= 4.20
IPV6_RECVPKTINFO = getattr(_socket, "IPV6_RECVPKTINFO", 49)
IPV6_PKTINFO = getattr(_socket, "IPV6_PKTINFO", 50)
IPV6_RECVHOPLIMIT = getattr(_socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = getattr(_socket, "IPV6_HOPLIMIT", 52)
IPV6_TCLASS = getattr(_socket, "IPV6_TCLASS", 67)

# --- <asm-generic/socket.h> -------------------------------------------------
SO_RCVBUFFORCE = getattr(_socket, "SO_RCVBUFFORCE", 33)

# --- <linux/netlink.h> ------------------------------------------------------
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
NLM_F_EXCL = 0x200  # (new requests)
NLM_F_CREATE = 0x400  # (new requests)
NLA_F_NESTED = 0x8000
NLA_F_NET_BYTEORDER = 0x4000

# --- <linux/if_addr.h> (ifaddrmsg.ifa_flags / IFA_FLAGS, rtattr types) --------
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_LABEL = 3
IFA_BROADCAST = 4
IFA_CACHEINFO = 6  # struct ifa_cacheinfo: prefered, valid, cstamp, tstamp (u32 each)
IFA_FLAGS = 8
IFA_PROTO = 11  # Linux >= 5.18
IFA_F_SECONDARY = 0x01
IFA_F_NODAD = 0x02
IFA_F_HOMEADDRESS = 0x10
IFA_F_MANAGETEMPADDR = 0x100
IFA_F_NOPREFIXROUTE = 0x200
IFA_F_MCAUTOJOIN = 0x400
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40
INFINITY_LIFE_TIME = 0xFFFFFFFF  # <linux/if_addr.h> ifa_cacheinfo: forever

# --- <linux/if_link.h> (ifinfomsg rtattr types) ----------------------------------
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4

# --- <linux/if.h> (ifinfomsg.ifi_flags) ---------------------------------------
IFF_UP = 0x1
IFF_RUNNING = 0x40

# --- <linux/rtnetlink.h> ------------------------------------------------------
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_SITE = 200
RT_SCOPE_LINK = 253
RT_SCOPE_HOST = 254
RT_SCOPE_NOWHERE = 255

# --- <linux/rtnetlink.h> (rtnexthop / rtmsg flags) -----------------------------
RTNH_F_ONLINK = 0x4

# --- <linux/fib_rules.h> (fib_rule_hdr.action, .flags) ---------------------------
FR_ACT = {"table": 1, "goto": 2, "nop": 3, "blackhole": 6, "unreachable": 7, "prohibit": 8}
FIB_RULE_INVERT = 0x2

# --- <linux/connector.h>, <linux/cn_proc.h> (the proc connector; NLMSG_DONE above) ---
NETLINK_CONNECTOR = 11
CN_IDX_PROC = 0x1
CN_VAL_PROC = 0x1
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2
PROC_EVENT_NONE = 0x00000000
PROC_EVENT_FORK = 0x00000001
PROC_EVENT_EXEC = 0x00000002
PROC_EVENT_COMM = 0x00000200
PROC_EVENT_EXIT = 0x80000000
RTM_DELROUTE = 25
RTM_DELRULE = 33
RTMGRP_IPV4_ROUTE = 0x40
RTMGRP_IPV4_RULE = 0x80
RTMGRP_IPV6_ROUTE = 0x400
RTMGRP_IPV6_RULE = 1 << (19 - 1)  # RTNLGRP_IPV6_RULE = 19 (no RTMGRP_ name in the header)
RTPROT_KEEPALIVED = 18  # no name in <linux/rtnetlink.h>; keepalived vrrp_iproute.h; also its VIPs' IFA_PROTO
