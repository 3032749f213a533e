"""keepalived's virtual address options (vrrp_ipaddress.c), its refused keywords, and
``native_ipv6``: parsed as keepalived 2.2.7 parses them, carried to the netlink request."""

from __future__ import annotations

import ipaddress
import socket
import struct

import pytest

from tests.unit.test_rtnl import _client, _nlmsg
from vipkeeper.config.load import parse_string
from vipkeeper.config.model import VirtualAddress
from vipkeeper.daemon.effects import address_options
from vipkeeper.io import linuxconst as lc


def parse(text: str):
    config, diagnostics = parse_string(text, path="t.conf", config_id="testhost")
    return config, [(d.severity, d.line, d.message) for d in diagnostics]


def vips(*lines: str, extra: str = "") -> tuple[list[VirtualAddress], list[tuple[str, int, str]]]:
    body = "\n".join(f"        {line}" for line in lines)
    config, diags = parse(
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    priority 100\n"
        f"{extra}    virtual_ipaddress {{\n{body}\n    }}\n}}\n"
    )
    return (list(config.instances[0].vips) if config.instances else []), diags


def test_every_option_is_parsed() -> None:
    got, diags = vips("10.0.0.5 dev eth0 home noprefixroute peer 10.0.0.6 no_track")
    assert diags == []
    v = got[0]
    assert (v.address, v.peer) == (ipaddress.ip_interface("10.0.0.5/32"), ipaddress.ip_address("10.0.0.6"))
    assert (v.home, v.noprefixroute, v.no_track, v.nodad, v.mngtmpaddr, v.autojoin) == (
        True, True, True, True, False, False,
    )  # fmt: skip
    got, diags = vips("fd00::6/64 -nodad mngtmpaddr autojoin preferred_lft 30")
    assert [d for d in diags if "link-local" not in d[2]] == []
    assert (got[0].nodad, got[0].mngtmpaddr, got[0].autojoin, got[0].preferred_lft_s) == (False, True, True, 30)


def test_ipv6_preferred_lft_defaults_as_keepalived() -> None:
    """A /128 is added deprecated (preferred_lft 0: never a source address), others forever."""
    got, _ = vips("fd00::5/128", "fd00::6/64", "fd00::7/128 preferred_lft forever", "fd00::8 preferred_lft 9")
    assert [v.preferred_lft_s for v in got] == [0, None, None, 9]
    got, _ = vips("10.0.0.5/32 preferred_lft 7")
    assert got[0].preferred_lft_s is None  # IPv4 has no preferred lifetime in keepalived's request


def test_peer_takes_the_full_prefix_and_drops_a_broadcast_with_keepalived_s_messages() -> None:
    got, diags = vips("10.0.0.9/24 brd + peer 10.0.0.10", "10.0.0.11 peer 10.0.0.12/30")
    assert got[0].address == ipaddress.ip_interface("10.0.0.9/32") and got[0].brd is None
    assert got[1].peer is None  # keepalived parses the peer without a prefix
    assert diags == [
        ("warning", 6, "Cannot specify address prefix when specifying peer address - ignoring"),
        ("warning", 6, "Cannot specify broadcast and peer addresses - ignoring broadcast address"),
        ("warning", 7, "Invalid peer address 10.0.0.12/30"),
    ]


def test_bad_values_are_reported_at_their_line() -> None:
    _, diags = vips("10.0.0.5 peer fd00::1", "fd00::5 preferred_lft soon")
    assert ("warning", 6, "Peer address fd00::1 does not match address family") in diags
    assert ("warning", 7, "preferred_lft soon is invalid") in diags


@pytest.mark.parametrize(
    ("line", "keyword"),
    [
        ("    track_bfd {\n        bfd1\n    }\n", "track_bfd"),
        ("    use_ipvlan\n", "use_ipvlan"),
        ("    vrf red\n", "vrf"),
    ],
)
def test_keywords_that_would_change_the_host_are_refused(line: str, keyword: str) -> None:
    _, diags = vips("10.0.0.5", extra=line)
    assert any(sev == "error" and msg.startswith(f"'{keyword}' is not supported by vipkeeper") for sev, _, msg in diags)


