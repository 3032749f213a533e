"""Unit tests of the VRRP codec: encode/decode, every DecodeError reason, IPv4 header helpers."""

from __future__ import annotations

import struct
from dataclasses import FrozenInstanceError
from ipaddress import IPv4Address, IPv6Address

import pytest

from vipkeeper.core import checksum, codec
from vipkeeper.core import constants as C
from vipkeeper.core.codec import (
    AdvertEncoder,
    Advertisement,
    build_ipv4_header,
    decode,
    decode_ipv4_packet,
    encode,
    parse_ipv4_header,
    pass_auth_data,
)
from vipkeeper.errors import DecodeError

V4 = IPv4Address
V6 = IPv6Address
SRC4, PEER4 = V4("172.20.0.112"), V4("172.20.0.113")
SRC6 = V6("fe80::5054:ff:fe12:3401")

SEED = Advertisement(  # the user's seed config: vrid 51, prio 100, 1 s, PASS 1111
    version=2,
    vrid=51,
    priority=100,
    addresses=(V4("172.20.0.115"),),
    advert_int_cs=100,
    auth_type=C.AUTH_PASS,
    auth_data=pass_auth_data("1111"),
)
V3_4 = Advertisement(3, 52, 150, (V4("172.20.0.116"), V4("172.20.0.117")), 100)
V3_6 = Advertisement(3, 53, 130, (V6("fd00::115"), V6("2001:db8::115")), 100)


def reason(excinfo: pytest.ExceptionInfo[DecodeError]) -> str:
    return excinfo.value.reason


def naive_checksum(data: bytes) -> int:
    """RFC 1071 §4.1, word by word: the oracle for checksum.internet_checksum."""
    if len(data) % 2:
        data += b"\0"
    s = 0
    for (w,) in struct.iter_unpack("!H", data):
        s += w
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def recompute(payload: bytearray, prefix: bytes = b"") -> bytes:
    """Fix up the VRRP checksum of a hand-edited payload."""
    payload[6:8] = b"\0\0"
    payload[6:8] = struct.pack("!H", naive_checksum(prefix + bytes(payload)))
    return bytes(payload)


# --------------------------------------------------------------------------- layout


def test_seed_v2_pass_layout() -> None:
    b = encode(SEED, family=4, src=SRC4, dst=PEER4)
    assert b[0] == 0x21  # version 2, type 1
    assert b[1:4] == bytes((51, 100, 1))
    assert b[4:6] == bytes((1, 1))  # auth type PASS, 1 s
    assert b[8:12] == V4("172.20.0.115").packed
    assert b[12:20] == b"1111\0\0\0\0"
    assert len(b) == 20
    assert naive_checksum(b) == 0  # v2: no pseudo-header (RFC 3768 §5.3.8)


def test_v2_checksum_independent_of_addresses() -> None:
    assert encode(SEED, family=4, src=SRC4, dst=PEER4) == encode(SEED, family=4, src=None, dst=None)


def test_v3_ipv4_layout_and_pseudo_header() -> None:
    dst = C.VRRP_GROUP_V4
    b = encode(V3_4, family=4, src=SRC4, dst=dst)
    assert b[0] == 0x31 and b[1:4] == bytes((52, 150, 2))
    assert b[4:6] == struct.pack("!H", 100)
    assert len(b) == 8 + 2 * 4
    ph = SRC4.packed + dst.packed + bytes((0, 112)) + struct.pack("!H", len(b))
    assert naive_checksum(ph + b) == 0
    assert naive_checksum(b) != 0


def test_v3_ipv4_checksum_as_v2() -> None:
    b = encode(V3_4, family=4, src=SRC4, dst=C.VRRP_GROUP_V4, v3_checksum_pseudo=False)
    assert naive_checksum(b) == 0
    assert encode(V3_4, family=4, v3_checksum_pseudo=False) == b  # addresses not needed
    assert decode(b, family=4, v3_checksum_pseudo=False) == V3_4
    with pytest.raises(DecodeError) as ei:
        decode(b, family=4, src=SRC4, dst=C.VRRP_GROUP_V4)
    assert reason(ei) == "bad_checksum"


def test_v3_ipv4_unicast_pseudo_header_uses_real_peer() -> None:
    uni = encode(V3_4, family=4, src=SRC4, dst=PEER4)
    mc = encode(V3_4, family=4, src=SRC4, dst=C.VRRP_GROUP_V4)
    assert uni != mc and uni[:6] == mc[:6] and uni[8:] == mc[8:]
    assert decode(uni, family=4, src=SRC4, dst=PEER4) == V3_4
    # the keepalived <= 1.3.6 / old_unicast_checksum dialect: verify against the group
    assert decode(mc, family=4, src=SRC4, dst=C.VRRP_GROUP_V4) == V3_4
    with pytest.raises(DecodeError) as ei:
        decode(mc, family=4, src=SRC4, dst=PEER4)
    assert reason(ei) == "bad_checksum"


