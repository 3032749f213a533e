"""keepalived 2.2.8 - 2.4 keywords the daemon acts on, in network namespaces: the startup delay
(``vrrp_startup_delay`` / ``vrrp_delay_after_boot``) and a VRRPv3 pair without VIPs
(``no_virtual_ipaddress``)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lab.conf import global_defs, vrrp_instance
from lab.netns import Lab
from lab.nodes import Node

pytestmark = [pytest.mark.netns]

VIP = "172.20.0.115"


def start(lab: Lab, tmp_path: Path, host: str, conf: str) -> Node:
    node = Node(lab, host, tmp_path)
    node.write_config(conf)
    node.start(log_level="info")
    return node


def test_startup_delay_holds_the_instances(lab: Lab, tmp_path: Path) -> None:
    """An address owner takes its VIP at once; with vrrp_startup_delay 2 only after 2 s."""
    conf = global_defs("vrrp_startup_delay 2", "vrrp_garp_master_delay 1") + vrrp_instance(
        "VI_D", state="MASTER", vrid=51, priority=255, advert_int="0.1", version=3, vips=[VIP]
    )
    t0 = time.monotonic()
    a = start(lab, tmp_path, "A", conf)
    assert a.wait_log("delaying the VRRP instances' start for 2 seconds", 10), a.log()
    assert lab.wait_for(lambda: lab.holders(VIP) == ["A"], 15), a.log()
    took = time.monotonic() - t0
    started = a.log().index("delaying the VRRP")
    assert "-> MASTER" in a.log()[started:], a.log()
    assert took >= 2.0, took
    a.stop()


def test_a_vrrpv3_pair_without_vips(lab: Lab, tmp_path: Path) -> None:
    def conf(prio: int) -> str:
        return vrrp_instance(
            "VI_N", state="BACKUP", vrid=52, priority=prio, advert_int="0.1", version=3, extra=["no_virtual_ipaddress"]
        )

    a = start(lab, tmp_path, "A", conf(150))
    assert a.wait_log("-> MASTER", 10), a.log()
    b = start(lab, tmp_path, "B", conf(100))
    assert b.wait_log("-> BACKUP", 10), b.log()
    time.sleep(1.0)  # > B's Master_Down_Interval: B hears A's address-less adverts
    assert "-> MASTER" not in b.log() and "dropped advert" not in b.log(), b.log()
    b.stop()
    a.stop()
