"""Host changes on a real two-host cluster (one lab for the module): virtual_routes and
virtual_rules exactly on the master, moving with it; static_ipaddress / static_routes /
static_rules on both hosts from the start and gone at stop; accept / no_accept in strict mode
(the nftables drop of the master's VIPs); promote_secondaries set and put back.

VI_1 (VIP 172.20.0.115) is strict with ``accept``; VI_2 (VIP 172.20.0.116) is strict without
it, so its master drops traffic to its VIP.  A tracks a file: writing -10 drops its priority
below B's (150 - 100 < 100) and both instances fail over to B.
"""

from __future__ import annotations

import json
import signal
import sys

import pytest

from lab import netns as lablib
from lab.conf import block, global_defs, vrrp_instance, vrrp_track_file
from lab.nodes import Node

pytestmark = pytest.mark.netns

VIP1 = "172.20.0.115"
VIP2 = "172.20.0.116"
VROUTE = "198.51.100.0/24"
VROUTE6 = "2001:db8:5::/64"
VRULE_PREF = 1000
SROUTE = "203.0.113.0/24"
SRULE_PREF = 1001
SADDR = "192.0.2.1"
EXTRA_VIP = "10.77.0.1"  # on a second interface, ex0 (its veth peer ex1 listens)
# keepalived's ``ip addr`` options on VIPs (vrrp_ipaddress.c): a point-to-point address, no
# prefix route, an IPv6 address deprecated at once, and one VIP whose deletion is not tracked
PEER_VIP, PEER = "172.20.0.117", "172.20.0.118"
NOPREFIX_VIP6 = "fd00:20::117"
UNTRACKED_VIP = "172.20.0.119"
OPTION_VIPS = [
    f"{PEER_VIP} peer {PEER} noprefixroute",
    f"{NOPREFIX_VIP6}/64 noprefixroute preferred_lft 0",
    f"{UNTRACKED_VIP}/32 no_track",
]


def conf(prio: int, track_file_path: object | None) -> str:
    blocks = vrrp_track_file("tf", track_file_path, weight=10) if track_file_path else ""
    common = {"state": "BACKUP", "priority": prio, "advert_int": "0.1", "version": 3}
    tracked = ["tf"] if track_file_path else []
    return (
        global_defs("vrrp_garp_master_delay 1", "vrrp_strict")
        + blocks
        + block("static_ipaddress", [f"{SADDR}/32 dev lo"])
        + block("static_routes", [f"{SROUTE} via 172.20.0.1 dev eth0"])
        + block("static_rules", [f"from {SADDR} table 101 priority {SRULE_PREF}"])
        + vrrp_instance(
            "VI_1",
            vrid=42,
            **common,  # type: ignore[arg-type]
            vips=[VIP1],
            track_file=tracked,
            extra=[
                "accept",
                "promote_secondaries",
                "garp_extra_if all 1",
                block("virtual_ipaddress_excluded", [f"{EXTRA_VIP}/24 dev ex0", *OPTION_VIPS]).strip(),
                block(
                    "virtual_routes", [f"{VROUTE} via 172.20.0.1 dev eth0", f"{VROUTE6} via fd00:20::1 dev eth0"]
                ).strip(),
                block("virtual_rules", [f"from {VIP1} table 100 priority {VRULE_PREF}"]).strip(),
            ],
        )
        + vrrp_instance("VI_2", vrid=43, **common, vips=[VIP2], track_file=tracked)  # type: ignore[arg-type]
    )


def routes(lab: lablib.Lab, host: str, table: str = "main") -> set[str]:
    """Destinations of the IPv4 and IPv6 routes of ``table``."""
    out = set()
    for family in ("-4", "-6"):
        text = lab.run(host, "ip", family, "-j", "route", "show", "table", table).stdout
        out |= {r["dst"] for r in json.loads(text or "[]")}
    return out


def rules(lab: lablib.Lab, host: str) -> set[int]:
    out = lab.run(host, "ip", "-j", "rule", "show").stdout
    return {int(r["priority"]) for r in json.loads(out or "[]")}


