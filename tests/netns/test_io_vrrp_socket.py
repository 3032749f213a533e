"""VrrpSocket on the wire: probes run inside lab namespaces."""

from __future__ import annotations

import errno
import struct
import time
from ipaddress import IPv6Address

import pytest

from tests.conftest import require_binary
from tests.netns.helpers import run_json, start

pytestmark = pytest.mark.netns

# VRRPv3 advert, VRID 51, priority 100, 1 address, 1 s, checksum field left 0
ADV4 = bytes.fromhex("3133640100640000") + bytes([172, 20, 0, 115])
ADV6 = bytes.fromhex("3133640100640000") + IPv6Address("fd00:20::115").packed


def ifindex(lab, host: str) -> int:
    return int(lab.link(host)["ifindex"])


def link_local(lab, host: str) -> str:
    return next(a for a in lab.addresses(host) if a.startswith("fe80:"))


def ipv6_checksum_ok(src: str, dst: str, payload: bytes) -> bool:
    """RFC 5798 §5.2.8 / RFC 8200 §8.1: the sum over pseudo-header + message is 0xffff."""
    data = IPv6Address(src).packed + IPv6Address(dst).packed + struct.pack("!I3xB", len(payload), 112) + payload
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def ip4_frames(frames):
    return [f for _ts, f in frames if f[12:14] == b"\x08\x00" and f[23] == 112]


def ip6_frames(frames):
    return [f for _ts, f in frames if f[12:14] == b"\x86\xdd" and f[20] == 112]


def test_ipv4_multicast_received_with_ttl_255(lab):
    rx = start(
        lab, "B", "vrrp_probe.py", "recv", "--family", "4", "--join", "224.0.0.18", "--count", "1", "--timeout", "10"
    )
    assert rx.key("ready") is True
    require_binary("tcpdump")
    cap = lab.capture("observer", "ip proto 112")
    sent = run_json(
        lab,
        "A",
        "vrrp_probe.py",
        "send",
        "--family",
        "4",
        "--dst",
        "224.0.0.18",
        "--payload",
        ADV4.hex(),
        "--repeat",
        "3",
    )
    assert sent["results"] == [True, True, True]
    assert sent["counters"]["send_errors"] == 0
    pkt = rx.key("pkt", 10)
    assert pkt == {
        "family": 4,
        "src": "172.20.0.112",
        "dst": "224.0.0.18",
        "ttl": 255,
        "ifindex": ifindex(lab, "B"),
        "payload": ADV4.hex(),
        "types": ["IPv4Address", "IPv4Address"],
    }
    time.sleep(0.1)
    frames = ip4_frames(cap.stop())
    assert frames, "observer saw no VRRP frame"
    f = frames[0]
    assert f[0:6] == bytes.fromhex("01005e000012")  # RFC 1112 multicast MAC of 224.0.0.18
    assert f[6:12] == lab.mac("A")
    assert f[15] == 0xC0  # TOS: DSCP CS6
    assert f[22] == 255  # TTL
    assert f[26:30] == bytes([172, 20, 0, 112]) and f[30:34] == bytes([224, 0, 0, 18])
    assert f[34 : 34 + len(ADV4)] == ADV4


def test_ipv4_unicast_source_chosen_per_packet(lab):
    lab.run("A", "ip", "addr", "add", "172.20.0.120/24", "dev", "eth0")
    rx = start(lab, "B", "vrrp_probe.py", "recv", "--family", "4", "--count", "2", "--timeout", "10")
    rx.key("ready")
    p1, p2 = ADV4[:1] + b"\x01" + ADV4[2:], ADV4[:1] + b"\x02" + ADV4[2:]
    for src, payload in (("172.20.0.120", p1), ("172.20.0.112", p2)):
        sent = run_json(
            lab, "A", "vrrp_probe.py", "send", "--dst", "172.20.0.113", "--src", src, "--payload", payload.hex()
        )
        assert sent["results"] == [True]
    got = [rx.key("pkt", 10), rx.key("pkt", 10)]
    by_payload = {g["payload"]: g for g in got}
    assert by_payload[p1.hex()]["src"] == "172.20.0.120"
    assert by_payload[p2.hex()]["src"] == "172.20.0.112"
    for g in got:
        assert g["dst"] == "172.20.0.113" and g["ttl"] == 255 and g["ifindex"] == ifindex(lab, "B")


