"""Address events: an instance whose source address leaves its interface goes to FAULT.

keepalived 2.2.7 (keepalived_netlink.c netlink_if_address_filter): when the address an
instance sends from (taken from the interface) is deleted and the interface has no other,
down_instance() puts it in FAULT; when an address comes back, try_up_instance() brings it up.
"""

from __future__ import annotations

import pytest

from lab.conf import global_defs, vrrp_instance
from lab.nodes import Node
from tests.netns.test_cluster import VIP4

pytestmark = pytest.mark.netns

A_ADDR = "172.20.0.112/24"  # the lab's address of A on eth0: the source of its adverts


def conf(prio: int) -> str:
    return global_defs("vrrp_garp_master_delay 1") + vrrp_instance(
        "VI_1", state="BACKUP", vrid=42, priority=prio, advert_int="0.1", version=3, vips=[VIP4]
    )


def test_source_address_removed_is_fault_and_the_vip_moves_then_recovers(lab, tmp_path):
    a, b = Node(lab, "A", tmp_path), Node(lab, "B", tmp_path)
    a.write_config(conf(150))
    b.write_config(conf(100))
    a.start()
    b.start()
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["A"], 15), a.log()[-3000:]

    lab.run("A", "ip", "addr", "del", A_ADDR, "dev", "eth0")
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["B"], 10), a.log()[-3000:]
    assert a.wait_log("(VI_1) source address 172.20.0.112 removed from eth0", 5), a.log()[-3000:]
    assert a.wait_log("MASTER -> FAULT: source address 172.20.0.112 not on the interface", 5), a.log()[-3000:]
    assert a.running

    lab.run("A", "ip", "addr", "add", A_ADDR, "dev", "eth0")
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["A"], 10), a.log()[-3000:]  # back, and preempts
    assert a.wait_log("(VI_1) source address 172.20.0.112 on eth0 again", 5), a.log()[-3000:]
    assert "Traceback" not in a.log()


def test_configured_unicast_src_ip_removed_with_track_src_ip_is_fault(lab, tmp_path):
    """keepalived.conf(5) track_src_ip: a configured unicast_src_ip that leaves the interface
    puts the instance in FAULT (the VIP moves to the peer), and its return brings it back."""
    a_src, b_src = "172.20.0.212", "172.20.0.213"
    lab.run("A", "ip", "addr", "add", f"{a_src}/24", "dev", "eth0")
    lab.run("B", "ip", "addr", "add", f"{b_src}/24", "dev", "eth0")
    a, b = Node(lab, "A", tmp_path), Node(lab, "B", tmp_path)
    for node, prio, src, peer in ((a, 150, a_src, b_src), (b, 100, b_src, a_src)):
        node.write_config(
            global_defs("vrrp_garp_master_delay 1")
            + vrrp_instance(
                "VI_1",
                state="BACKUP",
                vrid=42,
                priority=prio,
                advert_int="0.1",
                version=3,
                unicast_src=src,
                unicast_peers=[peer],
                vips=[VIP4],
                extra=["track_src_ip"],
            )
        )
        node.start()
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["A"], 15), a.log()[-3000:]
    lab.run("A", "ip", "addr", "del", f"{a_src}/24", "dev", "eth0")
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["B"], 10), a.log()[-3000:]
    assert a.wait_log(f"(VI_1) source address {a_src} removed from eth0", 5), a.log()[-3000:]
    assert a.wait_log("-> FAULT", 5), a.log()[-3000:]
    lab.run("A", "ip", "addr", "add", f"{a_src}/24", "dev", "eth0")
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["A"], 10), a.log()[-3000:]
    assert "Traceback" not in a.log() + b.log()