def dropped_vips(lab: lablib.Lab, host: str) -> set[str] | None:
    """The VIPs in vipkeeper's nftables drop set; None when the table does not exist."""
    proc = lab.run(host, "nft", "-j", "list", "set", "inet", "vipkeeper", "vips4", check=False)
    if proc.returncode != 0:
        return None
    for item in json.loads(proc.stdout)["nftables"]:
        if "set" in item:
            return {str(e) for e in item["set"].get("elem", [])}
    return set()


_PROBE = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], 9), timeout=1.0).close()
except ConnectionRefusedError:
    pass  # a RST: the host took the packet
except OSError:
    sys.exit(1)  # no answer: dropped
"""


def answers(lab: lablib.Lab, ip: str) -> bool:
    """From the observer: does ``ip`` answer a TCP SYN (with a RST, nothing listens)?"""
    return lab.run(lablib.OBSERVER, sys.executable, "-c", _PROBE, ip, check=False).returncode == 0


_GARPS = """
import socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind(("ex1", 0))
s.settimeout(0.2)
want = socket.inet_aton(sys.argv[1])
end = time.monotonic() + float(sys.argv[2])
n = 0
while time.monotonic() < end:
    try:
        f = s.recv(100)
    except TimeoutError:
        continue
    # a gratuitous ARP: sender and target protocol address are both the VIP
    if f[28:32] == want and f[38:42] == want:
        n += 1
print(n)
"""


def garps_on_extra_if(lab: lablib.Lab, host: str, window_s: float) -> int:
    """Gratuitous ARPs for EXTRA_VIP heard on the host's second interface within the window."""
    return int(lab.run(host, sys.executable, "-c", _GARPS, EXTRA_VIP, str(window_s)).stdout)


def promote_secondaries(lab: lablib.Lab, host: str) -> str:
    return lab.run(host, "cat", "/proc/sys/net/ipv4/conf/eth0/promote_secondaries").stdout.strip()


@pytest.fixture(scope="module")
def cluster(lab_registry, tmp_path_factory):
    """A (priority 150, tracking a file) and B (100), both running the config above."""
    tmp = tmp_path_factory.mktemp("hostnet")
    lab = lablib.Lab(("A", "B"))
    lab_registry.extend(lab.namespaces)
    try:
        assert promote_secondaries(lab, "A") == "0"
        for host in ("A", "B"):
            lab.run(host, "ip", "link", "add", "ex0", "type", "veth", "peer", "name", "ex1")
            lab.run(host, "ip", "link", "set", "ex0", "up")
            lab.run(host, "ip", "link", "set", "ex1", "up")
        track = tmp / "prio"
        track.write_text("0\n")
        nodes = {}
        for host, prio, path in (("A", 150, track), ("B", 100, None)):
            n = Node(lab, host, tmp)
            n.write_config(conf(prio, path))
            n.start()
            nodes[host] = n
        for n in nodes.values():
            assert n.wait_log("vipkeeper started", 20), n.log()
        yield lab, nodes, track
    finally:
        lab.close()


def test_routes_rules_and_firewall_on_the_master_only(cluster):
    lab, nodes, _track = cluster
    a, b = nodes["A"], nodes["B"]
    assert lab.wait_for(lambda: lab.holders(VIP1) == ["A"] and lab.holders(VIP2) == ["A"], 15), a.log()
    assert lab.wait_for(lambda: VROUTE in routes(lab, "A") and VRULE_PREF in rules(lab, "A"), 5), a.log()
    assert VROUTE not in routes(lab, "B") and VRULE_PREF not in rules(lab, "B")
    assert VROUTE6 in routes(lab, "A") and VROUTE6 not in routes(lab, "B")
    # static_*: on both hosts, whatever their state
    for host in ("A", "B"):
        assert SROUTE in routes(lab, host), nodes[host].log()
        assert SRULE_PREF in rules(lab, host), nodes[host].log()
        assert SADDR in lab.addresses(host, "lo"), nodes[host].log()
    # strict: VI_2 has no accept mode, so its master drops traffic to its VIP; VI_1 accepts
    assert dropped_vips(lab, "A") == {VIP2}
    assert dropped_vips(lab, "B") == set()
    assert answers(lab, VIP1)
    assert not answers(lab, VIP2)
    assert promote_secondaries(lab, "A") == "1"
    # garp_extra_if all 1: the master announces its VIP on the other interface every second
    assert garps_on_extra_if(lab, "A", 2.5) >= 1, a.log()
    assert garps_on_extra_if(lab, "B", 1.5) == 0
    assert "virtual routes added" in a.log() and "virtual rules added" in a.log()
    assert "no_accept" in a.log()
    del b


