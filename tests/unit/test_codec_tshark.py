"""Cross-check the encoder against Wireshark's VRRP dissector (skipped without tshark)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest

from vipkeeper.core import constants as C
from vipkeeper.core.codec import Advertisement, build_ipv4_header, encode, pass_auth_data

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")

MAC_A = bytes.fromhex("525400123401")
SRC4, PEER4 = IPv4Address("172.20.0.112"), IPv4Address("172.20.0.113")
SRC6 = IPv6Address("fe80::5054:ff:fe12:3401")

FIELDS = [
    "vrrp.version",
    "vrrp.virt_rtr_id",
    "vrrp.prio",
    "vrrp.addr_count",
    "vrrp.checksum.status",
    "vrrp.adver_int",
    "vrrp.short_adver_int",
    "vrrp.auth_type",
    "vrrp.auth_string",
    "vrrp.ip_addr",
    "vrrp.ipv6_addr",
]


def write_pcap(path: Path, frames: list[bytes]) -> None:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for f in frames:
        out.append(struct.pack("<IIII", 0, 0, len(f), len(f)) + f)
    path.write_bytes(b"".join(out))


def tshark_fields(path: Path, fields: list[str], *prefs: str) -> list[list[str]]:
    args = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "separator=/t"]
    for p in prefs:
        args += ["-o", p]
    for f in fields:
        args += ["-e", f]
    res = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    return [line.split("\t") for line in res.stdout.splitlines()]


def v4_frame(payload: bytes, src: IPv4Address, dst: IPv4Address) -> bytes:
    eth = (bytes.fromhex("01005e000012") if dst.is_multicast else bytes(6)) + MAC_A + b"\x08\x00"
    return eth + build_ipv4_header(src, dst, len(payload)) + payload


def v6_frame(payload: bytes, src: IPv6Address, dst: IPv6Address) -> bytes:
    eth = b"\x33\x33" + dst.packed[12:] + MAC_A + b"\x86\xdd"
    ip6 = struct.pack("!IHBB", (6 << 28) | (0xC0 << 20), len(payload), 112, 255) + src.packed + dst.packed
    return eth + ip6 + payload


CASES = [
    # (advert, family, src, dst)
    (Advertisement(2, 51, 100, (IPv4Address("172.20.0.115"),), 100, 1, pass_auth_data("1111")), 4, SRC4, PEER4),
    (Advertisement(2, 56, 120, tuple(IPv4Address(f"10.1.0.{i}") for i in range(1, 6)), 300), 4, SRC4, C.VRRP_GROUP_V4),
    (
        Advertisement(3, 52, 150, (IPv4Address("172.20.0.116"), IPv4Address("172.20.0.117")), 100),
        4,
        SRC4,
        C.VRRP_GROUP_V4,
    ),
    (Advertisement(3, 54, 0, (IPv4Address("172.20.0.118"),), 4095), 4, SRC4, PEER4),
    (Advertisement(3, 53, 255, (IPv6Address("fd00::115"), IPv6Address("2001:db8::115")), 25), 6, SRC6, C.VRRP_GROUP_V6),
    (Advertisement(3, 58, 1, (IPv6Address("fd00::116"),), 1), 6, IPv6Address("fd00::112"), IPv6Address("fd00::113")),
]


def frame_for(adv: Advertisement, family: int, src, dst, pseudo: bool = True) -> bytes:  # type: ignore[no-untyped-def]
    payload = encode(adv, family=family, src=src, dst=dst, v3_checksum_pseudo=pseudo)
    return v4_frame(payload, src, dst) if family == 4 else v6_frame(payload, src, dst)


def test_wireshark_reads_our_adverts(tmp_path: Path) -> None:
    pcap = tmp_path / "adverts.pcap"
    write_pcap(pcap, [frame_for(*c) for c in CASES])
    rows = tshark_fields(pcap, FIELDS)
    assert len(rows) == len(CASES)
    for (adv, family, _src, _dst), row in zip(CASES, rows):
        got = dict(zip(FIELDS, row))
        assert got["vrrp.version"] == str(adv.version)
        assert got["vrrp.virt_rtr_id"] == str(adv.vrid)
        assert got["vrrp.prio"] == str(adv.priority)
        assert got["vrrp.addr_count"] == str(len(adv.addresses))
        assert got["vrrp.checksum.status"] == "1", got  # 1 = Good
        if adv.version == 2:
            assert got["vrrp.adver_int"] == str(adv.advert_int_cs // 100)
            assert got["vrrp.auth_type"] == str(adv.auth_type)
            if adv.auth_type == 1:
                assert got["vrrp.auth_string"] == adv.auth_data.rstrip(b"\0").decode()
        else:
            assert got["vrrp.short_adver_int"] == str(adv.advert_int_cs)
        addrs = got["vrrp.ip_addr"] if family == 4 else got["vrrp.ipv6_addr"]
        assert addrs.split(",") == [str(a) for a in adv.addresses]


def test_wireshark_v3_checksum_as_v2_preference(tmp_path: Path) -> None:
    adv = CASES[2][0]
    pcap = tmp_path / "asv2.pcap"
    write_pcap(pcap, [frame_for(adv, 4, SRC4, C.VRRP_GROUP_V4, pseudo=False)])
    fields = ["vrrp.checksum.status"]
    assert tshark_fields(pcap, fields) == [["0"]]  # Bad with Wireshark's default (pseudo-header)
    assert tshark_fields(pcap, fields, "vrrp.v3_checksum_as_in_v2:TRUE") == [["1"]]
