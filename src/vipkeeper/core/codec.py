"""VRRP advertisement codec: bytes <-> :class:`Advertisement`, and the IPv4 header around it.

Pure: no sockets, no clock.  The address family is always given by the caller (it is the
family of the socket the packet came from), never guessed from a length.

VRRPv2, RFC 3768 §5.1 (IPv4 only)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |   Auth Type   |   Adver Int   |          Checksum             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                         IP Address (1)                        |
    |                            .....                              |
    |                         IP Address (n)                        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                     Authentication Data (1)                   |
    |                     Authentication Data (2)                   |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

    Adver Int is in seconds.  Checksum: RFC 1071 over the whole VRRP message (authentication
    data included), no pseudo-header (RFC 3768 §5.3.8).  Auth Type 1 carries an 8-byte
    NUL-padded password in Authentication Data (RFC 2338 §5.3.6, keepalived "PASS"); Auth
    Type 2 (AH) puts an IPsec AH header between IP and VRRP (IP protocol 51).

VRRPv3, RFC 5798 §5.1 (IPv4 and IPv6)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |(rsvd) |     Max Adver Int     |          Checksum             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                       IPvX Address(es)                        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

    Max Adver Int is 12 bits of centiseconds; rsvd is sent as zero and ignored on receipt
    (RFC 5798 §5.2.6).  Checksum (RFC 5798 §5.2.8): RFC 1071 over the VRRP message plus a
    pseudo-header (IPv6: RFC 8200 §8.1, next header 112).  For IPv4 keepalived also includes
    the IPv4 pseudo-header (src, dst, 0, 112, VRRP length) with the packet's real destination,
    the peer's address when unicast (keepalived <= 1.3.6, and 2.x's ``old_unicast_checksum``,
    used 224.0.0.18 there instead: pass ``dst=VRRP_GROUP_V4`` to speak that dialect).  Some
    implementations compute the IPv4 VRRPv3 checksum like v2, without pseudo-header
    (keepalived >= 2.3 ``v3_checksum_as_v2``): ``v3_checksum_pseudo=False``.  The IPv6
    checksum always has the pseudo-header; keepalived lets the kernel compute it
    (IPV6_CHECKSUM at offset 6) but :func:`encode` fills it in anyway.

Receive validation (:func:`decode`) follows RFC 3768 §7.1 / RFC 5798 §7.1, one
:class:`~vipkeeper.errors.DecodeError` reason per check, in this order:

    ``bad_length``    shorter than the fixed header (8 bytes; 16 for v2 with its auth data)
    ``bad_version``   version is neither 2 nor 3
    ``bad_family``    VRRPv2 in an IPv6 packet (v2 is IPv4 only)
    ``bad_type``      type is not 1 (advertisement), RFC 3768 §5.3.2 / RFC 5798 §5.2.2
    ``addr_count``    shorter than "Count IPvX Addrs" needs (truncated)
    ``trailing_bytes`` longer than the addresses need, and not by a keepalived 2.4 ``auth_hmac``
                      trailer (28 bytes, ``core.auth_hmac``): exactly 28 more bytes are the
                      trailer (``Advertisement.trailer``), never addresses
    ``bad_checksum``  RFC 3768 §5.3.8 / RFC 5798 §5.2.8
    ``bad_vrid``      VRID 0 (RFC 5798 §5.2.3: 1-255)
    ``bad_auth_type`` v2 auth type unknown, or AH when the caller does not handle AH
    ``bad_advert_int`` advertisement interval 0

The checks that need local configuration (VRID configured, TTL 255, authentication, addresses
and interval match) belong to the caller: ``core.node`` (VRID) and ``core.router``
(``VrrpRouter._check_advert``, the rest).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import NamedTuple, TypeAlias

from vipkeeper.core.auth_hmac import TRAILER_LEN as AUTH_HMAC_TRAILER_LEN
from vipkeeper.core.checksum import internet_checksum, ones_sum, pseudo_header_v4, pseudo_header_v6
from vipkeeper.core.constants import (
    ADVERT_INT_V2_MAX_S,
    ADVERT_INT_V3_MAX_CS,
    AUTH_AH,
    AUTH_DATA_LEN,
    AUTH_NONE,
    AUTH_PASS,
    CS_PER_S,
    FAMILY_V4,
    FAMILY_V6,
    IPPROTO_VRRP,
    IPV4_ADDR_LEN,
    IPV6_ADDR_LEN,
    MAX_ADDRESSES,
    VRID_MAX,
    VRID_MIN,
    VRRP_HEADER_LEN,
    VRRP_TOS,
    VRRP_TTL,
    VRRP_TYPE_ADVERTISEMENT,
    VRRP_VERSION_2,
    VRRP_VERSION_3,
)
from vipkeeper.errors import DecodeError

__all__ = [
    "Address",
    "Advertisement",
    "AdvertEncoder",
    "append_trailer",
    "IPv4Header",
    "build_ipv4_header",
    "decode",
    "decode_ipv4_packet",
    "encode",
    "pass_auth_data",
    "parse_ipv4_header",
]

Address: TypeAlias = IPv4Address | IPv6Address

_HDR = struct.Struct("!BBBBHH")  # vers_type, vrid, priority, count, (auth_type,adver_int | rsvd_maxadvint), checksum
_V2_AUTH_ZERO = bytes(AUTH_DATA_LEN)
_V3_ADVERT_MASK = 0x0FFF  # RFC 5798 §5.2.6 / §5.2.7: 4 reserved bits, 12 bits of interval


@dataclass(frozen=True, slots=True)
class Advertisement:
    """One VRRP advertisement, independent of the IP header that carried it."""

    version: int  # 2 or 3
    vrid: int  # 1..255
    priority: int  # 0..255
    addresses: tuple[Address, ...]
    advert_int_cs: int  # v2: the 8-bit seconds field * 100; v3: the 12-bit centisecond field
    auth_type: int = AUTH_NONE  # v2 only
    auth_data: bytes = b""  # v2 only: 8 bytes (PASS: password NUL padded); b"" encodes as zeros
    # keepalived 2.4 auth_hmac trailer as received (28 bytes, not yet verified: core.node
    # verifies it), b"" if none.  The encoder never writes it: core.node appends it.
    trailer: bytes = b""

    def with_priority(self, priority: int) -> Advertisement:
        return replace(self, priority=priority)


# --------------------------------------------------------------------------- helpers


def pass_auth_data(password: str | bytes) -> bytes:
    """The 8 Authentication Data bytes for a simple password (RFC 2338 §5.3.10).

    Like keepalived's ``auth_pass``: longer passwords are truncated to 8 bytes (keepalived
    warns "Truncating auth_pass to 8 characters"), shorter ones NUL padded.
    """
    raw = password.encode() if isinstance(password, str) else bytes(password)
    return raw[:AUTH_DATA_LEN].ljust(AUTH_DATA_LEN, b"\x00")


def _addr_len(family: int) -> int:
    if family == FAMILY_V4:
        return IPV4_ADDR_LEN
    if family == FAMILY_V6:
        return IPV6_ADDR_LEN
    raise ValueError(f"family must be 4 or 6, not {family!r}")


def _as_addr(value: object, family: int, what: str) -> Address:
    addr = value if isinstance(value, (IPv4Address, IPv6Address)) else ip_address(value)  # type: ignore[arg-type]
    if addr.version != family:
        raise ValueError(f"{what} {addr} is not an IPv{family} address")
    return addr


def _checksum_prefix(
    version: int, family: int, src: object, dst: object, length: int, v3_checksum_pseudo: bool
) -> bytes:
    """The pseudo-header that precedes the VRRP message in its checksum (b"" if none)."""
    if version == VRRP_VERSION_2:
        return b""  # RFC 3768 §5.3.8
    if family == FAMILY_V6:  # RFC 5798 §5.2.8, always
        if src is None or dst is None:
            raise ValueError("VRRPv3 over IPv6 needs src and dst for its checksum")
        s, d = _as_addr(src, 6, "src"), _as_addr(dst, 6, "dst")
        return pseudo_header_v6(s, d, IPPROTO_VRRP, length)  # type: ignore[arg-type]
    if not v3_checksum_pseudo:
        return b""
    if src is None or dst is None:
        raise ValueError("VRRPv3 over IPv4 with the pseudo-header checksum needs src and dst")
    s, d = _as_addr(src, 4, "src"), _as_addr(dst, 4, "dst")
    return pseudo_header_v4(s, d, IPPROTO_VRRP, length)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- encode


def _encode_body(adv: Advertisement, family: int) -> bytearray:
    """The advertisement with its checksum field zero; raises ValueError if not encodable."""
    alen = _addr_len(family)
    version = adv.version
    if version not in (VRRP_VERSION_2, VRRP_VERSION_3):
        raise ValueError(f"VRRP version must be 2 or 3, not {version!r}")
    if version == VRRP_VERSION_2 and family != FAMILY_V4:
        raise ValueError("VRRPv2 is defined for IPv4 only (RFC 3768)")
    if not VRID_MIN <= adv.vrid <= VRID_MAX:
        raise ValueError(f"VRID {adv.vrid} is outside {VRID_MIN}..{VRID_MAX}")
    if not 0 <= adv.priority <= 255:
        raise ValueError(f"priority {adv.priority} is outside 0..255")
    count = len(adv.addresses)
    if count > MAX_ADDRESSES:
        raise ValueError(f"{count} addresses; at most {MAX_ADDRESSES} fit in an advertisement")
    for a in adv.addresses:
        if not isinstance(a, (IPv4Address, IPv6Address)) or a.version != family:
            raise ValueError(f"address {a!r} is not an IPv{family} address")

    if version == VRRP_VERSION_2:
        seconds, rest = divmod(adv.advert_int_cs, CS_PER_S)
        if rest or not 1 <= seconds <= ADVERT_INT_V2_MAX_S:
            raise ValueError(
                f"VRRPv2 advert interval {adv.advert_int_cs} cs is not a whole number of seconds "
                f"in 1..{ADVERT_INT_V2_MAX_S}"
            )
        if adv.auth_type not in (AUTH_NONE, AUTH_PASS, AUTH_AH):
            raise ValueError(f"VRRPv2 auth type {adv.auth_type} is not 0, 1 or 2")
        auth = adv.auth_data or _V2_AUTH_ZERO
        if len(auth) != AUTH_DATA_LEN:
            raise ValueError(f"auth_data must be {AUTH_DATA_LEN} bytes (or empty), not {len(auth)}")
        word2 = (adv.auth_type << 8) | seconds
    else:
        if not 1 <= adv.advert_int_cs <= ADVERT_INT_V3_MAX_CS:
            raise ValueError(f"VRRPv3 advert interval {adv.advert_int_cs} cs is outside 1..{ADVERT_INT_V3_MAX_CS}")
        if adv.auth_type != AUTH_NONE or adv.auth_data:
            raise ValueError("VRRPv3 has no authentication (RFC 5798 §9)")
        auth = b""
        word2 = adv.advert_int_cs

    size = VRRP_HEADER_LEN + count * alen + len(auth)
    buf = bytearray(size)
    _HDR.pack_into(buf, 0, (version << 4) | VRRP_TYPE_ADVERTISEMENT, adv.vrid, adv.priority, count, word2, 0)
    off = VRRP_HEADER_LEN
    for a in adv.addresses:
        buf[off : off + alen] = a.packed
        off += alen
    buf[off:] = auth
    return buf


def encode(
    adv: Advertisement,
    *,
    family: int,
    src: Address | str | None = None,
    dst: Address | str | None = None,
    v3_checksum_pseudo: bool = True,
) -> bytes:
    """The VRRP payload (no IP header) of ``adv``, checksum included.

    ``src``/``dst`` are the IP source and destination the packet will carry; they are only
    needed for VRRPv3 checksums with a pseudo-header (always for IPv6; for IPv4 unless
    ``v3_checksum_pseudo=False``).  Raises ValueError for an advertisement that cannot be
    encoded.  To send the same advertisement repeatedly, use :class:`AdvertEncoder`.
    """
    body = _encode_body(adv, family)
    prefix = _checksum_prefix(adv.version, family, src, dst, len(body), v3_checksum_pseudo)
    struct.pack_into("!H", body, 6, internet_checksum(prefix + body))
    return bytes(body)


class AdvertEncoder:
    """Cached encoder for one advertisement to one destination: the hot send path.

    The body is built once; a priority change only patches one byte and updates the checksum
    incrementally (RFC 1624), and each priority's bytes are kept.  Build a new encoder when the
    addresses, interval, source or destination change (for several unicast peers with a
    VRRPv3/IPv4 pseudo-header checksum, one encoder per peer).
    """

    __slots__ = ("advert", "family", "src", "dst", "v3_checksum_pseudo", "_template", "_base_sum", "_cache")

    def __init__(
        self,
        adv: Advertisement,
        *,
        family: int,
        src: Address | str | None = None,
        dst: Address | str | None = None,
        v3_checksum_pseudo: bool = True,
    ) -> None:
        self.advert = adv
        self.family = family
        self.src = src
        self.dst = dst
        self.v3_checksum_pseudo = v3_checksum_pseudo
        body = _encode_body(adv.with_priority(0), family)
        prefix = _checksum_prefix(adv.version, family, src, dst, len(body), v3_checksum_pseudo)
        self._template = body
        self._base_sum = ones_sum(prefix + body)  # with priority 0 and checksum 0
        self._cache: dict[int, bytes] = {}

    def encode(self, priority: int | None = None) -> bytes:
        """The payload with ``priority`` (default: the advertisement's own)."""
        if priority is None:
            priority = self.advert.priority
        cached = self._cache.get(priority)
        if cached is not None:
            return cached
        if not 0 <= priority <= 255:
            raise ValueError(f"priority {priority} is outside 0..255")
        # priority is the high byte of the message's second 16-bit word
        s = self._base_sum + (priority << 8)
        s = (s & 0xFFFF) + (s >> 16)
        buf = bytearray(self._template)
        buf[2] = priority
        struct.pack_into("!H", buf, 6, ~s & 0xFFFF)
        out = bytes(buf)
        self._cache[priority] = out
        return out


def append_trailer(
    payload: bytes,
    trailer: bytes,
    *,
    family: int,
    src: Address | str | None = None,
    dst: Address | str | None = None,
) -> bytes:
    """An encoded payload followed by its keepalived 2.4 ``auth_hmac`` trailer.

    Over IPv4 the checksum stays the message's (keepalived 2.4 vrrp_check_packet checks it
    over the message only).  Over IPv6 it is recomputed over the whole payload, as the
    kernel writes it (IPV6_CHECKSUM): the bytes are then the ones on the wire.
    """
    if family != FAMILY_V6:
        return payload + trailer
    buf = bytearray(payload + trailer)
    buf[6:8] = b"\0\0"
    prefix = _checksum_prefix(VRRP_VERSION_3, family, src, dst, len(buf), True)
    struct.pack_into("!H", buf, 6, internet_checksum(prefix + bytes(buf)))
    return bytes(buf)


# --------------------------------------------------------------------------- decode


def decode(
    payload: bytes | bytearray | memoryview,
    *,
    family: int,
    src: Address | str | None = None,
    dst: Address | str | None = None,
    v3_checksum_pseudo: bool = True,
    allow_auth_ah: bool = False,
) -> Advertisement:
    """Validate and decode a VRRP payload (the bytes after the IP header).

    ``family`` is the family of the socket it came from; ``src``/``dst`` the packet's IP
    addresses (needed for VRRPv3 pseudo-header checksums).  Raises DecodeError with one reason
    per failed check (see the module docstring), ValueError only for bad arguments.
    ``allow_auth_ah``: accept VRRPv2 Auth Type 2 (the caller then verifies the AH header).
    """
    alen = _addr_len(family)
    n = len(payload)
    if n < VRRP_HEADER_LEN:
        raise DecodeError("bad_length", f"{n} bytes, shorter than the {VRRP_HEADER_LEN}-byte VRRP header")
    vers_type, vrid, priority, count, word2, csum = _HDR.unpack_from(payload, 0)
    version = vers_type >> 4
    if version == VRRP_VERSION_2:  # RFC 3768 §7.1
        if family != FAMILY_V4:
            raise DecodeError("bad_family", "VRRPv2 advertisement in an IPv6 packet (v2 is IPv4 only)")
        fixed = VRRP_HEADER_LEN + AUTH_DATA_LEN
    elif version == VRRP_VERSION_3:  # RFC 5798 §7.1
        fixed = VRRP_HEADER_LEN
    else:
        raise DecodeError("bad_version", f"version {version}, expected 2 or 3")
    ptype = vers_type & 0x0F
    if ptype != VRRP_TYPE_ADVERTISEMENT:
        raise DecodeError("bad_type", f"type {ptype}, expected {VRRP_TYPE_ADVERTISEMENT} (advertisement)")
    if n < fixed:
        raise DecodeError("bad_length", f"{n} bytes, shorter than the {fixed}-byte VRRPv{version} minimum")
    expected = fixed + count * alen
    if n < expected:
        raise DecodeError(
            "addr_count",
            f"{count} IPv{family} addresses need {expected} bytes, packet has {n}",
        )
    trailer = b""
    if n != expected:
        # keepalived 2.4 vrrp_check_packet: a packet exactly one auth_hmac trailer longer
        # than its addresses need carries the trailer; anything else is too long.
        if n - expected != AUTH_HMAC_TRAILER_LEN:
            raise DecodeError(
                "trailing_bytes",
                f"{count} IPv{family} addresses need {expected} bytes, packet has {n} "
                f"({n - expected} trailing, an auth_hmac trailer is {AUTH_HMAC_TRAILER_LEN})",
            )
        trailer = bytes(payload[expected:])

    # The checksum covers the VRRP message; over IPv6 the kernel's (IPV6_CHECKSUM) covers the
    # whole payload, an auth_hmac trailer included (keepalived 2.4 vrrp_check_packet).
    if family == FAMILY_V6:
        prefix = _checksum_prefix(version, family, src, dst, n, v3_checksum_pseudo)
        ok = internet_checksum(prefix + bytes(payload)) == 0
    elif version == VRRP_VERSION_3 and v3_checksum_pseudo:
        prefix = _checksum_prefix(version, family, src, dst, expected, v3_checksum_pseudo)
        ok = internet_checksum(prefix + bytes(payload[:expected])) == 0
    else:
        ok = internet_checksum(payload[:expected]) == 0
    if not ok:
        raise DecodeError("bad_checksum", f"checksum 0x{csum:04x} does not verify")

    if vrid < VRID_MIN:
        raise DecodeError("bad_vrid", f"VRID {vrid}, expected {VRID_MIN}..{VRID_MAX}")

    if version == VRRP_VERSION_2:
        auth_type, seconds = word2 >> 8, word2 & 0xFF
        if auth_type not in (AUTH_NONE, AUTH_PASS):
            if auth_type == AUTH_AH:
                if not allow_auth_ah:
                    raise DecodeError("bad_auth_type", "auth type 2 (IPsec AH) is not supported")
            else:
                raise DecodeError("bad_auth_type", f"auth type {auth_type}, expected 0, 1 or 2")
        if seconds == 0:
            raise DecodeError("bad_advert_int", "advertisement interval 0 s")
        advert_int_cs = seconds * CS_PER_S
        auth_data = bytes(payload[expected - AUTH_DATA_LEN : expected])
    else:
        advert_int_cs = word2 & _V3_ADVERT_MASK  # RFC 5798 §5.2.6: reserved bits ignored
        if advert_int_cs == 0:
            raise DecodeError("bad_advert_int", "advertisement interval 0 cs")
        auth_type, auth_data = AUTH_NONE, b""

    mk = IPv4Address if family == FAMILY_V4 else IPv6Address
    raw = bytes(payload[VRRP_HEADER_LEN : VRRP_HEADER_LEN + count * alen])
    addresses = tuple(mk(raw[i : i + alen]) for i in range(0, count * alen, alen))
    return Advertisement(version, vrid, priority, addresses, advert_int_cs, auth_type, auth_data, trailer)


# --------------------------------------------------------------------------- IPv4 header


class IPv4Header(NamedTuple):
    """What a raw IPv4 socket's packet says about itself (unpacks as a 5-tuple)."""

    src: IPv4Address
    dst: IPv4Address
    ttl: int
    proto: int
    payload: bytes


_IP4 = struct.Struct("!BBHHHBBH4s4s")


def parse_ipv4_header(
    packet: bytes | bytearray | memoryview,
    *,
    verify_checksum: bool = True,
    addresses: dict[bytes, IPv4Address] | None = None,
) -> IPv4Header:
    """Split what a raw IPv4 socket delivers into header fields and payload.

    Raises DecodeError ``bad_ip_header`` (truncated, not version 4, IHL < 5 or beyond the
    data), ``bad_ip_length`` (Total Length differs from the bytes received: keepalived rejects
    that too) or ``bad_ip_checksum``.

    A raw socket may pass ``verify_checksum=False``: Linux drops a packet whose IPv4 header
    checksum is wrong before any raw socket sees it (net/ipv4/ip_input.c ip_rcv_core,
    ``ip_fast_csum`` -> ``csum_error``).  ``addresses`` memoises the address objects (the
    same few senders repeat; an IPv4Address costs more to build than the rest of the header).
    """
    n = len(packet)
    if n < 20:
        raise DecodeError("bad_ip_header", f"{n} bytes, shorter than an IPv4 header")
    ver_ihl, _tos, total, _ident, _frag, ttl, proto, _hcsum, src, dst = _IP4.unpack_from(packet, 0)
    if ver_ihl >> 4 != 4:
        raise DecodeError("bad_ip_header", f"IP version {ver_ihl >> 4}, expected 4")
    ihl = (ver_ihl & 0x0F) * 4
    if ihl < 20:
        raise DecodeError("bad_ip_header", f"IHL {ihl // 4} words, minimum 5")
    if ihl > n:
        raise DecodeError("bad_ip_header", f"IHL {ihl} bytes, packet has {n}")
    if total != n:
        raise DecodeError("bad_ip_length", f"IP total length {total}, received {n} bytes")
    if verify_checksum and internet_checksum(packet[:ihl]) != 0:
        raise DecodeError("bad_ip_checksum", "IPv4 header checksum does not verify")
    if addresses is None:
        return IPv4Header(IPv4Address(src), IPv4Address(dst), ttl, proto, bytes(packet[ihl:]))
    a_src = addresses.get(src)
    if a_src is None:
        a_src = addresses[src] = IPv4Address(src)
    a_dst = addresses.get(dst)
    if a_dst is None:
        a_dst = addresses[dst] = IPv4Address(dst)
    return IPv4Header(a_src, a_dst, ttl, proto, bytes(packet[ihl:]))


def build_ipv4_header(
    src: IPv4Address | str,
    dst: IPv4Address | str,
    payload_len: int,
    *,
    ttl: int = VRRP_TTL,
    tos: int = VRRP_TOS,
    ident: int = 0,
    proto: int = IPPROTO_VRRP,
    dont_fragment: bool = False,
) -> bytes:
    """A 20-byte IPv4 header (no options) with its checksum, for an IP_HDRINCL socket.

    Defaults are keepalived's: TOS 0xC0, no DF, TTL 255.  keepalived numbers the
    Identification field per instance, 1, 2, ... (skipping 0, which would ask the kernel to
    choose).  The kernel fills in the checksum of IP_HDRINCL packets anyway (raw(7)); it is
    computed here so the bytes are final.
    """
    s = _as_addr(src, 4, "src")
    d = _as_addr(dst, 4, "dst")
    total = 20 + payload_len
    if not 0 <= payload_len <= 0xFFFF - 20:
        raise ValueError(f"payload length {payload_len} does not fit an IPv4 packet")
    hdr = bytearray(
        _IP4.pack(0x45, tos, total, ident & 0xFFFF, 0x4000 if dont_fragment else 0, ttl, proto, 0, s.packed, d.packed)
    )
    struct.pack_into("!H", hdr, 10, internet_checksum(hdr))
    return bytes(hdr)


def decode_ipv4_packet(
    packet: bytes | bytearray | memoryview,
    *,
    v3_checksum_pseudo: bool = True,
) -> tuple[IPv4Header, Advertisement]:
    """parse_ipv4_header + protocol check (``bad_protocol``) + decode, for a raw IPv4 socket."""
    hdr = parse_ipv4_header(packet)
    if hdr.proto != IPPROTO_VRRP:
        raise DecodeError("bad_protocol", f"IP protocol {hdr.proto}, expected {IPPROTO_VRRP}")
    adv = decode(hdr.payload, family=FAMILY_V4, src=hdr.src, dst=hdr.dst, v3_checksum_pseudo=v3_checksum_pseudo)
    return hdr, adv