def addr_info(lab: lablib.Lab, host: str, ip: str) -> dict | None:
    """``ip -j addr`` of eth0's address ``ip`` (its local, peer, prefix, flags, lifetimes)."""
    for family in ("-4", "-6"):
        for link in json.loads(lab.run(host, "ip", family, "-j", "addr", "show", "dev", "eth0").stdout or "[]"):
            for info in link.get("addr_info", []):
                if info.get("local") == ip:
                    return info
    return None


def test_virtual_address_options_as_ip_addr_sets_them(cluster):
    """``peer``, ``noprefixroute``, ``preferred_lft``: the master's addresses carry them."""
    lab, nodes, _track = cluster
    a = nodes["A"]
    assert lab.wait_for(lambda: addr_info(lab, "A", PEER_VIP) is not None, 15), a.log()
    p2p = addr_info(lab, "A", PEER_VIP)
    assert p2p is not None and p2p.get("address") == PEER and p2p["prefixlen"] == 32, p2p
    assert p2p.get("noprefixroute") is True, p2p
    v6 = addr_info(lab, "A", NOPREFIX_VIP6)
    assert v6 is not None and v6.get("noprefixroute") is True and v6.get("preferred_life_time") == 0, v6
    assert PEER not in routes(lab, "A")  # noprefixroute: no route to the peer
    assert addr_info(lab, "B", PEER_VIP) is None


def test_failover_moves_routes_rules_and_firewall(cluster):
    lab, nodes, track = cluster
    a, b = nodes["A"], nodes["B"]
    assert lab.wait_for(lambda: lab.holders(VIP1) == ["A"], 15), a.log()
    track.write_text("-10\n")  # 150 - 100 = 50 < 100: B takes over
    assert lab.wait_for(lambda: lab.holders(VIP1) == ["B"] and lab.holders(VIP2) == ["B"], 10), a.log()
    assert lab.wait_for(lambda: VROUTE in routes(lab, "B") and VRULE_PREF in rules(lab, "B"), 5), b.log()
    assert lab.wait_for(lambda: VROUTE not in routes(lab, "A") and VRULE_PREF not in rules(lab, "A"), 5), a.log()
    assert VROUTE6 in routes(lab, "B") and VROUTE6 not in routes(lab, "A")
    assert dropped_vips(lab, "A") == set()
    assert dropped_vips(lab, "B") == {VIP2}
    assert answers(lab, VIP1)
    assert not answers(lab, VIP2)
    track.write_text("0\n")
    assert lab.wait_for(lambda: lab.holders(VIP1) == ["A"] and VROUTE in routes(lab, "A"), 10), a.log()
    assert lab.wait_for(lambda: VROUTE not in routes(lab, "B"), 5), b.log()
    # the point-to-point VIP is deleted too (the deletion names its peer)
    assert lab.wait_for(lambda: addr_info(lab, "B", PEER_VIP) is None, 5), b.log()


