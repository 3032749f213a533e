"""io/rtnl.py: rtnetlink messages built and parsed byte for byte (no kernel, no root)."""

from __future__ import annotations

import socket
import struct

import pytest

from vipkeeper.io import linuxconst as lc
from vipkeeper.io import rtnl
from vipkeeper.io.netlink import AddrEvent, LinkEvent, parse_addr_message, parse_link_message


def _nlmsg(kind: int, body: bytes, seq: int = 7, flags: int = 0) -> bytes:
    return struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body


NEWADDR_V4 = _nlmsg(
    lc.RTM_NEWADDR,
    bytes([socket.AF_INET, 24, 0x80, 0])
    + struct.pack("=i", 3)  # ifaddrmsg: family, /24, permanent, universe, #3
    + bytes.fromhex("0800 0100 ac140070")  # IFA_ADDRESS 172.20.0.112
    + bytes.fromhex("0800 0200 ac140070")  # IFA_LOCAL
    + bytes.fromhex("0900 0300 6574683000 000000")  # IFA_LABEL "eth0\0" + padding
    + bytes.fromhex("0800 0800 80000000"),  # IFA_FLAGS 0x80
)

NEWLINK = _nlmsg(
    lc.RTM_NEWLINK,
    struct.pack("=BxHiII", 0, 1, 2, lc.IFF_UP | lc.IFF_RUNNING, 0)
    + bytes.fromhex("0900 0300 6574683000 000000")  # IFLA_IFNAME "eth0"
    + bytes.fromhex("0a00 0100 020000000001 0000")  # IFLA_ADDRESS 02:00:00:00:00:01
    + bytes.fromhex("0800 0400 dc050000"),  # IFLA_MTU 1500
)


def test_parse_address_message():
    [msg] = rtnl.parse_messages(NEWADDR_V4)
    assert msg["header"]["type"] == lc.RTM_NEWADDR and msg["header"]["sequence_number"] == 7
    assert (msg["family"], msg["prefixlen"], msg["index"]) == (socket.AF_INET, 24, 3)
    assert (msg["address"], msg["local"], msg["label"], msg["IFA_FLAGS"]) == ("172.20.0.112",) * 2 + ("eth0", 0x80)
    ev = parse_addr_message(msg)
    assert ev == AddrEvent(3, ev.ip, 24, False, 0x80) and str(ev.ip) == "172.20.0.112"


def test_parse_link_message_and_two_messages_in_one_datagram():
    msgs = list(rtnl.parse_messages(NEWLINK + NEWADDR_V4))
    assert [m["header"]["type"] for m in msgs] == [lc.RTM_NEWLINK, lc.RTM_NEWADDR]
    link = msgs[0]
    assert (link["index"], link["ifname"], link["address"], link["mtu"]) == (
        2,
        "eth0",
        bytes.fromhex("020000000001"),
        1500,
    )
    assert parse_link_message(link) == LinkEvent(2, "eth0", True)


def test_error_and_ack():
    [err] = rtnl.parse_messages(_nlmsg(lc.NLMSG_ERROR, struct.pack("=i", -17) + b"\0" * 16))
    assert err["error"] == 17
    [ack] = rtnl.parse_messages(_nlmsg(lc.NLMSG_ERROR, struct.pack("=i", 0) + b"\0" * 16))
    assert ack["error"] == 0


@pytest.mark.parametrize(
    "data",
    [
        NEWADDR_V4[:-3],  # message longer than the datagram
        struct.pack("=IHHII", 8, lc.RTM_NEWADDR, 0, 0, 0),  # nlmsg_len below the header
        _nlmsg(lc.RTM_NEWADDR, b"\2\0"),  # short ifaddrmsg
        _nlmsg(lc.RTM_NEWADDR, bytes(8) + bytes.fromhex("ff00 0100")),  # rtattr past the end
    ],
)
def test_truncated_messages_raise_value_error(data):
    with pytest.raises(ValueError):
        list(rtnl.parse_messages(data))


class FakeSock:
    def __init__(self, replies):
        self.sent: list[bytes] = []
        self.replies = replies

    def send(self, data):
        self.sent.append(data)
        return len(data)

    def recv(self, _n):
        return self.replies.pop(0)

    def close(self):
        pass


def _client(replies):
    rt = rtnl.RtnlSocket.__new__(rtnl.RtnlSocket)
    rt._sock = FakeSock(replies)
    rt._seq = 0
    return rt


def test_add_ipv4_address_golden_bytes_and_eexist():
    ack = _nlmsg(lc.NLMSG_ERROR, struct.pack("=i", 0) + bytes(16), seq=1)
    rt = _client([ack, _nlmsg(lc.NLMSG_ERROR, struct.pack("=i", -17) + bytes(16), seq=2)])
    rt.addr_change(True, 3, bytes([172, 20, 0, 115]), 32, broadcast=bytes(4), label="eth0:1")
    assert rt._sock.sent[0] == (
        struct.pack("=IHHII", 60, lc.RTM_NEWADDR, 0x1 | 0x4 | 0x400 | 0x200, 1, 0)
        + bytes([socket.AF_INET, 32, 0, 0])
        + struct.pack("=i", 3)
        + bytes.fromhex("0800 0200 ac140073")  # IFA_LOCAL
        + bytes.fromhex("0800 0100 ac140073")  # IFA_ADDRESS
        + bytes.fromhex("0800 0400 00000000")  # IFA_BROADCAST
        + bytes.fromhex("0b00 0300 657468303a3100")  # IFA_LABEL "eth0:1\0", padded
        + b"\0"
    )
    with pytest.raises(OSError) as exc:
        rt.addr_change(True, 3, bytes([172, 20, 0, 115]), 32)
    assert exc.value.errno == 17


def test_ipv6_nodad_delete_and_dump_skip_stale_answers():
    stale = _nlmsg(lc.NLMSG_ERROR, struct.pack("=i", -110) + bytes(16), seq=99)  # an earlier request's answer
    done = _nlmsg(lc.NLMSG_DONE, struct.pack("=i", 0), seq=2)
    ack = _nlmsg(lc.NLMSG_ERROR, struct.pack("=i", 0) + bytes(16), seq=1)
    dump_part = NEWADDR_V4.replace(struct.pack("=I", 7), struct.pack("=I", 2), 1)
    rt = _client([stale + ack, dump_part, done])
    rt.addr_change(True, 4, socket.inet_pton(socket.AF_INET6, "fd00::5"), 128, flags=lc.IFA_F_NODAD)
    sent = rt._sock.sent[0]
    assert sent[16:24] == bytes([socket.AF_INET6, 128, lc.IFA_F_NODAD, 0]) + struct.pack("=i", 4)
    assert sent.endswith(bytes.fromhex("0800 0800 02000000"))  # IFA_FLAGS NODAD
    assert [m["address"] for m in rt.addr_dump()] == ["172.20.0.112"]
