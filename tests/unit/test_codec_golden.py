"""Golden tests: adverts captured from keepalived 2.2.7 (tests/unit/golden/, see its README).

Each captured payload must decode to the values of the keepalived config that produced it,
and re-encode byte for byte, from the decoded value and from the config's values alike.
"""

from __future__ import annotations

import json
import struct
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any

import pytest

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
from vipkeeper.core.events import AdvertDropped, Received, TrackingChanged
from vipkeeper.core.node import VrrpNode
from vipkeeper.core.params import RouterLink, RouterParams
from vipkeeper.errors import DecodeError

GOLDEN = Path(__file__).parent / "golden"
ADVERT_FILES = sorted(GOLDEN.glob("advert_*.json"))
CASES = {p.stem.removeprefix("advert_"): json.loads(p.read_text()) for p in ADVERT_FILES}


def test_all_cases_present() -> None:
    assert set(CASES) == {
        "v2_pass_unicast",
        "v2_mcast_noauth",
        "v3_mcast_v4",
        "v3_mcast_v4_owner_fast",
        "v3_unicast_v4",
        "v3_unicast_v4_old_checksum",
        "v3_mcast_v6",
        "v3_unicast_v6",
    }
    for case in CASES.values():
        assert case["captured_from"].startswith("Keepalived v2.2.7")


def expected_advert(exp: dict[str, Any], priority: int) -> Advertisement:
    return Advertisement(
        version=exp["version"],
        vrid=exp["vrid"],
        priority=priority,
        addresses=tuple(ip_address(a) for a in exp["addresses"]),
        advert_int_cs=exp["advert_int_cs"],
        auth_type=exp["auth_type"],
        auth_data=bytes.fromhex(exp["auth_data_hex"]),
    )


def csum_args(exp: dict[str, Any], pkt: dict[str, Any]) -> dict[str, Any]:
    return {
        "family": exp["family"],
        "src": ip_address(pkt["src"]),
        "dst": ip_address(exp.get("checksum_dst", pkt["dst"])),
        "v3_checksum_pseudo": exp["v3_checksum_pseudo"],
    }


@pytest.fixture(params=sorted(CASES), ids=str)
def case(request: pytest.FixtureRequest) -> dict[str, Any]:
    return CASES[request.param]


def test_packets_are_from_the_configured_addresses(case: dict[str, Any]) -> None:
    exp = case["expected"]
    assert len(case["packets"]) == 3
    for pkt in case["packets"]:
        assert (pkt["src"], pkt["dst"]) == (exp["src"], exp["dst"])
        assert pkt["eth_src"] == "52:54:00:12:34:01"


def test_decode_gives_config_values(case: dict[str, Any]) -> None:
    exp = case["expected"]
    decoded = [decode(bytes.fromhex(p["payload_hex"]), **csum_args(exp, p)) for p in case["packets"]]
    # two adverts at the configured priority, then the priority-0 one sent on shutdown
    assert [a.priority for a in decoded] == [exp["priority"], exp["priority"], C.PRIORITY_STOP]
    for adv, prio in zip(decoded, [exp["priority"], exp["priority"], 0]):
        assert adv == expected_advert(exp, prio)


def test_reencode_byte_for_byte(case: dict[str, Any]) -> None:
    exp = case["expected"]
    for pkt in case["packets"]:
        payload = bytes.fromhex(pkt["payload_hex"])
        args = csum_args(exp, pkt)
        adv = decode(payload, **args)
        assert encode(adv, **args) == payload
        assert encode(expected_advert(exp, adv.priority), **args) == payload


def test_cached_encoder_matches_capture(case: dict[str, Any]) -> None:
    exp = case["expected"]
    first, _, stop = case["packets"]
    enc = AdvertEncoder(expected_advert(exp, exp["priority"]), **csum_args(exp, first))
    assert enc.encode() == bytes.fromhex(first["payload_hex"])
    assert enc.encode(0) == bytes.fromhex(stop["payload_hex"])


@pytest.mark.parametrize("name", [n for n, c in sorted(CASES.items()) if c["expected"]["family"] == 4])
def test_ipv4_header_matches_keepalived(name: str) -> None:
    case = CASES[name]
    exp = case["expected"]
    idents = []
    for pkt in case["packets"]:
        raw = bytes.fromhex(pkt["ip_packet_hex"])
        hdr = parse_ipv4_header(raw)
        assert (str(hdr.src), str(hdr.dst), hdr.ttl, hdr.proto) == (pkt["src"], pkt["dst"], 255, 112)
        assert hdr.payload.hex() == pkt["payload_hex"]
        assert hdr.ttl == C.VRRP_TTL
        ver_ihl, tos, _tot, ident, frag = struct.unpack_from("!BBHHH", raw)
        assert (ver_ihl, tos, frag) == (0x45, 0xC0, 0)  # no options, TOS 0xC0, no DF
        idents.append(ident)
        built = build_ipv4_header(hdr.src, hdr.dst, len(hdr.payload), ident=ident)
        assert built == raw[:20]  # including the kernel-computed header checksum
        if "checksum_dst" not in exp:
            h2, adv = decode_ipv4_packet(raw, v3_checksum_pseudo=exp["v3_checksum_pseudo"])
            assert h2 == hdr and adv.vrid == exp["vrid"]
    # keepalived numbers Identification per instance: 1, 2, ...
    assert idents[:2] == [1, 2] and idents[2] > 2


