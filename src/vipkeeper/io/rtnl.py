"""Raw rtnetlink (rtnetlink(7), netlink(7)): the few messages the daemon needs, no pyroute2.

What vipkeeper asks of the kernel is small: add, delete and dump addresses, get and dump links,
and watch link and address changes.  Doing it over a plain ``AF_NETLINK`` socket costs a few
structs; pyroute2 cost ~13 MB of RSS and ~0.2 s of start-up (its package import pulls in ndb,
ipdb and sqlite), measured in bench/results (issue 14).

* :class:`RtnlSocket`: requests.  The kernel handles an rtnetlink request inside ``sendmsg``,
  so the answer is queued before ``send`` returns: a blocking socket with a short timeout
  never waits in practice, and one request at a time means no sequence interleaving.
* :class:`RtnlMonitor`: a multicast subscription (``RTMGRP_*`` groups) read from the asyncio
  loop; ``get()`` yields the messages of one datagram, raises ``OSError`` on a socket error
  (``ENOBUFS`` after an overflow: the caller re-reads the state) and ends empty once closed.
* Messages are parsed into plain dicts with pyroute2's key names (``header``, ``family``,
  ``index``, ``flags``, ``ifname``, ``address``, ``local``, ``prefixlen``, ``scope``,
  ``IFA_FLAGS``), so the callers read one shape.

Struct layouts: ``struct nlmsghdr``, ``struct nlmsgerr`` <linux/netlink.h>; ``struct
ifinfomsg``, ``struct rtattr`` <linux/rtnetlink.h>; ``struct ifaddrmsg`` <linux/if_addr.h>.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from vipkeeper.io import linuxconst as lc

if TYPE_CHECKING:
    import asyncio

__all__ = ["RtnlMonitor", "RtnlSocket", "parse_messages", "rta"]

NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
IFINFOMSG = struct.Struct("=BxHiII")  # family, (pad), type, index, flags, change
IFADDRMSG = struct.Struct("=BBBBi")  # family, prefixlen, flags, scope, index
RTATTR = struct.Struct("=HH")  # len, type
_I32 = struct.Struct("=i")
_U32 = struct.Struct("=I")
_NLA_TYPE_MASK = ~(lc.NLA_F_NESTED | lc.NLA_F_NET_BYTEORDER) & 0xFFFF

_RECV_BYTES = 1 << 16
REQUEST_TIMEOUT_S = 2.0
MONITOR_RCVBUF_BYTES = 1 << 20


def rta(kind: int, data: bytes) -> bytes:
    """One attribute, padded to 4 bytes (RTA_ALIGN)."""
    n = RTATTR.size + len(data)
    return RTATTR.pack(n, kind) + data + b"\0" * (-n % 4)


def _attrs(data: bytes, off: int, end: int) -> Iterator[tuple[int, bytes]]:
    while off + RTATTR.size <= end:
        length, kind = RTATTR.unpack_from(data, off)
        if length < RTATTR.size or off + length > end:
            raise ValueError("bad rtattr length")
        yield kind & _NLA_TYPE_MASK, data[off + RTATTR.size : off + length]
        off += (length + 3) & ~3


def _cstr(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


def _link(data: bytes, off: int, end: int, msg: dict[str, Any]) -> None:
    family, _type, index, flags, _change = IFINFOMSG.unpack_from(data, off)
    msg.update(family=family, index=index, flags=flags)
    for kind, val in _attrs(data, off + IFINFOMSG.size, end):
        if kind == lc.IFLA_IFNAME:
            msg["ifname"] = _cstr(val)
        elif kind == lc.IFLA_ADDRESS:
            msg["address"] = val
        elif kind == lc.IFLA_MTU and len(val) >= 4:
            msg["mtu"] = _U32.unpack_from(val)[0]


def _addr(data: bytes, off: int, end: int, msg: dict[str, Any]) -> None:
    family, prefixlen, flags, scope, index = IFADDRMSG.unpack_from(data, off)
    msg.update(family=family, prefixlen=prefixlen, flags=flags, scope=scope, index=index)
    for kind, val in _attrs(data, off + IFADDRMSG.size, end):
        if kind in (lc.IFA_ADDRESS, lc.IFA_LOCAL) and len(val) in (4, 16):
            msg["address" if kind == lc.IFA_ADDRESS else "local"] = socket.inet_ntop(
                socket.AF_INET if len(val) == 4 else socket.AF_INET6, val
            )
        elif kind == lc.IFA_LABEL:
            msg["label"] = _cstr(val)
        elif kind == lc.IFA_FLAGS and len(val) >= 4:
            msg["IFA_FLAGS"] = _U32.unpack_from(val)[0]


def parse_messages(data: bytes) -> Iterator[dict[str, Any]]:
    """Every message of one datagram, as a dict.  ``NLMSG_ERROR`` carries ``error`` (an errno,
    0 for an ACK); link and address messages carry their fields; others only ``header``.
    Raises ValueError on a truncated message (the rest of the datagram cannot be trusted)."""
    off = 0
    while off + NLMSGHDR.size <= len(data):
        length, kind, flags, seq, pid = NLMSGHDR.unpack_from(data, off)
        end = off + length
        if length < NLMSGHDR.size or end > len(data):
            raise ValueError("bad nlmsghdr length")
        msg: dict[str, Any] = {"header": {"type": kind, "flags": flags, "sequence_number": seq, "pid": pid}}
        body = off + NLMSGHDR.size
        if kind == lc.NLMSG_ERROR:
            if end - body < _I32.size:
                raise ValueError("short nlmsgerr")
            msg["error"] = -_I32.unpack_from(data, body)[0]
        elif kind in (lc.RTM_NEWLINK, lc.RTM_DELLINK):
            if end - body < IFINFOMSG.size:
                raise ValueError("short ifinfomsg")
            _link(data, body, end, msg)
        elif kind in (lc.RTM_NEWADDR, lc.RTM_DELADDR):
            if end - body < IFADDRMSG.size:
                raise ValueError("short ifaddrmsg")
            _addr(data, body, end, msg)
        yield msg
        off += (length + 3) & ~3


def _open(groups: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
    try:
        sock.bind((0, groups))
    except OSError:
        sock.close()
        raise
    return sock


class RtnlSocket:
    """Requests over one rtnetlink socket; every method is synchronous and bounded."""

    def __init__(self) -> None:
        self._sock = _open()
        self._sock.settimeout(REQUEST_TIMEOUT_S)
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def _send(self, kind: int, flags: int, body: bytes) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        self._sock.send(NLMSGHDR.pack(NLMSGHDR.size + len(body), kind, lc.NLM_F_REQUEST | flags, self._seq, 0) + body)
        return self._seq

    def _replies(self, seq: int) -> Iterator[dict[str, Any]]:
        """The kernel's messages for request ``seq``, until its ACK/error or NLMSG_DONE."""
        while True:
            data = self._sock.recv(_RECV_BYTES)  # socket.timeout (an OSError) if the kernel is silent
            for msg in parse_messages(data):
                hdr = msg["header"]
                if hdr["sequence_number"] != seq:
                    continue  # a late answer to an earlier request that timed out
                if hdr["type"] == lc.NLMSG_ERROR:
                    if msg["error"]:
                        raise OSError(msg["error"], f"rtnetlink: {os.strerror(msg['error'])}")
                    return
                if hdr["type"] == lc.NLMSG_DONE:
                    return
                yield msg

    def request(self, kind: int, flags: int, body: bytes) -> None:
        """A request answered by an ACK; the kernel's refusal raises OSError(errno)."""
        for _msg in self._replies(self._send(kind, flags | lc.NLM_F_ACK, body)):
            pass

    def get(self, kind: int, body: bytes) -> list[dict[str, Any]]:
        return list(self._replies(self._send(kind, lc.NLM_F_ACK, body)))

    def dump(self, kind: int, body: bytes) -> list[dict[str, Any]]:
        return list(self._replies(self._send(kind, lc.NLM_F_DUMP, body)))

    # -- the daemon's operations ------------------------------------------------
    def link_get(self, ifname: str) -> list[dict[str, Any]]:
        body = IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + rta(lc.IFLA_IFNAME, ifname.encode() + b"\0")
        return [m for m in self.get(lc.RTM_GETLINK, body) if m["header"]["type"] == lc.RTM_NEWLINK]

    def link_dump(self) -> list[dict[str, Any]]:
        body = IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        return [m for m in self.dump(lc.RTM_GETLINK, body) if m["header"]["type"] == lc.RTM_NEWLINK]

    def addr_dump(self, family: int = socket.AF_UNSPEC) -> list[dict[str, Any]]:
        body = IFADDRMSG.pack(family, 0, 0, 0, 0)
        return [m for m in self.dump(lc.RTM_GETADDR, body) if m["header"]["type"] == lc.RTM_NEWADDR]

    def addr_change(
        self,
        add: bool,
        ifindex: int,
        ip: bytes,
        prefixlen: int,
        *,
        flags: int = 0,
        scope: int = 0,
        broadcast: bytes | None = None,
        label: str | None = None,
        proto: int = 0,
        peer: bytes | None = None,
        preferred_lft_s: int | None = None,
    ) -> None:
        """RTM_NEWADDR (create, exclusive: EEXIST if present) or RTM_DELADDR for one address.
        IPv4 carries IFA_LOCAL and IFA_ADDRESS (as ``ip addr`` does), IPv6 IFA_ADDRESS."""
        family = socket.AF_INET if len(ip) == 4 else socket.AF_INET6
        body = IFADDRMSG.pack(family, prefixlen, flags & 0xFF, scope, ifindex)
        # A point-to-point address (``ip addr add A peer P``): IFA_ADDRESS is the peer, to add it
        # and to delete it (the kernel matches a deletion's IFA_ADDRESS against the peer).
        if family == socket.AF_INET:
            body += rta(lc.IFA_LOCAL, ip)
            body += rta(lc.IFA_ADDRESS, peer if peer is not None else ip)
        else:
            body += rta(lc.IFA_LOCAL if peer is not None else lc.IFA_ADDRESS, ip)
            if peer is not None:
                body += rta(lc.IFA_ADDRESS, peer)
        if add:
            if preferred_lft_s is not None:  # valid forever, preferred for this long (0: deprecated)
                body += rta(lc.IFA_CACHEINFO, struct.pack("=IIII", preferred_lft_s, lc.INFINITY_LIFE_TIME, 0, 0))
            if flags:
                body += rta(lc.IFA_FLAGS, _U32.pack(flags))
            if broadcast is not None:
                body += rta(lc.IFA_BROADCAST, broadcast)
            if label is not None:
                body += rta(lc.IFA_LABEL, label.encode() + b"\0")
            if proto:  # Linux >= 5.18; older kernels ignore the attribute
                body += rta(lc.IFA_PROTO, bytes((proto,)))
            self.request(lc.RTM_NEWADDR, lc.NLM_F_CREATE | lc.NLM_F_EXCL, body)
        else:
            self.request(lc.RTM_DELADDR, 0, body)