def test_v3_ipv6_pseudo_header() -> None:
    dst = C.VRRP_GROUP_V6
    b = encode(V3_6, family=6, src=SRC6, dst=dst)
    assert len(b) == 8 + 2 * 16
    ph = SRC6.packed + dst.packed + struct.pack("!I", len(b)) + bytes((0, 0, 0, 112))
    assert naive_checksum(ph + b) == 0
    # the flag only concerns IPv4: IPv6 always has the pseudo-header
    assert encode(V3_6, family=6, src=SRC6, dst=dst, v3_checksum_pseudo=False) == b
    assert decode(b, family=6, src=SRC6, dst=dst, v3_checksum_pseudo=False) == V3_6
    with pytest.raises(DecodeError) as ei:
        decode(b, family=6, src=V6("fe80::1"), dst=dst)
    assert reason(ei) == "bad_checksum"


def test_string_addresses_accepted() -> None:
    assert encode(V3_6, family=6, src=str(SRC6), dst="ff02::12") == encode(
        V3_6, family=6, src=SRC6, dst=C.VRRP_GROUP_V6
    )


def test_round_trip_examples() -> None:
    for adv, fam, src, dst in [
        (SEED, 4, SRC4, PEER4),
        (V3_4, 4, SRC4, C.VRRP_GROUP_V4),
        (V3_6, 6, SRC6, C.VRRP_GROUP_V6),
        (Advertisement(2, 1, 0, (), 25500, 0, bytes(8)), 4, SRC4, C.VRRP_GROUP_V4),
        (Advertisement(3, 255, 255, (V4("10.0.0.1"),), 4095), 4, SRC4, C.VRRP_GROUP_V4),
    ]:
        assert decode(encode(adv, family=fam, src=src, dst=dst), family=fam, src=src, dst=dst) == adv


def test_v2_auth_none_empty_auth_data_encodes_as_zeros() -> None:
    adv = Advertisement(2, 56, 120, (V4("172.20.0.120"),), 200)
    b = encode(adv, family=4)
    assert b[-8:] == bytes(8)
    assert decode(b, family=4) == Advertisement(2, 56, 120, (V4("172.20.0.120"),), 200, 0, bytes(8))


def test_advertisement_is_frozen_and_hashable() -> None:
    with pytest.raises(FrozenInstanceError):
        SEED.priority = 1  # type: ignore[misc]
    assert hash(SEED) == hash(SEED.with_priority(100))
    assert SEED.with_priority(0).priority == 0 and SEED.priority == 100


# --------------------------------------------------------------------------- encode errors


@pytest.mark.parametrize(
    "adv, family",
    [
        (Advertisement(4, 1, 100, (), 100), 4),  # version
        (Advertisement(2, 1, 100, (), 100), 6),  # v2 is IPv4 only
        (Advertisement(3, 0, 100, (V4("10.0.0.1"),), 100), 4),  # vrid
        (Advertisement(3, 256, 100, (V4("10.0.0.1"),), 100), 4),
        (Advertisement(3, 1, 256, (V4("10.0.0.1"),), 100), 4),  # priority
        (Advertisement(3, 1, -1, (V4("10.0.0.1"),), 100), 4),
        (Advertisement(3, 1, 100, (V6("::1"),), 100), 4),  # address family
        (Advertisement(3, 1, 100, (V4("10.0.0.1"),), 100), 6),
        (Advertisement(3, 1, 100, ("10.0.0.1",), 100), 4),  # type: ignore[arg-type]
        (Advertisement(3, 1, 100, (V4("10.0.0.1"),) * 256, 100), 4),  # count
        (Advertisement(3, 1, 100, (V4("10.0.0.1"),), 0), 4),  # v3 interval
        (Advertisement(3, 1, 100, (V4("10.0.0.1"),), 4096), 4),
        (Advertisement(3, 1, 100, (V4("10.0.0.1"),), 100, 1, b"x" * 8), 4),  # v3 has no auth
        (Advertisement(2, 1, 100, (), 150), 4),  # v2 interval in whole seconds
        (Advertisement(2, 1, 100, (), 0), 4),
        (Advertisement(2, 1, 100, (), 25600), 4),
        (Advertisement(2, 1, 100, (), 100, 3), 4),  # auth type
        (Advertisement(2, 1, 100, (), 100, 1, b"short"), 4),  # auth data length
        (Advertisement(2, 1, 100, (), 100), 5),  # family
    ],
)
def test_encode_rejects(adv: Advertisement, family: int) -> None:
    with pytest.raises(ValueError):
        encode(adv, family=family, src=None, dst=None, v3_checksum_pseudo=False)