def test_deleted_tracked_entries(cluster):
    """keepalived: a tracked virtual route deleted from the MASTER sends it to BACKUP (it
    comes back, with the route, after Master_Down_Interval: it is still the highest); a
    deleted static route or address is put back."""
    lab, nodes, _track = cluster
    a, b = nodes["A"], nodes["B"]
    assert lab.wait_for(lambda: lab.holders(VIP1) == ["A"] and VROUTE in routes(lab, "A"), 10), a.log()
    lab.run("A", "ip", "route", "del", VROUTE)
    assert a.wait_log(f"MASTER -> BACKUP: virtual route {VROUTE} via 172.20.0.1 dev eth0 deleted", 5), a.log()
    assert lab.wait_for(lambda: lab.holders(VIP1) == ["A"] and VROUTE in routes(lab, "A"), 10), a.log()
    lab.run("A", "ip", "rule", "del", "priority", str(VRULE_PREF))
    assert a.wait_log("BACKUP: virtual rule", 5), a.log()
    assert lab.wait_for(lambda: lab.holders(VIP1) == ["A"] and VRULE_PREF in rules(lab, "A"), 10), a.log()
    # keepalived: a VIP deleted from the MASTER sends it to BACKUP (unless no_track); it
    # comes back with its VIPs after Master_Down_Interval
    lab.run("A", "ip", "addr", "del", f"{VIP1}/32", "dev", "eth0")
    assert a.wait_log(f"(VI_1) virtual address {VIP1}/32 was deleted from the host", 5), a.log()
    assert a.wait_log(f"MASTER -> BACKUP: virtual address {VIP1}/32 deleted", 5), a.log()
    assert lab.wait_for(lambda: lab.holders(VIP1) == ["A"], 10), a.log()
    masters = a.log().count("-> MASTER")
    lab.run("A", "ip", "addr", "del", f"{UNTRACKED_VIP}/32", "dev", "eth0")
    assert not lab.wait_for(lambda: a.log().count("-> MASTER") != masters, 2), a.log()
    assert addr_info(lab, "A", UNTRACKED_VIP) is None  # not tracked: not put back either
    assert lab.holders(VIP1) == ["A"]
    lab.run("B", "ip", "route", "del", SROUTE)
    assert lab.wait_for(lambda: SROUTE in routes(lab, "B"), 5), b.log()
    assert "reinstating it" in b.log()
    lab.run("B", "ip", "addr", "del", f"{SADDR}/32", "dev", "lo")
    assert lab.wait_for(lambda: SADDR in lab.addresses("B", "lo"), 5), b.log()
    assert f"static address {SADDR}/32 was deleted from lo; reinstating it" in b.log()


def test_reload_applies_route_rule_and_static_changes(cluster):
    """A MASTER stays MASTER; the routes that are gone are removed and the new ones added."""
    lab, nodes, track = cluster
    a = nodes["A"]
    assert lab.wait_for(lambda: lab.holders(VIP1) == ["A"] and VROUTE in routes(lab, "A"), 10), a.log()
    vroute2, sroute2 = "198.51.99.0/24", "203.0.114.0/24"
    original = conf(150, track)
    assert "virtual_router_id 43\n" in original
    changed = original.replace(VROUTE, vroute2).replace(SROUTE, sroute2)
    a.write_config(changed.replace("virtual_router_id 43\n", "virtual_router_id 43\n    accept\n"))
    a.send_signal(signal.SIGHUP)
    assert lab.wait_for(
        lambda: {vroute2, sroute2} <= routes(lab, "A") and not {VROUTE, SROUTE} & routes(lab, "A"), 10
    ), a.log()
    assert lab.holders(VIP1) == ["A"] and VRULE_PREF in rules(lab, "A")
    assert lab.wait_for(lambda: dropped_vips(lab, "A") == set(), 5)  # VI_2 now accepts
    assert answers(lab, VIP2)
    a.write_config(original)
    a.send_signal(signal.SIGHUP)
    assert lab.wait_for(
        lambda: {VROUTE, SROUTE} <= routes(lab, "A") and not {vroute2, sroute2} & routes(lab, "A"), 10
    ), a.log()


def test_stop_removes_static_entries_firewall_and_restores_sysctl(cluster):
    lab, nodes, _track = cluster
    for host in ("A", "B"):
        assert nodes[host].stop(signal.SIGTERM) == 0, nodes[host].log()
        assert SROUTE not in routes(lab, host)
        assert SRULE_PREF not in rules(lab, host)
        assert SADDR not in lab.addresses(host, "lo")
        assert VROUTE not in routes(lab, host)
        assert dropped_vips(lab, host) is None  # the table is gone
    assert promote_secondaries(lab, "A") == "0"
    assert "static addresses, routes and rules removed" in nodes["A"].log()
