"""keepalived 2.4's ``auth_hmac``: an HMAC-SHA256 trailer after the VRRP advertisement.

Sans-IO: no clock is read; the wall clock (UTC, microseconds) is always an argument.
Facts from keepalived 2.4.3 (``keepalived/vrrp/vrrp_auth_hmac.c``, ``include/vrrp_auth_hmac.h``,
``vrrp.c`` vrrp_check_packet / vrrp_auth_ext_verify, and the article
``www/docs/articles/vrrp-hmac-authentication.md``; the IETF draft
``draft-cassen-vrrp-auth-hmac``).  Every line here is ours.

The trailer (28 bytes) follows the whole VRRP message (VRRPv2: after its 8 bytes of
authentication data), for VRRPv2 and v3, IPv4 and IPv6::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  Ext Type = 1 |    Key ID     |        Reserved (0)           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                  Seconds (UTC, since the epoch)               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |   Sub-seconds (1/65536 s)     |          Counter              |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |              HMAC-SHA256, truncated to 128 bits               |
    |                          (16 bytes)                           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Seconds, sub-seconds and counter form one 64-bit sequence number, compared with RFC 1982
serial arithmetic.  The HMAC (RFC 2104, SHA-256, key 32..64 bytes) is computed over:

* a 20-byte pseudo-header: IP version (4 or 6), VRRP version, VRID, 0, then the packet's
  IP source address (4 bytes and 12 zeros, or 16 bytes);
* the VRRP message with its checksum field read as zero (the IPv6 checksum is written by the
  kernel, and the IPv4 unicast copies differ by destination, so neither is covered);
* the first 12 bytes of the trailer, then 16 zero bytes in place of the HMAC.

The IP header is not covered.  The VRRP checksum does not cover the trailer over IPv4
(it stays the RFC's, over the message); over IPv6 the kernel's checksum (IPV6_CHECKSUM)
covers the whole payload, trailer included.
"""

from __future__ import annotations

import ipaddress
import struct
from _operator import _compare_digest  # hmac.compare_digest, without loading hashlib
from dataclasses import dataclass, field
from typing import Final, Literal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

__all__ = [
    "EXT_TYPE_SHA256",
    "HMAC_LEN",
    "KEY_MAX",
    "KEY_MIN",
    "MODES",
    "TRAILER_LEN",
    "WINDOW_MAX_S",
    "WINDOW_MIN_S",
    "HmacParams",
    "HmacState",
    "Verdict",
    "compute_hmac",
    "default_window_s",
    "pseudo_header",
    "sequence_at",
]

Mode = Literal["receive-only", "permissive", "enforce"]
MODES: Final = ("receive-only", "permissive", "enforce")  # vrrp_auth_hmac_mode_t

EXT_TYPE_SHA256: Final = 1  # VRRP_AUTH_HMAC_TYPE_SHA256
HMAC_LEN: Final = 16  # truncated HMAC
TRAILER_LEN: Final = 28  # sizeof(vrrp_auth_ext_t)
PREFIX_LEN: Final = TRAILER_LEN - HMAC_LEN  # ext_type, key_id, reserved, sec, subsec, ctr
PSEUDO_LEN: Final = 20
KEY_MIN: Final = 32  # VRRP_AUTH_HMAC_KEY_MIN
KEY_MAX: Final = 64  # VRRP_AUTH_HMAC_KEY_MAX
WINDOW_MIN_S: Final = 1
WINDOW_MAX_S: Final = 300
WINDOW_FLOOR_S: Final = 5  # the derived window's floor
MCAST_SENDERS: Final = 4  # VRRP_AUTH_HMAC_MCAST_SENDERS: replay slots per multicast instance

_PREFIX = struct.Struct("!BBHIHH")
_ZERO_HMAC = bytes(HMAC_LEN)
_SEQ_MOD = 1 << 64
_US_PER_S = 1_000_000


