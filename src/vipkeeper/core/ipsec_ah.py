"""VRRPv2 ``auth_type AH``: the IPsec Authentication Header around an advert, as keepalived
sends and checks it.  Pure: bytes in, bytes out; the sequence state is a plain object.

RFC 2338 §5.3.6 (VRRPv2 "IP Authentication Header") with RFC 2402 (AH) and RFC 2403
(HMAC-MD5-96).  The packet is ``IPv4 header (protocol 51) | AH | VRRP``::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | Next Header=112| Payload Len=4 |          RESERVED = 0         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |           Security Parameters Index (SPI) = IPv4 source       |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                    Sequence Number Field                      |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |              Authentication Data (ICV, 96 bits)               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

keepalived's choices (keepalived/include/vrrp_ipsecah.h, keepalived/vrrp/vrrp.c
``vrrp_build_ipsecah``, ``vrrp_update_pkt``, ``vrrp_in_chk_ipsecah``, v2.2.7), all followed here:

* a 24-byte header, Payload Len 4 (RFC 2402 §2.2: 32-bit words minus 2); Next Header 112;
* SPI = the packet's IPv4 source address (no SA negotiation in a multicast group);
* ICV = the first 12 bytes of HMAC-MD5 (RFC 2104) keyed with the 8-byte ``auth_pass``
  (NUL padded, as in PASS mode: always 8 key bytes), over the IPv4 header with TOS,
  Flags/Fragment Offset and Header Checksum zeroed — and TTL zeroed only for unicast
  instances (a multicast advert's TTL 255 is covered) —, then the AH header with its ICV
  zeroed, then the VRRP message.  The Identification field is covered (keepalived numbers
  it 1, 2, ... per instance and sends with IP_HDRINCL, so the bytes it signed are sent);
* the VRRP header says Auth Type 2 and its 8 Authentication Data bytes are zero (they are
  covered by the VRRP checksum as usual);
* one sequence counter per instance, for sending **and** receiving: each advert round takes
  ``counter + 1`` (the first advert is 1; one number for all unicast peers of a round); an
  accepted AH packet sets the counter to its sequence number, one not above the counter is a
  replay (dropped, keepalived counts it as an authentication failure).  So a BACKUP follows
  the master's numbering and, on taking over, continues it; a restarted router starts at 0
  and learns the numbering from the master's next advert (keepalived therefore refuses an
  initial ``state MASTER`` with AH unless priority 255);
* a MASTER that accepts a lower-priority advert sets the counter to its sequence + 1;
* at 0xFFFFFFFE the counter stops ("cycled"; keepalived keeps sending that number, peers
  drop it as a replay and one takes over); becoming MASTER with a cycled counter restarts
  it at 0.
"""

from __future__ import annotations

import struct
from _operator import _compare_digest  # hmac.compare_digest, without loading hashlib
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import NamedTuple

from vipkeeper.core.codec import build_ipv4_header
from vipkeeper.core.constants import IPPROTO_AH, IPPROTO_VRRP
from vipkeeper.errors import DecodeError

__all__ = [
    "AH_HEADER_LEN",
    "AhHeader",
    "AhSequence",
    "icv",
    "parse",
    "seal",
    "verify",
]

AH_ICV_LEN = 12  # HMAC-MD5-96, RFC 2403 §2 (keepalived HMAC_MD5_TRUNC)
AH_HEADER_LEN = 12 + AH_ICV_LEN  # keepalived sizeof(ipsec_ah_t)
AH_PAYLOAD_LEN = AH_HEADER_LEN // 4 - 2  # RFC 2402 §2.2 (keepalived IPSEC_AH_PLEN = 4)
SEQ_CYCLED = 0xFFFFFFFD  # keepalived: past this the counter "cycles" (stops)
_AH = struct.Struct("!BBHII")  # next header, payload len, reserved, SPI, sequence number
_ZERO_ICV = bytes(AH_ICV_LEN)


class AhHeader(NamedTuple):
    next_header: int
    payload_len: int
    spi: int
    seq: int
    icv: bytes


def _mutable_zeroed(ip_header: bytes | bytearray | memoryview, zero_ttl: bool) -> bytes:
    """The IPv4 header as the ICV covers it (RFC 2402 §3.3.3.1.1.1 as keepalived applies it):
    TOS, Flags + Fragment Offset and Header Checksum zeroed; TTL too when ``zero_ttl``;
    options, if any, kept as they are."""
    h = bytearray(ip_header)
    h[1] = 0  # TOS
    h[6:8] = b"\0\0"  # flags, fragment offset
    h[10:12] = b"\0\0"  # header checksum
    if zero_ttl:
        h[8] = 0
    return bytes(h)