def test_bfd_instance_and_sync_group_track_bfd_are_refused() -> None:
    _, diags = parse(
        "bfd_instance b1 {\n    neighbor_ip 10.0.0.2\n}\n"
        "vrrp_sync_group G {\n    group {\n        VI_1\n    }\n    track_bfd {\n        b1\n    }\n}\n"
    )
    errors = [(line, msg.split(":")[0]) for sev, line, msg in diags if sev == "error"]
    assert (1, "'bfd_instance' is not supported by vipkeeper") in errors
    assert (8, "'track_bfd' is not supported by vipkeeper") in errors


def test_native_ipv6_makes_an_ipv6_instance_and_refuses_ipv4_addresses() -> None:
    config, diags = parse(
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    native_ipv6\n"
        "    no_virtual_ipaddress\n    virtual_ipaddress_excluded {\n        10.0.0.5\n    }\n}\n"
    )
    assert [d for d in diags if d[0] == "error"] == [], diags
    assert (config.instances[0].family, config.instances[0].version) == (6, 3)
    _, diags = vips("10.0.0.5", extra="    native_ipv6\n")
    assert ("error", 5, "vrrp_instance VI_1: Cannot specify native_ipv6 with IPv4 addresses") in diags


def test_address_options_become_netlink_flags() -> None:
    got, _ = vips("10.0.0.5 home noprefixroute mngtmpaddr autojoin peer 10.0.0.6")
    opts = address_options(got[0])
    assert opts["flags"] == (
        lc.IFA_F_HOMEADDRESS | lc.IFA_F_NOPREFIXROUTE | lc.IFA_F_MANAGETEMPADDR | lc.IFA_F_MCAUTOJOIN
    )
    assert opts["peer"] == ipaddress.ip_address("10.0.0.6") and opts["nodad"] is True


def test_peer_and_preferred_lifetime_in_the_rtnetlink_request() -> None:
    ack = _nlmsg(lc.NLMSG_ERROR, struct.pack("=i", 0) + bytes(16), seq=1)
    rt = _client([ack, _nlmsg(lc.NLMSG_ERROR, struct.pack("=i", 0) + bytes(16), seq=2)])
    rt.addr_change(True, 3, bytes([10, 0, 0, 5]), 32, flags=lc.IFA_F_NOPREFIXROUTE, peer=bytes([10, 0, 0, 6]))
    sent = rt._sock.sent[0]
    assert bytes.fromhex("0800 0200 0a000005") in sent  # IFA_LOCAL: the address
    assert bytes.fromhex("0800 0100 0a000006") in sent  # IFA_ADDRESS: the peer
    assert struct.pack("=HHI", 8, lc.IFA_FLAGS, lc.IFA_F_NOPREFIXROUTE) in sent
    v6 = socket.inet_pton(socket.AF_INET6, "fd00::5")
    rt.addr_change(True, 3, v6, 128, flags=lc.IFA_F_NODAD, preferred_lft_s=0)
    cacheinfo = struct.pack("=HH", 20, lc.IFA_CACHEINFO) + struct.pack("=IIII", 0, 0xFFFFFFFF, 0, 0)
    assert cacheinfo in rt._sock.sent[1]


def test_a_point_to_point_address_is_deleted_with_its_peer() -> None:
    """The kernel matches a deletion's IFA_ADDRESS against the peer (inet_rtm_deladdr): without
    it, a VIP added with ``peer`` would stay on the host after the instance left MASTER."""
    ack = _nlmsg(lc.NLMSG_ERROR, struct.pack("=i", 0) + bytes(16), seq=1)
    rt = _client([ack])
    rt.addr_change(False, 3, bytes([10, 0, 0, 5]), 32, peer=bytes([10, 0, 0, 6]))
    sent = rt._sock.sent[0]
    assert bytes.fromhex("0800 0200 0a000005") in sent and bytes.fromhex("0800 0100 0a000006") in sent