def test_ipv6_multicast_from_link_local_with_kernel_checksum(lab):
    rx = start(
        lab, "B", "vrrp_probe.py", "recv", "--family", "6", "--join", "ff02::12", "--count", "1", "--timeout", "10"
    )
    assert rx.key("ready") is True
    require_binary("tcpdump")
    cap = lab.capture("observer", "ip6 proto 112")
    sent = run_json(
        lab,
        "A",
        "vrrp_probe.py",
        "send",
        "--family",
        "6",
        "--dst",
        "ff02::12",
        "--payload",
        ADV6.hex(),
        "--repeat",
        "3",
    )
    assert sent["results"] == [True, True, True]
    pkt = rx.key("pkt", 10)
    src = link_local(lab, "A")
    assert (pkt["family"], pkt["src"], pkt["dst"], pkt["ttl"]) == (6, src, "ff02::12", 255)
    assert pkt["ifindex"] == ifindex(lab, "B")
    assert pkt["types"] == ["IPv6Address", "IPv6Address"]
    payload = bytes.fromhex(pkt["payload"])
    assert payload[:6] + payload[8:] == ADV6[:6] + ADV6[8:]
    assert payload[6:8] != b"\0\0", "the kernel did not fill the checksum"
    assert ipv6_checksum_ok(src, "ff02::12", payload)
    time.sleep(0.1)
    frames = ip6_frames(cap.stop())
    assert frames
    f = frames[0]
    assert f[0:6] == bytes.fromhex("333300000012")
    tclass = ((f[14] & 0x0F) << 4) | (f[15] >> 4)
    assert tclass == 0xC0
    assert f[21] == 255  # hop limit


def test_ipv6_bad_checksum_dropped_by_kernel(lab):
    rx = start(
        lab, "B", "vrrp_probe.py", "recv", "--family", "6", "--join", "ff02::12", "--count", "1", "--timeout", "10"
    )
    rx.key("ready")
    bad = ADV6[:1] + b"\x34" + ADV6[2:6] + b"\x12\x34" + ADV6[8:]  # VRID 52, wrong checksum
    sent = run_json(
        lab,
        "A",
        "vrrp_probe.py",
        "send",
        "--family",
        "6",
        "--dst",
        "ff02::12",
        "--payload",
        bad.hex(),
        "--repeat",
        "2",
        "--no-kernel-checksum",
    )
    assert sent["results"] == [True, True]
    time.sleep(0.3)
    run_json(lab, "A", "vrrp_probe.py", "send", "--family", "6", "--dst", "ff02::12", "--payload", ADV6.hex())
    pkt = rx.key("pkt", 10)
    assert bytes.fromhex(pkt["payload"])[1] == 0x33, "a bad-checksum packet was delivered"


def test_send_errors_are_counted_not_raised(lab):
    # a source address the host does not have
    sent = run_json(
        lab, "A", "vrrp_probe.py", "send", "--dst", "172.20.0.113", "--src", "172.20.0.99", "--payload", ADV4.hex()
    )
    assert sent["results"] == [False] and sent["counters"]["send_errors"] == 1
    assert sent["counters"]["last_send_errno"] == errno.ENETUNREACH  # what Linux 6.x says
    # (no route is not an error here: with SO_BINDTODEVICE the kernel assumes the
    # destination is on link and resolves it with ARP)
    # link down
    lab.set_link("A", False)
    for family, dst in ((4, "224.0.0.18"), (6, "ff02::12")):
        sent = run_json(
            lab,
            "A",
            "vrrp_probe.py",
            "send",
            "--family",
            family,
            "--dst",
            dst,
            "--payload",
            (ADV4 if family == 4 else ADV6).hex(),
        )
        assert sent["results"] == [False] and sent["counters"]["send_errors"] == 1, sent
        assert sent["counters"]["last_send_errno"] == errno.ENETUNREACH, sent  # Linux 6.x, v4 and v6


def test_callback_exception_does_not_break_the_socket(lab):
    rx = start(
        lab, "B", "vrrp_probe.py", "recv", "--join", "224.0.0.18", "--count", "1", "--timeout", "10", "--raise-first"
    )
    rx.key("ready")
    run_json(
        lab,
        "A",
        "vrrp_probe.py",
        "send",
        "--dst",
        "224.0.0.18",
        "--payload",
        ADV4.hex(),
        "--repeat",
        "3",
        "--interval",
        "0.05",
    )
    assert rx.key("pkt", 10)["payload"] == ADV4.hex()
    counters = rx.key("counters", 10)
    assert counters["callback_errors"] == 1
    assert counters["recv_errors"] == 0