def test_encode_v3_needs_addresses_for_pseudo_header() -> None:
    with pytest.raises(ValueError):
        encode(V3_4, family=4)
    with pytest.raises(ValueError):
        encode(V3_6, family=6, src=SRC6)
    with pytest.raises(ValueError):
        encode(V3_4, family=4, src=SRC6, dst=C.VRRP_GROUP_V4)  # wrong family


# --------------------------------------------------------------------------- decode errors, in order


def v3_4_bytes() -> bytes:
    return encode(V3_4, family=4, src=SRC4, dst=C.VRRP_GROUP_V4)


def dec4(b: bytes, **kw: object) -> Advertisement:
    return decode(b, family=4, src=SRC4, dst=C.VRRP_GROUP_V4, **kw)  # type: ignore[arg-type]


def expect(reason_: str, b: bytes, **kw: object) -> DecodeError:
    with pytest.raises(DecodeError) as ei:
        dec4(b, **kw)
    assert ei.value.reason == reason_, ei.value
    assert ei.value.detail
    return ei.value


def test_bad_length() -> None:
    for n in range(8):
        expect("bad_length", v3_4_bytes()[:n])
    # a v2 header without its 8 bytes of authentication data
    expect("bad_length", encode(SEED, family=4)[:12])


def test_bad_version() -> None:
    for v in (0, 1, 4, 15):
        b = bytearray(v3_4_bytes())
        b[0] = (v << 4) | 1
        expect("bad_version", bytes(b))


def test_v2_in_ipv6_is_bad_family() -> None:
    b = encode(SEED, family=4)
    with pytest.raises(DecodeError) as ei:
        decode(b, family=6, src=SRC6, dst=C.VRRP_GROUP_V6)
    assert reason(ei) == "bad_family"


def test_bad_type() -> None:
    b = bytearray(v3_4_bytes())
    b[0] = 0x32
    expect("bad_type", bytes(b))
    b[0] = 0x30
    expect("bad_type", bytes(b))


def test_version_checked_before_type() -> None:
    b = bytearray(v3_4_bytes())
    b[0] = 0x52
    expect("bad_version", bytes(b))


def test_addr_count_vs_length() -> None:
    b = v3_4_bytes()
    expect("addr_count", b[:-1])  # truncated address
    expect("addr_count", b[:-4])
    expect("trailing_bytes", b + b"\0\0\0\0")  # trailing data that is no auth_hmac trailer
    bb = bytearray(b)
    bb[3] = 3  # count says 3, carries 2
    expect("addr_count", bytes(bb))
    v2 = encode(SEED, family=4)
    expect("addr_count", v2[:-1])
    # the count is checked before the checksum: a truncated packet says so
    e = expect("addr_count", b[:8])
    assert "2 IPv4 addresses" in e.detail


def test_bad_checksum_every_byte() -> None:
    good = v3_4_bytes()
    for i in range(1, len(good)):
        if i == 3:
            continue  # the count byte: caught earlier, as addr_count
        for bit in range(8):
            b = bytearray(good)
            b[i] ^= 1 << bit
            expect("bad_checksum", bytes(b))


def test_checksum_failure_reports_value() -> None:
    b = bytearray(v3_4_bytes())
    b[7] ^= 0xFF
    e = expect("bad_checksum", bytes(b))
    assert f"0x{b[6]:02x}{b[7]:02x}" in e.detail


def test_bad_vrid() -> None:
    b = bytearray(v3_4_bytes())
    b[1] = 0
    expect("bad_vrid", recompute(b, SRC4.packed + C.VRRP_GROUP_V4.packed + bytes((0, 112, 0, len(b)))))


def test_bad_auth_type() -> None:
    for t in (2, 3, 255):
        b = bytearray(encode(SEED, family=4))
        b[4] = t
        e = expect("bad_auth_type", recompute(b))
        if t == 2:
            assert "AH" in e.detail


def test_auth_ah_allowed_when_caller_handles_it() -> None:
    adv = Advertisement(2, 51, 100, (V4("172.20.0.115"),), 100, C.AUTH_AH, bytes(8))
    b = encode(adv, family=4)
    assert decode(b, family=4, allow_auth_ah=True) == adv
    with pytest.raises(DecodeError) as ei:
        decode(b, family=4)
    assert reason(ei) == "bad_auth_type"


