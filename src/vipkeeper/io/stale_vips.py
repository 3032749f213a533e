"""Remove the VIPs a killed vipkeeper left behind, first thing at start.

After a SIGKILL the dead daemon's VIPs stay on the interface, and the peer adds them too after
its Master_Down_Interval: two hosts hold the VIP until this host's next start removes its copy.
The daemon does that in ``Daemon._add_instance``, but only after importing asyncio and pyroute2
and opening its sockets, ~0.2 s of a Python start.  ``vipkeeper run`` calls
:func:`remove_stale_vips` right after parsing the configuration instead: one RTM_DELADDR per VIP
over a plain rtnetlink socket (rtnetlink(7)), no pyroute2.  The daemon's own removal still runs
afterwards and finds nothing left.

Never raises: whatever fails here is left to the daemon's own removal.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from vipkeeper.io import linuxconst as lc
from vipkeeper.pidfile import other_daemon

if TYPE_CHECKING:
    from vipkeeper.config.model import Config

log = logging.getLogger(__name__)

_NLMSGHDR = struct.Struct("=IHHII")  # struct nlmsghdr   <linux/netlink.h>
_IFADDRMSG = struct.Struct("=BBBBi")  # struct ifaddrmsg  <linux/if_addr.h>
_RTATTR = struct.Struct("=HH")  # struct rtattr     <linux/rtnetlink.h>


def _rta(kind: int, data: bytes) -> bytes:
    n = _RTATTR.size + len(data)
    return _RTATTR.pack(n, kind) + data + b"\0" * (-n % 4)


def _delete(sock: socket.socket, seq: int, ifindex: int, ip: bytes, prefixlen: int, family: int) -> int:
    """One RTM_DELADDR; returns the kernel's errno (0: deleted)."""
    body = _IFADDRMSG.pack(family, prefixlen, 0, 0, ifindex) + _rta(lc.IFA_LOCAL, ip) + _rta(lc.IFA_ADDRESS, ip)
    sock.send(
        _NLMSGHDR.pack(_NLMSGHDR.size + len(body), lc.RTM_DELADDR, lc.NLM_F_REQUEST | lc.NLM_F_ACK, seq, 0) + body
    )
    while True:
        data = sock.recv(65536)
        off = 0
        while off + _NLMSGHDR.size <= len(data):
            length, kind, _flags, rseq, _pid = _NLMSGHDR.unpack_from(data, off)
            if kind == lc.NLMSG_ERROR and rseq == seq:
                return -struct.unpack_from("=i", data, off + _NLMSGHDR.size)[0]
            if length < _NLMSGHDR.size:
                return errno.EPROTO
            off += (length + 3) & ~3


def remove_stale_vips(config: Config, state_dir: Path) -> int:
    """Delete every configured VIP (and excluded VIP) from its interface; returns how many
    were there.  Logs what it removed, like the daemon's own start-up removal."""
    if other_daemon(state_dir) is not None:  # that daemon owns these VIPs (this one will not start)
        return 0
    total = 0
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
    except OSError as exc:
        log.debug("early stale VIP removal: %s", exc)
        return 0
    with sock:
        sock.settimeout(1.0)
        seq = 0
        for inst in config.instances:
            removed = []
            for v in inst.vips + inst.vips_excluded:
                try:
                    ifindex = socket.if_nametoindex(v.dev or inst.interface)
                    seq += 1
                    family = socket.AF_INET if v.address.version == 4 else socket.AF_INET6
                    err = _delete(sock, seq, ifindex, v.address.ip.packed, v.address.network.prefixlen, family)
                except OSError as exc:
                    log.debug("(%s) early stale VIP removal of %s: %s", inst.name, v.address, exc)
                    continue
                if err == 0:
                    removed.append(str(v.address.ip))
                elif err not in (errno.EADDRNOTAVAIL, errno.ENODEV):
                    log.debug("(%s) early stale VIP removal of %s: %s", inst.name, v.address, os.strerror(err))
            if removed:
                log.warning(
                    "(%s) removed %d stale VIP(s) left from a previous run: %s",
                    inst.name,
                    len(removed),
                    ", ".join(removed),
                )
                total += len(removed)
    return total