@pytest.mark.parametrize("name", [n for n, c in sorted(CASES.items()) if c["expected"]["family"] == 6])
def test_ipv6_header_facts(name: str) -> None:
    case = CASES[name]
    for pkt in case["packets"]:
        raw = bytes.fromhex(pkt["ip_packet_hex"])
        vtf, plen, nxt, hlim = struct.unpack_from("!IHBB", raw)
        assert vtf >> 28 == 6
        assert (vtf >> 20) & 0xFF == 0xC0  # IPV6_TCLASS 0xc0
        assert nxt == 112 and plen == len(raw) - 40
        assert raw[40:].hex() == pkt["payload_hex"]
        assert IPv6Address(raw[8:24]) == ip_address(pkt["src"])
        if ip_address(pkt["dst"]).is_multicast:
            assert hlim == 255 and pkt["dst"] == "ff02::12"
            assert ip_address(pkt["src"]).is_link_local
            assert pkt["eth_dst"] == "33:33:00:00:00:12"
        else:
            assert hlim == 64  # keepalived leaves the unicast hop limit to the kernel


def test_v2_pass_seed_authentication() -> None:
    """keepalived's own PASS advert through a VrrpNode: accepted with the seed's password,
    dropped as auth_failure with another, as auth_type_mismatch without authentication."""
    case = CASES["v2_pass_unicast"]
    pkt = case["packets"][0]
    payload = bytes.fromhex(pkt["payload_hex"])
    adv = decode(payload, family=4)
    assert adv.auth_data == b"1111\0\0\0\0"
    src, dst = IPv4Address(pkt["src"]), IPv4Address(pkt["dst"])
    for auth, expect in (
        ((C.AUTH_PASS, pass_auth_data("1111")), None),
        ((C.AUTH_PASS, pass_auth_data("2222")), "auth_failure"),
        ((C.AUTH_NONE, b""), "auth_type_mismatch"),
    ):
        node = VrrpNode()
        params = RouterParams(
            name="VI_1",
            vrid=adv.vrid,
            version=2,
            family=4,
            base_priority=99,
            advert_int_cs=adv.advert_int_cs,
            vips=adv.addresses,
            unicast_peers=(src,),
            auth_type=auth[0],
            auth_data=auth[1],
        )
        node.add_router(params, RouterLink(2, dst, bytes(6)))
        node.set_tracking("VI_1", TrackingChanged(offset=0), 0)
        node.start(0)
        effects = node.receive(Received(4, src, dst, 255, 2, payload), 10)
        counters = node.router("VI_1").counters
        if expect is None:
            assert counters.adverts_received == 1 and not counters.drops
            assert node.router("VI_1").master_addr == src
        else:
            assert counters.drops == {expect: 1}
            assert [e.reason for e in effects if isinstance(e, AdvertDropped)] == [expect]


def test_old_unicast_checksum_uses_the_group_address() -> None:
    case = CASES["v3_unicast_v4_old_checksum"]
    pkt = case["packets"][0]
    payload = bytes.fromhex(pkt["payload_hex"])
    src, peer = IPv4Address(pkt["src"]), IPv4Address(pkt["dst"])
    with pytest.raises(DecodeError) as ei:
        decode(payload, family=4, src=src, dst=peer)
    assert ei.value.reason == "bad_checksum"
    assert decode(payload, family=4, src=src, dst=C.VRRP_GROUP_V4).vrid == 55
    # and the modern unicast capture verifies only against the real peer
    modern = CASES["v3_unicast_v4"]["packets"][0]
    mp = bytes.fromhex(modern["payload_hex"])
    assert decode(mp, family=4, src=src, dst=peer).vrid == 54
    with pytest.raises(DecodeError):
        decode(mp, family=4, src=src, dst=C.VRRP_GROUP_V4)


def test_v3_checksum_as_v2_synthesised_from_capture() -> None:
    """keepalived 2.2.7 cannot send it; RFC-9568-style v2 checksum over the same fields."""
    pkt = CASES["v3_mcast_v4"]["packets"][0]
    payload = bytes.fromhex(pkt["payload_hex"])
    src, dst = IPv4Address(pkt["src"]), IPv4Address(pkt["dst"])
    adv = decode(payload, family=4, src=src, dst=dst)
    plain = encode(adv, family=4, src=src, dst=dst, v3_checksum_pseudo=False)
    assert plain[:6] == payload[:6] and plain[8:] == payload[8:] and plain[6:8] != payload[6:8]
    assert decode(plain, family=4, src=src, dst=dst, v3_checksum_pseudo=False) == adv
    with pytest.raises(DecodeError) as ei:
        decode(plain, family=4, src=src, dst=dst)
    assert ei.value.reason == "bad_checksum"
    with pytest.raises(DecodeError) as ei:
        decode(payload, family=4, src=src, dst=dst, v3_checksum_pseudo=False)
    assert ei.value.reason == "bad_checksum"


def test_mutated_captures_are_rejected(case: dict[str, Any]) -> None:
    exp = case["expected"]
    pkt = case["packets"][0]
    payload = bytes.fromhex(pkt["payload_hex"])
    args = csum_args(exp, pkt)
    for i in range(len(payload)):
        for bit in range(8):
            b = bytearray(payload)
            b[i] ^= 1 << bit
            with pytest.raises(DecodeError):
                decode(bytes(b), **args)
