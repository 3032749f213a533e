"""Linux constants that Python's :mod:`socket` module lacks (checked on Python 3.11).

Each constant is declared once, here, with the kernel header it comes from.
Where :mod:`socket` does define a name on some Python versions we take that
value and only fall back to the literal.
"""

from __future__ import annotations

import socket as _socket

# --- <linux/in.h> -----------------------------------------------------------
IPPROTO_VRRP = 112  # IANA protocol number; <netinet/in.h> lacks it, RFC 5798 §5.1.1.4
IP_PKTINFO = getattr(_socket, "IP_PKTINFO", 8)
IP_RECVTTL = getattr(_socket, "IP_RECVTTL", 12)
IP_FREEBIND = getattr(_socket, "IP_FREEBIND", 15)
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
SO_SNDBUFFORCE = getattr(_socket, "SO_SNDBUFFORCE", 32)

# --- <linux/socket.h> / <linux/if_packet.h> ---------------------------------
SOL_PACKET = getattr(_socket, "SOL_PACKET", 263)
PACKET_ADD_MEMBERSHIP = getattr(_socket, "PACKET_ADD_MEMBERSHIP", 1)
PACKET_DROP_MEMBERSHIP = getattr(_socket, "PACKET_DROP_MEMBERSHIP", 2)
PACKET_MR_MULTICAST = getattr(_socket, "PACKET_MR_MULTICAST", 0)

# --- <linux/if_ether.h> -----------------------------------------------------
ETH_P_ALL = getattr(_socket, "ETH_P_ALL", 0x0003)
ETH_P_IP = getattr(_socket, "ETH_P_IP", 0x0800)
ETH_P_ARP = getattr(_socket, "ETH_P_ARP", 0x0806)
ETH_P_IPV6 = getattr(_socket, "ETH_P_IPV6", 0x86DD)

# --- <linux/if_addr.h> (ifaddrmsg.ifa_flags / IFA_FLAGS) ----------------------
IFA_F_SECONDARY = 0x01
IFA_F_TEMPORARY = IFA_F_SECONDARY
IFA_F_NODAD = 0x02
IFA_F_OPTIMISTIC = 0x04
IFA_F_DADFAILED = 0x08
IFA_F_HOMEADDRESS = 0x10
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40
IFA_F_PERMANENT = 0x80
IFA_F_NOPREFIXROUTE = 0x200

# --- <linux/if.h> (ifinfomsg.ifi_flags) ---------------------------------------
IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_LOOPBACK = 0x8
IFF_RUNNING = 0x40
IFF_MULTICAST = 0x1000
IFF_LOWER_UP = 0x10000

# --- <linux/rtnetlink.h> ------------------------------------------------------
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
RTM_NEWLINK = 16
RTM_DELLINK = 17
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_SITE = 200
RT_SCOPE_LINK = 253
RT_SCOPE_HOST = 254
RT_SCOPE_NOWHERE = 255