def test_bad_advert_int() -> None:
    b = bytearray(encode(SEED, family=4))
    b[5] = 0
    expect("bad_advert_int", recompute(b))
    b = bytearray(v3_4_bytes())
    b[4:6] = b"\xf0\x00"  # reserved bits set, interval 0
    ph = SRC4.packed + C.VRRP_GROUP_V4.packed + bytes((0, 112, 0, len(b)))
    expect("bad_advert_int", recompute(b, ph))


def test_v3_reserved_bits_ignored() -> None:
    b = bytearray(v3_4_bytes())
    b[4] |= 0xF0  # RFC 5798 §5.2.6: MUST be ignored on reception
    ph = SRC4.packed + C.VRRP_GROUP_V4.packed + bytes((0, 112, 0, len(b)))
    assert dec4(recompute(b, ph)) == V3_4


def test_v3_zero_addresses_accepted() -> None:
    adv = Advertisement(3, 9, 100, (), 100)
    assert dec4(encode(adv, family=4, src=SRC4, dst=C.VRRP_GROUP_V4)) == adv


def test_decode_bad_arguments_are_value_errors() -> None:
    with pytest.raises(ValueError):
        decode(v3_4_bytes(), family=5)
    with pytest.raises(ValueError):
        decode(v3_4_bytes(), family=4)  # v3 pseudo-header needs src/dst


def test_decode_accepts_memoryview_and_bytearray() -> None:
    b = v3_4_bytes()
    assert dec4(memoryview(b)) == dec4(bytearray(b)) == V3_4  # type: ignore[arg-type]


def test_max_addresses() -> None:
    addrs = tuple(V4(f"10.0.{i // 256}.{i % 256}") for i in range(255))
    adv = Advertisement(3, 7, 200, addrs, 100)
    b = encode(adv, family=4, src=SRC4, dst=C.VRRP_GROUP_V4)
    assert len(b) == 8 + 255 * 4
    assert dec4(b) == adv


# --------------------------------------------------------------------------- auth / ttl


def test_pass_auth_data() -> None:
    assert pass_auth_data("1111") == b"1111\0\0\0\0"
    assert pass_auth_data(b"12345678") == b"12345678"
    assert pass_auth_data("123456789") == b"12345678"  # keepalived truncates to 8
    assert pass_auth_data("") == bytes(8)


# --------------------------------------------------------------------------- AdvertEncoder


@pytest.mark.parametrize(
    "adv, fam, src, dst, pseudo",
    [
        (SEED, 4, SRC4, PEER4, True),
        (V3_4, 4, SRC4, C.VRRP_GROUP_V4, True),
        (V3_4, 4, SRC4, PEER4, False),
        (V3_6, 6, SRC6, C.VRRP_GROUP_V6, True),
        (Advertisement(3, 1, 0, (V4("0.0.0.0"),), 1), 4, V4("0.0.0.0"), V4("0.0.0.0"), False),
    ],
)
def test_advert_encoder_matches_encode_for_every_priority(
    adv: Advertisement, fam: int, src: codec.Address, dst: codec.Address, pseudo: bool
) -> None:
    enc = AdvertEncoder(adv, family=fam, src=src, dst=dst, v3_checksum_pseudo=pseudo)
    assert enc.encode() == encode(adv, family=fam, src=src, dst=dst, v3_checksum_pseudo=pseudo)
    for p in range(256):
        want = encode(adv.with_priority(p), family=fam, src=src, dst=dst, v3_checksum_pseudo=pseudo)
        assert enc.encode(p) == want, p
    assert enc.encode(7) is enc.encode(7)  # cached


def test_advert_encoder_rejects() -> None:
    enc = AdvertEncoder(SEED, family=4)
    with pytest.raises(ValueError):
        enc.encode(256)
    with pytest.raises(ValueError):
        AdvertEncoder(V3_4, family=4)  # needs src/dst


# --------------------------------------------------------------------------- IPv4 header


def test_build_ipv4_header_keepalived_defaults() -> None:
    h = build_ipv4_header(SRC4, PEER4, 20, ident=1)
    assert len(h) == 20
    ver_ihl, tos, tot, ident, frag, ttl, proto, _csum, s, d = struct.unpack("!BBHHHBBH4s4s", h)
    assert (ver_ihl, tos, tot, ident, frag, ttl, proto) == (0x45, 0xC0, 40, 1, 0, 255, 112)
    assert (s, d) == (SRC4.packed, PEER4.packed)
    assert naive_checksum(h) == 0
    assert struct.unpack("!H", build_ipv4_header(SRC4, PEER4, 0, dont_fragment=True)[6:8])[0] == 0x4000
    with pytest.raises(ValueError):
        build_ipv4_header(SRC4, PEER4, 70000)
    with pytest.raises(ValueError):
        build_ipv4_header(SRC6, PEER4, 0)  # type: ignore[arg-type]