class RtnlMonitor:
    """A subscription to rtnetlink multicast groups, read from the running asyncio loop."""

    def __init__(self, groups: int) -> None:
        import asyncio  # here: io.stale_vips uses this module before the daemon imports asyncio

        self._loop = asyncio.get_running_loop()
        self._sock = _open(groups)
        self._sock.setblocking(False)
        for opt in (lc.SO_RCVBUFFORCE, socket.SO_RCVBUF):  # FORCE needs CAP_NET_ADMIN
            try:
                self._sock.setsockopt(socket.SOL_SOCKET, opt, MONITOR_RCVBUF_BYTES)
                break
            except OSError:
                continue
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False

    def _wake(self) -> None:
        self._loop.remove_reader(self._sock.fileno())
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _recv(self) -> bytes:
        while not self.closed:
            try:
                return self._sock.recv(_RECV_BYTES)
            except BlockingIOError:
                pass
            self._waiter = self._loop.create_future()
            self._loop.add_reader(self._sock.fileno(), self._wake)
            try:
                await self._waiter
            finally:
                if not self.closed:
                    self._loop.remove_reader(self._sock.fileno())
                self._waiter = None
        return b""

    async def get(self) -> AsyncIterator[dict[str, Any]]:
        """The messages of the next datagram; nothing once closed."""
        data = await self._recv()
        for msg in parse_messages(data):
            yield msg

    def close(self) -> None:
        """Close the socket; a pending :meth:`get` ends empty."""
        if self.closed:
            return
        self.closed = True
        try:
            self._loop.remove_reader(self._sock.fileno())
        except (ValueError, OSError):
            pass
        self._sock.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