@dataclass(frozen=True, slots=True)
class HmacParams:
    """One instance's ``auth_hmac { ... }`` block, completed."""

    keys: tuple[tuple[int, bytes], ...]  # (key id 1..255, key 32..64 bytes)
    active_key: int
    mode: Mode = "enforce"
    anti_replay_time: bool = True  # ``anti_replay time`` (False: ``monotonic``)
    time_window_s: int = WINDOW_FLOOR_S  # only used with ``anti_replay time``

    @property
    def signs(self) -> bool:
        """receive-only sends no trailer (vrrp_auth_hmac_trailer_len)."""
        return self.mode != "receive-only"

    @property
    def requires_trailer(self) -> bool:
        return self.mode == "enforce"

    def key(self, key_id: int) -> bytes | None:
        for kid, data in self.keys:
            if kid == key_id:
                return data
        return None


def default_window_s(advert_int_cs: int) -> int:
    """keepalived vrrp_complete_instance: 3 x the advert interval in whole seconds, within
    5..300 s."""
    return min(max(3 * (advert_int_cs // 100), WINDOW_FLOOR_S), WINDOW_MAX_S)


def pseudo_header(family: int, version: int, vrid: int, src: IPAddress) -> bytes:
    """The 20 bytes bound into the HMAC (vrrp_auth_hmac.c build_pseudo)."""
    return bytes((family, version, vrid, 0)) + src.packed.ljust(16, b"\0")


def compute_hmac(key: bytes, pseudo: bytes, message: bytes | bytearray | memoryview, prefix: bytes) -> bytes:
    """The 16 HMAC bytes for ``message`` (the VRRP message, any checksum) and the trailer's
    first 12 bytes ``prefix``."""
    # here: hashlib and libcrypto (3.7 MB) load only for instances with auth_hmac
    import hashlib
    import hmac

    m = hmac.new(key, pseudo, hashlib.sha256)
    m.update(message[:6])
    m.update(b"\0\0")  # the checksum field, read as zero
    m.update(message[8:])
    m.update(prefix)
    m.update(_ZERO_HMAC)
    return m.digest()[:HMAC_LEN]


def sequence_at(wall_us: int) -> int:
    """The clock part of a sequence number: seconds << 32 | (1/65536 s) << 16, counter 0
    (vrrp_auth_hmac.c clock_seq)."""
    sec, frac_us = divmod(wall_us, _US_PER_S)
    subsec = (frac_us << 16) // _US_PER_S
    return ((sec & 0xFFFFFFFF) << 32) | (subsec << 16)


def _after(a: int, b: int) -> bool:
    """RFC 1982 serial arithmetic over 64 bits: a is after b."""
    d = (a - b) % _SEQ_MOD
    return 0 < d < (1 << 63)


def _delta_s(now_s: int, then_s: int) -> int:
    """now - then over 32-bit seconds, as keepalived's int32 cast."""
    d = (now_s - then_s) & 0xFFFFFFFF
    return d - (1 << 32) if d >= 1 << 31 else d


@dataclass(frozen=True, slots=True)
class Verdict:
    """What :meth:`HmacState.verify` found: ``reason`` None means accepted."""

    reason: str | None
    detail: str = ""
    skew_s: int = 0  # receiver's seconds minus the trailer's (time mode)
    skew_warning: bool = False  # accepted, but the skew passed half the window


@dataclass(slots=True)
class _Replay:
    seq: int
    last_used: int = 0


@dataclass(slots=True)
class HmacState:
    """Send sequence and anti-replay marks of one instance (survives nothing: keepalived
    persists no state either)."""

    params: HmacParams
    send_seq: int = 0
    unicast: dict[IPAddress, int] = field(default_factory=dict)  # peer -> highest sequence
    mcast: dict[IPAddress, _Replay] = field(default_factory=dict)  # at most MCAST_SENDERS
    _lru: int = 0

    # ------------------------------------------------------------ send

    def next_sequence(self, wall_us: int) -> int:
        """The larger of the clock and the last sequence plus one (vrrp_auth_hmac.c next_seq).
        With ``anti_replay time`` a sequence more than the window ahead of the clock (the clock
        stepped back) restarts from the clock."""
        clk = sequence_at(wall_us)
        p = self.params
        if _after(clk, self.send_seq):
            self.send_seq = clk
        elif p.anti_replay_time and _delta_s(self.send_seq >> 32, clk >> 32) > p.time_window_s:
            self.send_seq = clk
        else:
            self.send_seq = (self.send_seq + 1) % _SEQ_MOD
        return self.send_seq

    def sign(self, message: bytes | bytearray, pseudo: bytes, wall_us: int) -> bytes:
        """The 28-byte trailer for ``message`` (the VRRP message; its checksum is ignored)."""
        p = self.params
        seq = self.next_sequence(wall_us)
        prefix = _PREFIX.pack(EXT_TYPE_SHA256, p.active_key, 0, seq >> 32, (seq >> 16) & 0xFFFF, seq & 0xFFFF)
        key = p.key(p.active_key)
        if key is None:  # completion refuses this; a zero HMAC is rejected by every receiver
            return prefix + _ZERO_HMAC
        return prefix + compute_hmac(key, pseudo, message, prefix)

    # ------------------------------------------------------------ receive

    def verify(
        self,
        message: bytes | bytearray | memoryview,
        trailer: bytes | bytearray | memoryview,
        pseudo: bytes,
        src: IPAddress,
        wall_us: int,
        *,
        unicast: bool,
    ) -> Verdict:
        """Check a received trailer, in keepalived's order (vrrp_auth_hmac_check): malformed,
        stale (before the HMAC, so replayed captures cost no digest), unknown key, HMAC,
        replay (the high-water mark moves only after the HMAC verified)."""
        p = self.params
        ext_type, key_id, reserved, sec, subsec, ctr = _PREFIX.unpack_from(trailer, 0)
        if ext_type != EXT_TYPE_SHA256 or reserved != 0:
            return Verdict("auth_malformed", f"ext type {ext_type}, reserved {reserved}")
        seq = (sec << 32) | (subsec << 16) | ctr
        skew = 0
        if p.anti_replay_time:
            skew = _delta_s(wall_us // _US_PER_S, sec)
            if abs(skew) > p.time_window_s:
                return Verdict("auth_stale", f"clock skew {skew} s exceeds the window of {p.time_window_s} s", skew)
        key = p.key(key_id)
        if key is None:
            return Verdict("auth_unknown_key", f"key id {key_id}", skew)
        prefix = bytes(trailer[:PREFIX_LEN])
        if not _compare_digest(compute_hmac(key, pseudo, message, prefix), bytes(trailer[PREFIX_LEN:TRAILER_LEN])):
            return Verdict("auth_bad_hmac", f"key id {key_id}", skew)
        if not self._fresh(src, seq, wall_us, unicast):
            return Verdict("auth_replay", f"sequence {seq:#018x} not after the last accepted", skew)
        return Verdict(None, "", skew, p.anti_replay_time and abs(skew) > p.time_window_s // 2)

    def _fresh(self, src: IPAddress, seq: int, wall_us: int, unicast: bool) -> bool:
        """vrrp_auth_hmac.c replay_ok: strictly growing per sender; with ``anti_replay time``
        a mark older (or newer) than the window is forgotten, so a sender whose clock was
        stepped recovers."""
        p = self.params
        if unicast:
            last: int | None = self.unicast.get(src)
        else:
            slot = self.mcast.get(src)
            last = None if slot is None else slot.seq
        if last is not None and p.anti_replay_time:
            if abs(_delta_s(wall_us // _US_PER_S, last >> 32)) > p.time_window_s:
                last = None
        if last is not None and not _after(seq, last):
            if not unicast:
                self._touch(src, last)
            return False
        if unicast:
            self.unicast[src] = seq
        else:
            self._touch(src, seq)
        return True

    def _touch(self, src: IPAddress, seq: int) -> None:
        """The multicast table: 4 senders, the least recently used one evicted."""
        self._lru += 1
        if src not in self.mcast and len(self.mcast) >= MCAST_SENDERS:
            victim = min(self.mcast, key=lambda a: self.mcast[a].last_used)
            del self.mcast[victim]
        self.mcast[src] = _Replay(seq, self._lru)
