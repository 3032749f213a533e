"""Property tests (hypothesis) of the codec: round trips, and nothing but DecodeError on junk."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

from hypothesis import given, settings
from hypothesis import strategies as st

from vipkeeper.core import checksum
from vipkeeper.core.codec import (
    AdvertEncoder,
    Advertisement,
    build_ipv4_header,
    decode,
    decode_ipv4_packet,
    encode,
    parse_ipv4_header,
)
from vipkeeper.errors import DecodeError

v4 = st.builds(IPv4Address, st.integers(0, 2**32 - 1))
v6 = st.builds(IPv6Address, st.integers(0, 2**128 - 1))
vrid = st.integers(1, 255)
prio = st.integers(0, 255)


@st.composite
def v2_case(draw: st.DrawFn) -> tuple[Advertisement, int, IPv4Address, IPv4Address, bool]:
    adv = Advertisement(
        version=2,
        vrid=draw(vrid),
        priority=draw(prio),
        addresses=tuple(draw(st.lists(v4, max_size=20))),
        advert_int_cs=100 * draw(st.integers(1, 255)),
        auth_type=draw(st.sampled_from([0, 1])),
        auth_data=draw(st.binary(min_size=8, max_size=8)),
    )
    return adv, 4, draw(v4), draw(v4), draw(st.booleans())


@st.composite
def v3_case(draw: st.DrawFn) -> tuple[Advertisement, int, object, object, bool]:
    family = draw(st.sampled_from([4, 6]))
    addr = v4 if family == 4 else v6
    adv = Advertisement(
        version=3,
        vrid=draw(vrid),
        priority=draw(prio),
        addresses=tuple(draw(st.lists(addr, max_size=20))),
        advert_int_cs=draw(st.integers(1, 4095)),
    )
    return adv, family, draw(addr), draw(addr), draw(st.booleans())


any_case = st.one_of(v2_case(), v3_case())


def kw(family: int, src: object, dst: object, pseudo: bool) -> dict[str, object]:
    return {"family": family, "src": src, "dst": dst, "v3_checksum_pseudo": pseudo}


@given(any_case)
def test_round_trip(case: tuple[Advertisement, int, object, object, bool]) -> None:
    adv, family, src, dst, pseudo = case
    wire = encode(adv, **kw(family, src, dst, pseudo))  # type: ignore[arg-type]
    assert decode(wire, **kw(family, src, dst, pseudo)) == adv  # type: ignore[arg-type]
    assert encode(decode(wire, **kw(family, src, dst, pseudo)), **kw(family, src, dst, pseudo)) == wire  # type: ignore[arg-type]


@given(any_case, prio)
def test_cached_encoder_equals_encode(case: tuple[Advertisement, int, object, object, bool], p: int) -> None:
    adv, family, src, dst, pseudo = case
    enc = AdvertEncoder(adv, **kw(family, src, dst, pseudo))  # type: ignore[arg-type]
    assert enc.encode(p) == encode(adv.with_priority(p), **kw(family, src, dst, pseudo))  # type: ignore[arg-type]


@given(
    st.binary(max_size=120),
    st.sampled_from([4, 6]),
    st.booleans(),
    st.booleans(),
    st.data(),
)
def test_decode_arbitrary_bytes_raises_only_decode_error(
    data: bytes, family: int, pseudo: bool, allow_ah: bool, more: st.DataObject
) -> None:
    addr = v4 if family == 4 else v6
    try:
        adv = decode(
            data,
            family=family,
            src=more.draw(addr),
            dst=more.draw(addr),
            v3_checksum_pseudo=pseudo,
            allow_auth_ah=allow_ah,
        )
    except DecodeError as exc:
        assert exc.reason and isinstance(exc.reason, str)
    else:
        assert adv.version in (2, 3) and 1 <= adv.vrid <= 255 and adv.advert_int_cs > 0


@st.composite
def valid_header_junk(draw: st.DrawFn) -> tuple[bytes, int]:
    """Random bytes behind a plausible first byte, so decode gets past the cheap checks."""
    family = draw(st.sampled_from([4, 6]))
    version = draw(st.sampled_from([2, 3]))
    count = draw(st.integers(0, 4))
    alen = 4 if family == 4 else 16
    n = 8 + (8 if version == 2 else 0) + count * alen
    body = bytearray(draw(st.binary(min_size=n, max_size=n)))
    body[0] = (version << 4) | 1
    body[3] = count
    return bytes(body), family


@given(valid_header_junk(), st.booleans())
def test_decode_well_shaped_junk_raises_only_decode_error(case: tuple[bytes, int], pseudo: bool) -> None:
    data, family = case
    src, dst = (
        (IPv4Address("10.0.0.1"), IPv4Address("224.0.0.18"))
        if family == 4
        else (
            IPv6Address("fe80::1"),
            IPv6Address("ff02::12"),
        )
    )
    try:
        decode(data, family=family, src=src, dst=dst, v3_checksum_pseudo=pseudo)
    except DecodeError:
        pass


@given(any_case, st.data())
def test_mutated_valid_packets_raise_only_decode_error(
    case: tuple[Advertisement, int, object, object, bool], data: st.DataObject
) -> None:
    adv, family, src, dst, pseudo = case
    wire = bytearray(encode(adv, **kw(family, src, dst, pseudo)))  # type: ignore[arg-type]
    op = data.draw(st.sampled_from(["flip", "set", "truncate", "extend", "splice"]))
    if op == "flip":
        i = data.draw(st.integers(0, len(wire) - 1))
        wire[i] ^= data.draw(st.integers(1, 255))
    elif op == "set":
        i = data.draw(st.integers(0, len(wire) - 1))
        wire[i] = data.draw(st.integers(0, 255))
    elif op == "truncate":
        del wire[data.draw(st.integers(0, len(wire) - 1)) :]
    elif op == "extend":
        wire += data.draw(st.binary(min_size=1, max_size=40))
    else:
        i = data.draw(st.integers(0, len(wire)))
        wire[i:i] = data.draw(st.binary(min_size=1, max_size=8))
    try:
        decode(bytes(wire), **kw(family, src, dst, pseudo))  # type: ignore[arg-type]
    except DecodeError:
        pass


@given(any_case, st.data())
def test_single_bit_errors_always_detected(
    case: tuple[Advertisement, int, object, object, bool], data: st.DataObject
) -> None:
    adv, family, src, dst, pseudo = case
    wire = bytearray(encode(adv, **kw(family, src, dst, pseudo)))  # type: ignore[arg-type]
    bit = data.draw(st.integers(0, len(wire) * 8 - 1))
    wire[bit // 8] ^= 1 << (bit % 8)
    try:
        decode(bytes(wire), **kw(family, src, dst, pseudo))  # type: ignore[arg-type]
    except DecodeError:
        return
    raise AssertionError(f"bit {bit} flip not detected")


@given(st.binary(max_size=80))
def test_parse_ipv4_header_arbitrary_bytes(data: bytes) -> None:
    try:
        hdr = parse_ipv4_header(data)
    except DecodeError as exc:
        assert exc.reason in {"bad_ip_header", "bad_ip_length", "bad_ip_checksum"}
    else:
        assert len(hdr.payload) <= len(data) - 20


@st.composite
def ipv4_ish(draw: st.DrawFn) -> bytes:
    """A header that often passes the length checks, so the checksum check is reached."""
    body = draw(st.binary(min_size=0, max_size=40))
    ihl = draw(st.integers(0, 15))
    hdr = bytearray(draw(st.binary(min_size=20, max_size=20)))
    hdr[0] = (draw(st.sampled_from([4, 4, 4, 6])) << 4) | ihl
    total = 20 + len(body)
    struct.pack_into("!H", hdr, 2, draw(st.sampled_from([total, total, total + 1, total - 1])) & 0xFFFF)
    if draw(st.booleans()):
        hdr[10:12] = b"\0\0"
        hdr[10:12] = struct.pack("!H", checksum.internet_checksum(bytes(hdr)))
    return bytes(hdr) + body


@given(ipv4_ish())
def test_parse_and_decode_ipv4_packet_only_decode_error(pkt: bytes) -> None:
    for fn in (parse_ipv4_header, decode_ipv4_packet):
        try:
            fn(pkt)
        except DecodeError:
            pass


@given(v4, v4, st.integers(0, 200), st.integers(0, 255), st.integers(0, 255), st.integers(0, 0xFFFF), st.booleans())
def test_ipv4_header_round_trip(
    src: IPv4Address, dst: IPv4Address, n: int, ttl: int, tos: int, ident: int, df: bool
) -> None:
    payload = b"\xab" * n
    pkt = build_ipv4_header(src, dst, n, ttl=ttl, tos=tos, ident=ident, dont_fragment=df) + payload
    assert tuple(parse_ipv4_header(pkt)) == (src, dst, ttl, 112, payload)


@given(st.binary(max_size=64), st.integers(0, 0xFFFF))
def test_checksum_matches_naive(data: bytes, initial: int) -> None:
    padded = data + b"\0" * (len(data) % 2)
    s = initial
    for (w,) in struct.iter_unpack("!H", padded):
        s += w
        s = (s & 0xFFFF) + (s >> 16)
    assert checksum.ones_sum(data, initial) == s
    assert checksum.internet_checksum(data) == (~checksum.ones_sum(data) & 0xFFFF)


@settings(max_examples=30)
@given(st.lists(v4, min_size=200, max_size=255), vrid, prio)
def test_many_addresses_round_trip(addrs: list[IPv4Address], vr: int, p: int) -> None:
    adv = Advertisement(3, vr, p, tuple(addrs), 100)
    src, dst = IPv4Address("10.0.0.1"), IPv4Address("224.0.0.18")
    assert decode(encode(adv, family=4, src=src, dst=dst), family=4, src=src, dst=dst) == adv