def test_parse_ipv4_header_round_trip() -> None:
    payload = encode(SEED, family=4)
    pkt = build_ipv4_header(SRC4, PEER4, len(payload), ident=7, ttl=254) + payload
    hdr = parse_ipv4_header(pkt)
    src, dst, ttl, proto, pl = hdr
    assert (src, dst, ttl, proto, pl) == (SRC4, PEER4, 254, 112, payload)
    h2, adv = decode_ipv4_packet(pkt)
    assert h2 == hdr and adv == SEED


def test_parse_ipv4_header_with_options() -> None:
    payload = b"\x01\x02\x03"
    hdr = bytearray(build_ipv4_header(SRC4, PEER4, len(payload) + 4))
    hdr[0] = 0x46
    hdr += b"\x01\x01\x01\x00"  # NOP NOP NOP EOL
    hdr[10:12] = b"\0\0"
    hdr[10:12] = struct.pack("!H", naive_checksum(bytes(hdr)))
    assert parse_ipv4_header(bytes(hdr) + payload).payload == payload


@pytest.mark.parametrize(
    "mutate, why",
    [
        (lambda p: p[:19], "bad_ip_header"),
        (lambda p: b"\x65" + p[1:], "bad_ip_header"),  # version 6
        (lambda p: b"\x44" + p[1:], "bad_ip_header"),  # IHL 4
        (lambda p: b"\x4f" + p[1:], "bad_ip_header"),  # IHL 15 words = 60 bytes > 40
        (lambda p: p + b"\0", "bad_ip_length"),
        (lambda p: p[:-1], "bad_ip_length"),
        (lambda p: p[:8] + b"\xfe" + p[9:], "bad_ip_checksum"),  # TTL changed
    ],
)
def test_parse_ipv4_header_errors(mutate, why: str) -> None:  # type: ignore[no-untyped-def]
    payload = encode(SEED, family=4)
    pkt = build_ipv4_header(SRC4, PEER4, len(payload)) + payload
    with pytest.raises(DecodeError) as ei:
        parse_ipv4_header(mutate(pkt))
    assert reason(ei) == why


def test_decode_ipv4_packet_rejects_other_protocols() -> None:
    payload = encode(SEED, family=4)
    pkt = build_ipv4_header(SRC4, PEER4, len(payload), proto=C.IPPROTO_AH) + payload
    with pytest.raises(DecodeError) as ei:
        decode_ipv4_packet(pkt)
    assert reason(ei) == "bad_protocol"


# --------------------------------------------------------------------------- checksum module


def test_checksum_matches_rfc1071_example() -> None:
    # RFC 1071 §3 numerical example: words 0001 f203 f4f5 f6f7 sum to ddf2 (folded)
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert checksum.ones_sum(data) == 0xDDF2
    assert checksum.internet_checksum(data) == 0x220D


def test_checksum_edge_cases() -> None:
    assert checksum.internet_checksum(b"") == 0xFFFF
    assert checksum.internet_checksum(bytes(10)) == 0xFFFF
    assert checksum.internet_checksum(b"\xff\xff") == 0
    assert checksum.internet_checksum(b"\x01") == naive_checksum(b"\x01")
    assert checksum.ones_sum(b"\x12\x34", checksum.ones_sum(b"\x56\x78")) == checksum.ones_sum(b"\x12\x34\x56\x78")


# --------------------------------------------------------------------------- constants / purity


def test_constants() -> None:
    assert C.IPPROTO_VRRP == 112 and C.VRRP_TTL == 255
    assert str(C.VRRP_GROUP_V4) == "224.0.0.18" and str(C.VRRP_GROUP_V6) == "ff02::12"
    assert (C.PRIORITY_STOP, C.PRIORITY_DEFAULT, C.PRIORITY_OWNER) == (0, 100, 255)
    assert (C.AUTH_NONE, C.AUTH_PASS, C.AUTH_AH) == (0, 1, 2)
    assert C.ADVERT_INT_V3_MAX_CS == 4095
    assert C.vmac(51, 4) == bytes.fromhex("00005e000133")
    assert C.vmac(1, 6) == bytes.fromhex("00005e000201")
    for bad in ((0, 4), (256, 4), (1, 5)):
        with pytest.raises(ValueError):
            C.vmac(*bad)
