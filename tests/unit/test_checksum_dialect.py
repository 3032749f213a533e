"""keepalived's VRRPv3 IPv4 unicast checksum dialects, on adverts captured from keepalived 2.2.7."""

from __future__ import annotations

import json
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from vipkeeper.config.load import parse_string
from vipkeeper.core import codec
from vipkeeper.core.checksum_dialect import UnicastChecksum
from vipkeeper.core.constants import VRRP_GROUP_V4
from vipkeeper.errors import DecodeError

GOLDEN = Path(__file__).parent / "golden"


def capture(case: str) -> tuple[bytes, IPv4Address, IPv4Address]:
    pkt = json.loads((GOLDEN / f"advert_{case}.json").read_text())["packets"][0]
    return bytes.fromhex(pkt["payload_hex"]), IPv4Address(pkt["src"]), IPv4Address(pkt["dst"])


OLD = capture("v3_unicast_v4_old_checksum")  # keepalived with old_unicast_checksum
NEW = capture("v3_unicast_v4")


def dialect(mode: str) -> UnicastChecksum:
    return UnicastChecksum.for_instance(mode=mode, version=3, family=4, unicast=True, v3_checksum_as_v2=False)


def rx(d: UnicastChecksum, cap: tuple[bytes, IPv4Address, IPv4Address]) -> tuple[codec.Advertisement, bool]:
    payload, src, dst = cap
    return d.decode(payload, family=4, src=src, dst=dst)


def test_auto_switches_to_the_old_form_on_the_first_old_advert_and_stays() -> None:
    d = dialect("auto")
    assert not d.old and d.pseudo_dst(NEW[2]) == NEW[2]
    adv, switched = rx(d, NEW)
    assert adv.vrid == 54 and not switched and not d.old
    adv, switched = rx(d, OLD)
    assert adv.vrid == 55 and switched and d.old
    assert d.pseudo_dst(OLD[2]) == VRRP_GROUP_V4
    assert rx(d, OLD)[1] is False  # already switched
    with pytest.raises(DecodeError) as ei:  # as keepalived: no way back until restart
        rx(d, NEW)
    assert ei.value.reason == "bad_checksum"


def test_never_refuses_the_old_form() -> None:
    d = dialect("never")
    assert rx(d, NEW)[0].vrid == 54
    with pytest.raises(DecodeError) as ei:
        rx(d, OLD)
    assert ei.value.reason == "bad_checksum" and not d.old


def test_always_sends_and_accepts_only_the_old_form() -> None:
    d = dialect("always")
    assert d.old
    adv, switched = rx(d, OLD)
    assert adv.vrid == 55 and not switched
    with pytest.raises(DecodeError):
        rx(d, NEW)
    # what we send verifies where keepalived (old_unicast_checksum) verifies it
    payload, src, peer = OLD
    wire = codec.encode(adv, family=4, src=src, dst=d.pseudo_dst(peer))
    assert wire == payload


@pytest.mark.parametrize("kw", [dict(version=2), dict(family=6), dict(unicast=False), dict(v3_checksum_as_v2=True)])
def test_only_v3_ipv4_unicast_with_pseudo_header_is_concerned(kw: dict) -> None:
    args = dict(mode="always", version=3, family=4, unicast=True, v3_checksum_as_v2=False) | kw
    d = UnicastChecksum.for_instance(**args)
    assert not d.old and d.pseudo_dst(NEW[2]) == NEW[2]
    with pytest.raises(DecodeError):
        rx(UnicastChecksum.for_instance(**(args | {"mode": "auto"})), OLD)


def test_a_corrupt_advert_is_still_a_bad_checksum() -> None:
    payload, src, dst = OLD
    bad = payload[:-1] + bytes([payload[-1] ^ 1])
    d = dialect("auto")
    with pytest.raises(DecodeError) as ei:
        d.decode(bad, family=4, src=src, dst=dst)
    assert ei.value.reason == "bad_checksum" and not d.old


BASE = "interface eth0\nvirtual_router_id 5\nversion 3\nunicast_src_ip 10.0.0.1\nunicast_peer {\n10.0.0.2\n}\n"


@pytest.mark.parametrize(
    "line, mode, warned",
    [
        ("", "auto", False),
        ("old_unicast_checksum\n", "always", False),
        ("old_unicast_checksum never\n", "never", False),
        ("old_unicast_checksum sometimes\n", "auto", True),
    ],
)
def test_parser_old_unicast_checksum(line: str, mode: str, warned: bool) -> None:
    config, diagnostics = parse_string(f"vrrp_instance V {{\n{BASE}{line}virtual_ipaddress {{\n10.0.0.9\n}}\n}}\n")
    assert config.instances[0].old_unicast_checksum == mode
    assert [d.severity for d in diagnostics] == (["warning"] if warned else [])
    if warned:
        assert "unknown old_unicast_checksum mode 'sometimes'" in diagnostics[0].message