def icv(key: bytes, ip_header: bytes | bytearray | memoryview, ah_and_vrrp: bytes, *, zero_ttl: bool) -> bytes:
    """The 12-byte ICV of a packet: ``ah_and_vrrp`` is the AH header (any ICV bytes in it are
    replaced by zeros) followed by the VRRP message; ``key`` the 8-byte NUL-padded auth_pass."""
    import hmac  # here: hashlib and libcrypto load only for instances with auth_type AH

    body = ah_and_vrrp[:12] + _ZERO_ICV + ah_and_vrrp[AH_HEADER_LEN:]
    mac = hmac.new(key, _mutable_zeroed(ip_header, zero_ttl), "md5")
    mac.update(body)
    return mac.digest()[:AH_ICV_LEN]


def seal(
    vrrp: bytes,
    *,
    src: IPv4Address,
    dst: IPv4Address,
    key: bytes,
    seq: int,
    ident: int,
    ttl: int,
    unicast: bool,
    tos: int = 0xC0,
) -> bytes:
    """The whole IPv4 packet (header, AH, ``vrrp``) as keepalived sends it, for IP_HDRINCL."""
    ip = build_ipv4_header(src, dst, AH_HEADER_LEN + len(vrrp), ttl=ttl, tos=tos, ident=ident, proto=IPPROTO_AH)
    ah = _AH.pack(IPPROTO_VRRP, AH_PAYLOAD_LEN, 0, int.from_bytes(src.packed, "big"), seq) + _ZERO_ICV
    tail = ah + vrrp
    sig = icv(key, ip, tail, zero_ttl=unicast)
    return ip + ah[:12] + sig + vrrp


def parse(payload: bytes | bytearray | memoryview) -> tuple[AhHeader, bytes]:
    """Split what follows the IPv4 header of a protocol-51 packet into the AH header and the
    VRRP message.  Raises DecodeError ``bad_ah``: too short, or not an AH keepalived sends
    (Payload Len other than 4, Next Header other than VRRP: keepalived ignores those)."""
    if len(payload) < AH_HEADER_LEN:
        raise DecodeError("bad_ah", f"{len(payload)} bytes, shorter than the {AH_HEADER_LEN}-byte AH header")
    nh, plen, _rsvd, spi, seq = _AH.unpack_from(payload, 0)
    if nh != IPPROTO_VRRP:
        raise DecodeError("bad_ah", f"AH next header {nh}, expected {IPPROTO_VRRP} (VRRP)")
    if plen != AH_PAYLOAD_LEN:
        raise DecodeError("bad_ah", f"AH payload length {plen}, expected {AH_PAYLOAD_LEN} (HMAC-MD5-96)")
    return AhHeader(nh, plen, spi, seq, bytes(payload[12:AH_HEADER_LEN])), bytes(payload[AH_HEADER_LEN:])


def verify(
    key: bytes, ip_header: bytes, payload: bytes, ah: AhHeader, src: IPv4Address, *, unicast: bool
) -> str | None:
    """keepalived vrrp_in_chk_ipsecah() without the sequence check: None if the ICV and the
    SPI are right, else why not."""
    if len(ip_header) < 20:
        return f"IPv4 header of {len(ip_header)} bytes"
    want = icv(key, ip_header, payload, zero_ttl=unicast)
    if not _compare_digest(want, ah.icv):
        return "IPsec AH HMAC-MD5 does not verify (wrong auth_pass, or a field changed on the way)"
    if ah.spi != int.from_bytes(src.packed, "big"):
        return f"IPsec AH SPI {IPv4Address(ah.spi)} is not the source address"
    return None


@dataclass(slots=True)
class AhSequence:
    """One instance's AH sequence counter (keepalived ``seq_counter_t``) and IP
    Identification counter (keepalived ``ip_id``)."""

    seq: int = 0
    cycled: bool = False
    ip_id: int = 0

    def next_round(self) -> tuple[int, int]:
        """(sequence number, IP identification) for the next advert round (vrrp_update_pkt)."""
        if self.seq > SEQ_CYCLED:
            self.cycled = True
        else:
            self.seq += 1
        self.ip_id = (self.ip_id + 1) & 0xFFFF or 1  # 0 would ask the kernel to choose
        return self.seq, self.ip_id

    def accept(self, seq: int) -> str | None:
        """The replay check of a packet whose ICV verified: None (and the counter moves to
        ``seq``) if ``seq`` is new, else why it is a replay."""
        if seq > self.seq:
            self.seq = seq
            return None
        return f"IPsec AH sequence number {seq} already seen (ours {self.seq}): replay"

    def master_heard_lower(self, seq: int) -> None:
        """A MASTER accepted a lower-priority advert (keepalived vrrp_state_master_rx): a
        uint32 there, so 0xFFFFFFFF + 1 is 0."""
        self.seq = (seq + 1) & 0xFFFFFFFF
        self.cycled = False

    def becoming_master(self) -> None:
        """keepalived vrrp_state_goto_master(): a cycled counter starts again."""
        if self.cycled:
            self.cycled = False
            self.seq = 0

    def heard_as_backup(self) -> None:
        """A BACKUP accepted a packet (keepalived clears the cycle flag)."""
        self.cycled = False
