"""The Internet checksum (RFC 1071) and the pseudo-headers VRRP and ICMPv6 use.

Pure and allocation-light.  The ones' complement sum of 16-bit big-endian words is computed
with one big-integer remainder: 2**16 is congruent to 1 modulo 0xFFFF, so the sum of the words
of ``data`` is congruent to ``int.from_bytes(data, "big")`` modulo 0xFFFF, and the end-around
carry fold of a non-zero sum lands in 1..0xFFFF.  That runs at C speed.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

_PH4 = struct.Struct("!4s4sxBH")  # RFC 768 style pseudo-header: src, dst, zero, proto, length
_PH6 = struct.Struct("!16s16sI3xB")  # RFC 8200 §8.1: src, dst, upper-layer length, zero, next header


def ones_sum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """Ones' complement sum (folded to 16 bits) of ``data``, plus a previous folded sum.

    An odd trailing byte is padded with a zero byte (RFC 1071 §4.1).
    """
    if len(data) & 1:
        data = bytes(data) + b"\x00"
    n = int.from_bytes(data, "big") + initial
    if n == 0:
        return 0
    r = n % 0xFFFF
    return r if r else 0xFFFF


def internet_checksum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """The checksum to put in a header: the ones' complement of :func:`ones_sum`.

    Over data that already holds a correct checksum, the result is 0.
    """
    return ~ones_sum(data, initial) & 0xFFFF


def pseudo_header_v4(src: IPv4Address, dst: IPv4Address, proto: int, length: int) -> bytes:
    """IPv4 pseudo-header (as for UDP, RFC 768): src, dst, zero, protocol, upper-layer length.

    VRRPv3 over IPv4 uses it in its checksum (RFC 5798 §5.2.8; keepalived's default).
    """
    return _PH4.pack(src.packed, dst.packed, proto, length)


def pseudo_header_v6(src: IPv6Address, dst: IPv6Address, next_header: int, length: int) -> bytes:
    """IPv6 pseudo-header, RFC 8200 §8.1 (RFC 2460 §8.1): used by VRRPv3 and ICMPv6."""
    return _PH6.pack(src.packed, dst.packed, length, next_header)
