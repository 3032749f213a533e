"""``dont_track_primary`` and ``unicast_fault_no_peer`` (issue 13): config to node, keepalived's
semantics (vrrp.c vrrp_complete_instance, vrrp_if.c: the interface of an instance with
dont_track_primary is added with VRRP_NOT_TRACK_IF)."""

from __future__ import annotations

from tests.unit.linked import IFINDEX, US
from tests.unit.test_node import become_master, node_with
from vipkeeper.config.load import parse_string
from vipkeeper.config.to_params import router_params
from vipkeeper.core.events import State

BASE = """
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress { 172.20.0.115 }
%s
}
"""


def _params(body: str):
    cfg, diags = parse_string(BASE % body)
    assert not [d for d in diags if d.severity == "error"], diags
    return router_params(cfg.instances[0], cfg.global_defs), diags


def test_dont_track_primary_keeps_a_master_when_its_link_goes_down() -> None:
    p, _ = _params("    dont_track_primary")
    assert not p.track_primary
    node = node_with(p)
    node.start(0)
    become_master(node, "VI_1")
    assert node.set_link(IFINDEX, False, 5 * US) == []
    assert node.router("VI_1").state is State.MASTER


def test_without_dont_track_primary_link_down_is_fault() -> None:
    p, _ = _params("")
    assert p.track_primary
    node = node_with(p)
    node.start(0)
    become_master(node, "VI_1")
    node.set_link(IFINDEX, False, 5 * US)
    assert node.router("VI_1").state is State.FAULT


def test_unicast_fault_no_peer_without_peers_stays_in_fault() -> None:
    p, diags = _params("    unicast_src_ip 10.0.0.1\n    unicast_fault_no_peer")
    assert p.config_fault and not p.unicast
    assert not diags  # keepalived -t reports nothing: the fault is a run-time log line
    node = node_with(p)
    node.start(0)
    assert node.router("VI_1").state is State.FAULT
    assert node.router("VI_1").next_deadline() is None
    assert "unicast_fault_no_peer" in node.router("VI_1").reason


def test_unicast_fault_no_peer_with_peers_is_plain_unicast() -> None:
    p, _ = _params("    unicast_fault_no_peer\n    unicast_peer { 10.0.0.2 }")
    assert not p.config_fault and p.unicast


def test_a_unicast_keyword_without_peers_still_falls_back_to_multicast() -> None:
    p, diags = _params("    unicast_src_ip 10.0.0.1")
    assert not p.config_fault and not p.unicast
    assert any("using multicast" in d.message for d in diags)
