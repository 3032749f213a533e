"""Raw protocol-112 sockets: one per (interface, address family), plus a protocol-51 one for
IPsec AH (``auth_type AH``) on the IPv4 interfaces that need it.

All VRRP instances on one interface and family share one :class:`VrrpSocket`.
The socket only moves bytes: it never validates a VRRP message (that is
``core``'s job) and never raises from its receive path or from :meth:`send`.

Choices, and the kernel behaviour they rely on:

* IPv4 sends do **not** use ``IP_HDRINCL``: the kernel builds the IPv4 header
  with TTL 255 (``IP_TTL`` / ``IP_MULTICAST_TTL``) and TOS 0xC0 (``IP_TOS``).
  The per-packet source address comes from an ``IP_PKTINFO`` control message
  (``ipi_spec_dst``), so instances with different ``unicast_src_ip`` share the
  socket. IPv4 raw sockets deliver the IP header on receive; it is parsed with
  ``core.codec.parse_ipv4_header`` (total length checked; the header checksum is the kernel's)
  for source, destination and TTL (RFC 5798 §7.1 wants TTL 255). A bad header
  is counted in ``ip_errors[reason]`` and ``recv_errors``, never raised.
* ``IP_MULTICAST_ALL`` is 0: a raw socket would otherwise receive every
  multicast group any socket on the host joined.
* IPv6: the kernel never delivers the IPv6 header to a raw socket, so the
  hop limit comes from the ``IPV6_HOPLIMIT`` control message
  (``IPV6_RECVHOPLIMIT``) and the destination from ``IPV6_PKTINFO``
  (``IPV6_RECVPKTINFO``). The source comes from the socket address, without
  its ``%scope`` suffix.
* ``IPV6_CHECKSUM`` = 6 (offset of the checksum in the VRRPv3 header): the
  kernel **computes** the checksum over the IPv6 pseudo-header on send
  (whatever the encoder put in the field is replaced by the correct value)
  and **verifies** it on receive, silently dropping a packet with a bad
  checksum before we see it. This is what keepalived does. Consequence: a
  decoder that re-checks the IPv6 checksum still succeeds on everything this
  socket delivers, and bad IPv6 checksums are never counted by vipkeeper
  (the kernel drops them; see ``/proc/net/snmp6``).
* ``unicast_ttl``: a send with a TTL other than 255 carries it in an ``IP_TTL``
  (IPv4) or ``IPV6_HOPLIMIT`` (IPv6) control message, so instances with
  different TTLs share the socket.
* IPsec AH (keepalived's ``auth_type AH``, IPv4 only): :meth:`enable_ah` opens a
  second raw socket for IP protocol 51 with ``IP_HDRINCL``, as keepalived does:
  the AH ICV covers the IPv4 header (Identification, length, addresses), so the
  core builds the whole packet (``Transmit.ip_packet``) and the kernel sends it
  as it is (it only fills in the header checksum).  What it receives is
  delivered with its IPv4 header (``Received.ip_header``) for the ICV check.
  Linux hands every protocol-51 packet to raw sockets before (and whether or
  not) its own IPsec stack looks at it, so no SA is needed.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import struct
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address, ip_address

from vipkeeper.core.codec import IPv4Header, parse_ipv4_header
from vipkeeper.core.constants import IPPROTO_AH, IPPROTO_VRRP, VRRP_CHECKSUM_OFFSET, VRRP_TOS, VRRP_TTL
from vipkeeper.core.events import Received
from vipkeeper.errors import DecodeError
from vipkeeper.io import linuxconst as lc

log = logging.getLogger(__name__)

__all__ = ["VrrpSocket"]

_RECV_BUF_BYTES = 65536  # larger than any MTU: MSG_TRUNC never happens
# A plain int: socket.MSG_* are IntFlag members, and `|`/`&` on them go through the enum
# machinery (~1 µs per packet, 15 % of a backup's CPU at 200 instances, cProfile, issue 14).
_TRUNCATED = int(socket.MSG_TRUNC | socket.MSG_CTRUNC)
_SO_RCVBUF_BYTES = 1 << 20  # 200 instances x 10 adverts/s with bursts
_MAX_BATCH = 64  # packets drained per readiness callback
_CACHE_MAX = 1024  # bound on the address caches

_IN_PKTINFO = struct.Struct("=i4s4s")  # struct in_pktinfo   <linux/in.h>
_IN6_PKTINFO = struct.Struct("=16si")  # struct in6_pktinfo  <linux/ipv6.h>
_IP_MREQN = struct.Struct("=4s4si")  # struct ip_mreqn     <linux/in.h>
_IPV6_MREQ = struct.Struct("=16sI")  # struct ipv6_mreq    <linux/in6.h>
_NATIVE_INT = struct.Struct("=i")
_ANC_V6 = socket.CMSG_SPACE(_IN6_PKTINFO.size) + socket.CMSG_SPACE(_NATIVE_INT.size) + 64

IPAddress = IPv4Address | IPv6Address


class VrrpSocket:
    """One raw protocol-112 socket per (interface, family), shared by all instances on it."""

    def __init__(
        self,
        *,
        family: int,
        ifname: str,
        ifindex: int,
        on_packet: Callable[[Received], None],
        loop: asyncio.AbstractEventLoop | None = None,
        on_batch_end: Callable[[], None] | None = None,
    ) -> None:
        if family in (4, socket.AF_INET):
            self.family = 4
        elif family in (6, socket.AF_INET6):
            self.family = 6
        else:
            raise ValueError(f"family must be 4 or 6, not {family!r}")
        self.ifname = ifname
        self.ifindex = ifindex
        self._on_packet = on_packet
        self._on_batch_end = on_batch_end  # after every wake-up's packets (e.g. re-arm a timer once)
        self._loop = loop
        self._sock: socket.socket | None = None
        self._ah_sock: socket.socket | None = None  # IPv4 protocol 51 (IPsec AH), IP_HDRINCL
        self._buf = bytearray(_RECV_BUF_BYTES)
        self._view = memoryview(self._buf)
        self._bufs = [self._view]
        self._groups: set[IPAddress] = set()
        self._addr_cache: dict[object, IPv6Address] = {}  # IPv6 receive path
        self._addr4_cache: dict[bytes, IPv4Address] = {}  # IPv4 receive path
        self._send_memo: tuple[IPAddress | None, IPAddress, list, tuple, int] | None = None
        self._sockaddr_cache: dict[IPAddress, tuple] = {}
        self._cmsg_cache: dict[tuple[IPAddress | None, int], list] = {}
        # counters
        self.sent = 0
        self.received = 0
        self.send_errors = 0
        self.recv_errors = 0  # socket errors, truncated or malformed IP framing
        self.ip_errors: dict[str, int] = {}  # IPv4 header DecodeError reason -> count
        self.callback_errors = 0  # exceptions raised by on_packet (caught here)
        self.last_send_errno = 0

    # -- lifecycle -----------------------------------------------------------
    def open(self) -> None:
        """Create, configure and register the socket with the event loop.

        Call from inside the running loop (or pass ``loop=``). Raises OSError on
        setup failure (no such interface, not root): that is a startup error.
        """
        if self._sock is not None:
            return
        af = socket.AF_INET if self.family == 4 else socket.AF_INET6
        sock = socket.socket(af, socket.SOCK_RAW, IPPROTO_VRRP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.ifname.encode())
            try:  # root may exceed net.core.rmem_max
                sock.setsockopt(socket.SOL_SOCKET, lc.SO_RCVBUFFORCE, _SO_RCVBUF_BYTES)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SO_RCVBUF_BYTES)
            if self.family == 4:
                self._setup_v4(sock)
            else:
                self._setup_v6(sock)
            sock.setblocking(False)
            loop = self._loop or asyncio.get_running_loop()
            self._loop = loop
            loop.add_reader(sock.fileno(), self._on_readable)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        log.debug("vrrp socket open: %s family %d ifindex %d", self.ifname, self.family, self.ifindex)

    def enable_ah(self) -> None:
        """Also send and receive IPsec AH (IPv4 protocol 51): keepalived ``auth_type AH``.

        Idempotent; call after :meth:`open`.  Raises OSError on setup failure, ValueError
        for IPv6 (keepalived has AH for VRRPv2 only, which is IPv4 only).
        """
        if self._ah_sock is not None:
            return
        if self.family != 4:
            raise ValueError("IPsec AH is IPv4 only")
        if self._sock is None or self._loop is None:
            raise OSError(errno.EBADF, "enable_ah() before open()")
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_AH)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.ifname.encode())
            try:
                sock.setsockopt(socket.SOL_SOCKET, lc.SO_RCVBUFFORCE, _SO_RCVBUF_BYTES)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SO_RCVBUF_BYTES)
            self._setup_v4(sock)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
            for group in self._groups:
                level, mreq = self._mreq(group)
                sock.setsockopt(level, socket.IP_ADD_MEMBERSHIP, mreq)
            sock.setblocking(False)
            self._loop.add_reader(sock.fileno(), self._on_readable_ah)
        except BaseException:
            sock.close()
            raise
        self._ah_sock = sock
        log.debug("IPsec AH socket open: %s ifindex %d", self.ifname, self.ifindex)

    @property
    def ah_enabled(self) -> bool:
        return self._ah_sock is not None

    def _setup_v4(self, sock: socket.socket) -> None:
        ip = socket.IPPROTO_IP
        sock.setsockopt(ip, socket.IP_TTL, VRRP_TTL)
        sock.setsockopt(ip, socket.IP_MULTICAST_TTL, VRRP_TTL)
        sock.setsockopt(ip, socket.IP_MULTICAST_LOOP, 0)
        sock.setsockopt(ip, lc.IP_MULTICAST_ALL, 0)
        sock.setsockopt(ip, socket.IP_TOS, VRRP_TOS)
        sock.setsockopt(ip, socket.IP_MULTICAST_IF, _IP_MREQN.pack(b"\0" * 4, b"\0" * 4, self.ifindex))

    def _setup_v6(self, sock: socket.socket) -> None:
        ip6 = socket.IPPROTO_IPV6
        sock.setsockopt(ip6, socket.IPV6_UNICAST_HOPS, VRRP_TTL)
        sock.setsockopt(ip6, socket.IPV6_MULTICAST_HOPS, VRRP_TTL)
        sock.setsockopt(ip6, socket.IPV6_MULTICAST_LOOP, 0)
        try:
            sock.setsockopt(ip6, lc.IPV6_MULTICAST_ALL, 0)
        except OSError:  # kernels before 4.20: raw IPv6 already filters on membership
            pass
        sock.setsockopt(ip6, lc.IPV6_TCLASS, VRRP_TOS)
        sock.setsockopt(ip6, socket.IPV6_MULTICAST_IF, self.ifindex)
        sock.setsockopt(ip6, lc.IPV6_RECVHOPLIMIT, 1)
        sock.setsockopt(ip6, lc.IPV6_RECVPKTINFO, 1)
        sock.setsockopt(ip6, lc.IPV6_CHECKSUM, VRRP_CHECKSUM_OFFSET)

    def close(self) -> None:
        ah, self._ah_sock = self._ah_sock, None
        if ah is not None:
            try:
                if self._loop is not None and not self._loop.is_closed():
                    self._loop.remove_reader(ah.fileno())
            finally:
                ah.close()
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(sock.fileno())
        finally:
            sock.close()
            self._groups.clear()

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def fileno(self) -> int:
        return -1 if self._sock is None else self._sock.fileno()

    def __enter__(self) -> VrrpSocket:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- multicast membership --------------------------------------------------
    def _mreq(self, group: IPAddress) -> tuple[int, bytes]:
        if self.family == 4:
            return socket.IPPROTO_IP, _IP_MREQN.pack(group.packed, b"\0" * 4, self.ifindex)
        return socket.IPPROTO_IPV6, _IPV6_MREQ.pack(group.packed, self.ifindex)

    def join(self, group: IPAddress | str) -> bool:
        """Join ``group`` on this interface. Idempotent; False (logged) on error."""
        group = ip_address(group)
        if self._sock is None or group.version != self.family:
            return False
        if group in self._groups:
            return True
        level, mreq = self._mreq(group)
        opt = socket.IP_ADD_MEMBERSHIP if self.family == 4 else socket.IPV6_JOIN_GROUP
        for sock in (self._sock, self._ah_sock):
            if sock is None:
                continue
            try:
                sock.setsockopt(level, opt, mreq)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:  # already a member: fine
                    log.warning("join %s on %s failed: %s", group, self.ifname, exc)
                    return False
        self._groups.add(group)
        return True

    # -- send ----------------------------------------------------------------
    def _sockaddr(self, dst: IPAddress) -> tuple:
        sa = self._sockaddr_cache.get(dst)
        if sa is None:
            if len(self._sockaddr_cache) >= _CACHE_MAX:
                self._sockaddr_cache.clear()
            # scope id = our ifindex: required for ff02::/fe80:: and ignored for global
            sa = (str(dst), 0) if self.family == 4 else (str(dst), 0, 0, self.ifindex)
            self._sockaddr_cache[dst] = sa
        return sa

    def _cmsgs(self, src: IPAddress | None, ttl: int = VRRP_TTL) -> list:
        key = (src, ttl)
        cm = self._cmsg_cache.get(key)
        if cm is None:
            if len(self._cmsg_cache) >= _CACHE_MAX:
                self._cmsg_cache.clear()
            cm = []
            if src is not None and self.family == 4:
                cm.append((socket.IPPROTO_IP, lc.IP_PKTINFO, _IN_PKTINFO.pack(self.ifindex, src.packed, b"\0" * 4)))
            elif src is not None:
                cm.append((socket.IPPROTO_IPV6, lc.IPV6_PKTINFO, _IN6_PKTINFO.pack(src.packed, self.ifindex)))
            if ttl != VRRP_TTL:  # unicast_ttl
                if self.family == 4:
                    cm.append((socket.IPPROTO_IP, socket.IP_TTL, _NATIVE_INT.pack(ttl)))
                else:
                    cm.append((socket.IPPROTO_IPV6, lc.IPV6_HOPLIMIT, _NATIVE_INT.pack(ttl)))
            self._cmsg_cache[key] = cm
        return cm

    def send(
        self,
        payload: bytes,
        dst: IPAddress | str,
        src: IPAddress | str | None = None,
        *,
        ttl: int = VRRP_TTL,
        ip_packet: bool = False,
    ) -> bool:
        """Send one VRRP message to ``dst`` (group or peer) from ``src`` (None: kernel's choice)
        with IP TTL / hop limit ``ttl``.  ``ip_packet``: ``payload`` is a whole IPv4 packet
        (IPsec AH), sent as it is on the protocol-51 socket.

        Never raises: errors are logged at debug, counted in ``send_errors`` and
        reported as False.
        """
        sock = self._ah_sock if ip_packet else self._sock
        if sock is None:
            self.send_errors += 1
            self.last_send_errno = errno.EBADF
            return False
        try:
            if isinstance(dst, str):
                dst = ip_address(dst)
            if isinstance(src, str):
                src = ip_address(src)
            if ip_packet:
                sock.sendto(payload, self._sockaddr(dst))
            else:
                # One-entry memo before the caches: a master sends from the same source to the
                # same destination again and again, and an ipaddress hash (hex of the int) costs
                # more than an equality test.
                memo = self._send_memo
                if (
                    memo is not None
                    and memo[4] == ttl
                    and (memo[0] is src or memo[0] == src)
                    and (memo[1] is dst or memo[1] == dst)
                ):
                    cm, sa = memo[2], memo[3]
                else:
                    cm, sa = self._cmsgs(src, ttl), self._sockaddr(dst)
                    self._send_memo = (src, dst, cm, sa, ttl)
                sock.sendmsg((payload,), cm, 0, sa)
        except OSError as exc:
            self.send_errors += 1
            self.last_send_errno = exc.errno or 0
            log.debug("send %s -> %s on %s failed: %s", src, dst, self.ifname, exc)
            return False
        except (ValueError, TypeError, AttributeError) as exc:  # bad address argument
            self.send_errors += 1
            log.debug("send %s -> %s on %s: bad arguments: %s", src, dst, self.ifname, exc)
            return False
        self.sent += 1
        return True

    # -- receive (hot path) -----------------------------------------------------
    def _on_readable(self) -> None:
        try:
            if self.family == 4:
                self._drain(self._sock, self._decode_v4, 0)
            else:
                self._drain(self._sock, self._decode_v6, _ANC_V6)
        finally:
            self._batch_end()

    def _on_readable_ah(self) -> None:
        try:
            self._drain(self._ah_sock, self._decode_ah, 0)
        finally:
            self._batch_end()

    def _batch_end(self) -> None:
        if self._on_batch_end is not None:
            try:
                self._on_batch_end()
            except Exception:
                self.callback_errors += 1
                log.exception("on_batch_end callback failed on %s", self.ifname)

    def _drain(self, sock: socket.socket | None, decode: Callable[..., Received | None], ancsize: int) -> None:
        if sock is None:
            return
        bufs = self._bufs
        for _ in range(_MAX_BATCH):
            try:
                n, anc, flags, addr = sock.recvmsg_into(bufs, ancsize)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.recv_errors += 1
                log.debug("recv on %s: %s", self.ifname, exc)
                return
            if flags & _TRUNCATED:
                self.recv_errors += 1
                continue
            try:
                pkt = decode(n, anc, addr)
            except Exception:  # malformed framing must never escape
                self.recv_errors += 1
                log.debug("malformed packet on %s", self.ifname, exc_info=True)
                continue
            if pkt is None:
                self.recv_errors += 1
                continue
            self.received += 1
            try:
                self._on_packet(pkt)
            except Exception:
                self.callback_errors += 1
                log.exception("on_packet callback failed on %s", self.ifname)

    def _parse_v4(self, n: int, proto: int) -> IPv4Header | None:
        """The IPv4 header of what the raw socket delivered, if it is a ``proto`` packet."""
        try:
            cache = self._addr4_cache
            if len(cache) >= _CACHE_MAX:
                cache.clear()
            # the kernel has verified the header checksum (ip_rcv_core): not again in Python
            hdr = parse_ipv4_header(self._view[:n], verify_checksum=False, addresses=cache)
        except DecodeError as exc:
            self.ip_errors[exc.reason] = self.ip_errors.get(exc.reason, 0) + 1
            log.debug("bad IPv4 header on %s: %s", self.ifname, exc)
            return None
        return hdr if hdr.proto == proto else None

    def _decode_v4(self, n: int, anc: list, addr: object) -> Received | None:
        hdr = self._parse_v4(n, IPPROTO_VRRP)
        if hdr is None:
            return None
        return Received(4, hdr.src, hdr.dst, hdr.ttl, self.ifindex, hdr.payload)

    def _decode_ah(self, n: int, anc: list, addr: object) -> Received | None:
        hdr = self._parse_v4(n, IPPROTO_AH)
        if hdr is None:
            return None
        header = bytes(self._view[: n - len(hdr.payload)])  # what the AH ICV covers
        return Received(4, hdr.src, hdr.dst, hdr.ttl, self.ifindex, hdr.payload, header)

    def _decode_v6(self, n: int, anc: list, addr: tuple) -> Received | None:
        ttl = -1
        dst = None
        ifindex = self.ifindex
        cache = self._addr_cache
        for level, ctype, data in anc:
            if level != socket.IPPROTO_IPV6:
                continue
            if ctype == lc.IPV6_HOPLIMIT:
                ttl = _NATIVE_INT.unpack_from(data)[0]
            elif ctype == lc.IPV6_PKTINFO:
                raw = data[:16]
                dst = cache.get(raw)
                if dst is None:
                    if len(cache) >= _CACHE_MAX:
                        cache.clear()
                    dst = cache[raw] = IPv6Address(raw)
                ifindex = _NATIVE_INT.unpack_from(data, 16)[0]
        if ttl < 0 or dst is None:
            return None
        host = addr[0]
        src = cache.get(host)
        if src is None:
            if len(cache) >= _CACHE_MAX:
                cache.clear()
            src = cache[host] = IPv6Address(host.partition("%")[0])
        return Received(6, src, dst, ttl, ifindex, bytes(self._view[:n]))
