"""L2Sender: a gratuitous ARP from A reaches the observer byte for byte."""

from __future__ import annotations

import errno
import ipaddress
import struct
import time

import pytest

from tests.conftest import require_binary
from tests.netns.helpers import run_json

pytestmark = pytest.mark.netns


def garp(mac: bytes, ip: str) -> bytes:
    """Gratuitous ARP as keepalived sends it: request to broadcast, sender = target = VIP."""
    vip = ipaddress.IPv4Address(ip).packed
    return b"\xff" * 6 + mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + vip + b"\0" * 6 + vip


def test_l2_frame_reaches_observer(lab):
    frame = garp(lab.mac("A"), "172.20.0.115")
    require_binary("tcpdump")
    cap = lab.capture("observer", "arp")
    got = run_json(lab, "A", "l2_probe.py", "eth0", frame.hex(), "--repeat", "2")
    assert got["results"] == [True, True] and got["send_errors"] == 0
    assert got["ifindex"] == lab.link("A")["ifindex"]
    time.sleep(0.1)
    frames = [f for _ts, f in cap.stop()]
    assert frames.count(frame) == 2, [f.hex() for f in frames]


def test_l2_send_on_down_link_returns_false(lab):
    lab.set_link("A", False)
    got = run_json(lab, "A", "l2_probe.py", "eth0", garp(lab.mac("A"), "172.20.0.115").hex())
    assert got["results"] == [False] and got["send_errors"] == 1
    assert got["errno"] == errno.ENETDOWN
    short = run_json(lab, "A", "l2_probe.py", "eth0", "ffff")
    assert short["results"] == [False] and short["errno"] == errno.EINVAL
