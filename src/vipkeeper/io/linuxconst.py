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
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4

# --- <linux/if_addr.h> (ifaddrmsg.ifa_flags / IFA_FLAGS, rtattr types) --------
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_F_SECONDARY = 0x01
IFA_F_NODAD = 0x02
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40

# --- <linux/if.h> (ifinfomsg.ifi_flags) ---------------------------------------
IFF_UP = 0x1
IFF_RUNNING = 0x40

# --- <linux/rtnetlink.h> ------------------------------------------------------
RTMGRP_LINK = 0x1
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_DELADDR = 21
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_SITE = 200
RT_SCOPE_LINK = 253
RT_SCOPE_HOST = 254
RT_SCOPE_NOWHERE = 255
RTPROT_KEEPALIVED = 18  # as IFA_PROTO (Linux >= 5.18): keepalived >= 2.3.2 tags its VIPs with it
