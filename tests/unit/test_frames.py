"""Gratuitous ARP and unsolicited NA frames: golden bytes from keepalived, fields, checksums."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vipkeeper.core.frames import gratuitous_arp, ipv6_multicast_mac, parse_mac, unsolicited_na

GOLDEN = Path(__file__).parent / "golden"
MAC = bytes.fromhex("525400123401")


def naive_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(w for (w,) in struct.iter_unpack("!H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


# --------------------------------------------------------------------------- golden


def test_garp_matches_keepalived_byte_for_byte() -> None:
    g = json.loads((GOLDEN / "garp_172.20.0.115.json").read_text())
    assert g["captured_from"].startswith("Keepalived v2.2.7")
    frame = gratuitous_arp(parse_mac(g["mac"]), IPv4Address(g["ip"]))
    assert frame.hex() == g["frame_hex"]


def test_na_matches_keepalived_byte_for_byte() -> None:
    n = json.loads((GOLDEN / "na_fd00--115.json").read_text())
    assert n["captured_from"].startswith("Keepalived v2.2.7")
    frame = unsolicited_na(parse_mac(n["mac"]), IPv6Address(n["ip"]), router=n["ipv6_forwarding"])
    assert frame.hex() == n["frame_hex"]


# --------------------------------------------------------------------------- field by field


def test_garp_fields() -> None:
    vip = IPv4Address("172.20.0.115")
    f = gratuitous_arp(MAC, vip)
    assert len(f) == 42
    dst, src, etype = struct.unpack_from("!6s6sH", f)
    assert (dst, src, etype) == (b"\xff" * 6, MAC, 0x0806)
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = struct.unpack_from("!HHBBH6s4s6s4s", f, 14)
    assert (htype, ptype, hlen, plen, op) == (1, 0x0800, 6, 4, 1)  # Ethernet, IPv4, request
    assert sha == MAC and spa == tpa == vip.packed
    assert tha == b"\xff" * 6  # keepalived: broadcast, not zeros


def parse_na(f: bytes) -> dict[str, object]:
    dst, src, etype = struct.unpack_from("!6s6sH", f)
    vtf, plen, nxt, hlim = struct.unpack_from("!IHBB", f, 14)
    ip_src, ip_dst = IPv6Address(f[22:38]), IPv6Address(f[38:54])
    icmp = f[54:]
    itype, code, csum, flags = struct.unpack_from("!BBHI", icmp)
    target = IPv6Address(icmp[8:24])
    opt_type, opt_len = icmp[24], icmp[25]
    lladdr = icmp[26:32]
    pseudo = ip_src.packed + ip_dst.packed + struct.pack("!I", len(icmp)) + b"\0\0\0\x3a"
    return {
        "eth": (dst, src, etype),
        "ver": vtf >> 28,
        "tclass": (vtf >> 20) & 0xFF,
        "flow": vtf & 0xFFFFF,
        "plen": plen,
        "nxt": nxt,
        "hlim": hlim,
        "src": ip_src,
        "dst": ip_dst,
        "type": itype,
        "code": code,
        "csum_ok": naive_checksum(pseudo + icmp) == 0,
        "csum": csum,
        "R": bool(flags & 0x80000000),
        "S": bool(flags & 0x40000000),
        "O": bool(flags & 0x20000000),
        "reserved": flags & 0x1FFFFFFF,
        "target": target,
        "opt": (opt_type, opt_len),
        "lladdr": lladdr,
        "len": len(f),
    }


def test_na_fields() -> None:
    vip = IPv6Address("fd00::115")
    p = parse_na(unsolicited_na(MAC, vip))
    assert p["eth"] == (bytes.fromhex("333300000001"), MAC, 0x86DD)
    assert (p["ver"], p["tclass"], p["flow"], p["nxt"], p["hlim"]) == (6, 0, 0, 58, 255)
    assert p["plen"] == 32 and p["len"] == 14 + 40 + 32
    assert p["src"] == vip  # keepalived sends from the VIP itself
    assert p["dst"] == IPv6Address("ff02::1")
    assert (p["type"], p["code"]) == (136, 0)
    assert p["csum_ok"]
    assert (p["R"], p["S"], p["O"], p["reserved"]) == (False, False, True, 0)
    assert p["target"] == vip
    assert p["opt"] == (2, 1) and p["lladdr"] == MAC


def test_na_router_flag_and_source() -> None:
    vip = IPv6Address("2001:db8::115")
    r = parse_na(unsolicited_na(MAC, vip, router=True))
    assert r["R"] and r["O"] and not r["S"] and r["csum_ok"]
    ll = IPv6Address("fe80::5054:ff:fe12:3401")
    s = parse_na(unsolicited_na(MAC, vip, src=ll))
    assert s["src"] == ll and s["target"] == vip and s["csum_ok"]


@given(st.binary(min_size=6, max_size=6), st.integers(0, 2**128 - 1), st.booleans())
def test_na_checksum_always_valid(mac: bytes, ip: int, router: bool) -> None:
    p = parse_na(unsolicited_na(mac, IPv6Address(ip), router=router))
    assert p["csum_ok"] and p["lladdr"] == mac and p["R"] == router


@given(st.binary(min_size=6, max_size=6), st.integers(0, 2**32 - 1))
def test_garp_any_address(mac: bytes, ip: int) -> None:
    f = gratuitous_arp(mac, IPv4Address(ip))
    assert len(f) == 42 and f[6:12] == f[22:28] == mac and f[28:32] == f[38:42] == IPv4Address(ip).packed


# --------------------------------------------------------------------------- helpers and errors


def test_parse_mac() -> None:
    assert parse_mac("52:54:00:12:34:01") == MAC
    assert parse_mac("52-54-00-12-34-01") == MAC
    assert parse_mac("0:0:5e:0:1:33") == bytes.fromhex("00005e000133")
    for bad in ("", "52:54:00:12:34", "52:54:00:12:34:01:02", "zz:54:00:12:34:01", "525:4:00:12:34:01"):
        with pytest.raises(ValueError):
            parse_mac(bad)


def test_ipv6_multicast_mac() -> None:
    assert ipv6_multicast_mac(IPv6Address("ff02::12")) == bytes.fromhex("333300000012")
    assert ipv6_multicast_mac(IPv6Address("ff02::1:ff12:3401")) == bytes.fromhex("3333ff123401")


def test_frame_argument_errors() -> None:
    with pytest.raises(ValueError):
        gratuitous_arp(MAC[:5], IPv4Address("10.0.0.1"))
    with pytest.raises(ValueError):
        gratuitous_arp(MAC, IPv6Address("::1"))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        unsolicited_na(MAC + b"\0", IPv6Address("::1"))
    with pytest.raises(ValueError):
        unsolicited_na(MAC, IPv4Address("10.0.0.1"))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- Wireshark as oracle


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_wireshark_reads_our_frames(tmp_path: Path) -> None:
    frames = [
        gratuitous_arp(MAC, IPv4Address("172.20.0.115")),
        unsolicited_na(MAC, IPv6Address("fd00::115")),
        unsolicited_na(MAC, IPv6Address("2001:db8::115"), router=True),
    ]
    pcap = tmp_path / "frames.pcap"
    pcap.write_bytes(
        struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
        + b"".join(struct.pack("<IIII", 0, 0, len(f), len(f)) + f for f in frames)
    )
    fields = [
        "arp.opcode",
        "arp.isgratuitous",
        "arp.src.proto_ipv4",
        "arp.dst.hw_mac",
        "icmpv6.type",
        "icmpv6.checksum.status",
        "icmpv6.nd.na.flag.r",
        "icmpv6.nd.na.flag.s",
        "icmpv6.nd.na.flag.o",
        "icmpv6.nd.na.target_address",
        "icmpv6.opt.linkaddr",
        "ipv6.hlim",
    ]
    args = ["tshark", "-n", "-r", str(pcap), "-T", "fields", "-E", "separator=/t"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout
    norm = {"True": "1", "False": "0"}  # newer tshark prints booleans as words
    rows = [dict(zip(fields, (norm.get(v, v) for v in line.split("\t")))) for line in out.splitlines()]
    assert len(rows) == 3
    arp, na, na_r = rows
    assert (arp["arp.opcode"], arp["arp.isgratuitous"], arp["arp.src.proto_ipv4"]) == ("1", "1", "172.20.0.115")
    assert arp["arp.dst.hw_mac"] == "ff:ff:ff:ff:ff:ff"
    for row, target, r in ((na, "fd00::115", "0"), (na_r, "2001:db8::115", "1")):
        assert row["icmpv6.type"] == "136"
        assert row["icmpv6.checksum.status"] == "1"  # Good
        assert (row["icmpv6.nd.na.flag.r"], row["icmpv6.nd.na.flag.s"], row["icmpv6.nd.na.flag.o"]) == (r, "0", "1")
        assert row["icmpv6.nd.na.target_address"] == target
        assert row["icmpv6.opt.linkaddr"] == "52:54:00:12:34:01"
        assert row["ipv6.hlim"] == "255"
