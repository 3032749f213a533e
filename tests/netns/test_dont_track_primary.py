"""``dont_track_primary`` (keepalived vrrp.c / vrrp_if.c, issue 13): the instance ignores the
link state of its own interface.  One vipkeeper host, two instances on eth0: the one with
``dont_track_primary`` stays MASTER with its VIP when eth0 goes down, the other goes to FAULT
and releases its VIP."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lab.conf import global_defs, vrrp_instance
from lab.nodes import Node
from vipkeeper.daemon.control import request

pytestmark = pytest.mark.netns

VIP_KEPT, VIP_FAULT = "172.20.0.115", "172.20.0.116"


def states(node: Node) -> dict[str, str]:
    return {i["name"]: i["state"] for i in request(node.state_dir, "status", timeout_s=2)["status"]["instances"]}


def test_link_down_does_not_fault_an_instance_with_dont_track_primary(make_lab, tmp_path: Path) -> None:
    lab = make_lab(hosts=("A",), observer=False, ipv6=False)
    conf = global_defs("vrrp_garp_master_delay 1") + vrrp_instance(
        "VI_KEEP", vrid=51, priority=150, state="MASTER", advert_int="0.1", version=3,
        extra=["dont_track_primary"], vips=[VIP_KEPT],
    ) + vrrp_instance(
        "VI_TRACK", vrid=52, priority=150, state="MASTER", advert_int="0.1", version=3, vips=[VIP_FAULT],
    )  # fmt: skip
    node = Node(lab, "A", tmp_path)
    node.write_config(conf)
    node.start()
    try:
        assert lab.wait_for(lambda: {VIP_KEPT, VIP_FAULT} <= lab.addresses("A"), 10), node.log()
        lab.set_link("A", False)
        assert lab.wait_for(lambda: states(node)["VI_TRACK"] == "FAULT", 5), node.log()
        assert VIP_FAULT not in lab.addresses("A")
        time.sleep(1.0)  # well past the backup's Master_Down_Interval (0.35 s) with nothing heard
        assert states(node)["VI_KEEP"] == "MASTER", node.log()
        assert VIP_KEPT in lab.addresses("A")
        assert "(VI_KEEP) MASTER ->" not in node.log()
        lab.set_link("A", True)
        assert lab.wait_for(lambda: states(node)["VI_TRACK"] == "MASTER", 5), node.log()
        assert states(node)["VI_KEEP"] == "MASTER"
    finally:
        assert node.stop() == 0, node.log()
