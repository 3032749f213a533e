"""The order of host changes around the VIPs (keepalived vrrp.c vrrp_state_become_master /
vrrp_restore_interface), the nftables text and the netlink requests, without root."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from vipkeeper.config.load import parse_string
from vipkeeper.config.model import VrrpInstance
from vipkeeper.daemon.effects import HostChanges, HostDiff, VipActions
from vipkeeper.io.nftables import elements_script, table_script
from vipkeeper.io.routes import route_request, rule_request

CONF = """
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress { 192.0.2.10/24 }
    virtual_ipaddress_excluded { fe80::10/64 dev eth1 }
    virtual_routes { 198.51.100.0/24 via 192.0.2.1 dev eth0 metric 7 }
    virtual_rules { from 192.0.2.10 table 100 priority 50 }
    no_accept
}
"""


def inst() -> VrrpInstance:
    config, diagnostics = parse_string(CONF, path="t.conf")
    assert [d for d in diagnostics if d.is_error] == []
    return config.instances[0]


class Calls(list[str]):
    pass


class FakeNetlink:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def add_address(self, ifindex, address, **kw) -> bool:
        self.calls.append(f"addr add {address.ip}")
        return True

    async def del_address(self, ifindex, address, peer=None) -> bool:
        self.calls.append(f"addr del {address.ip}")
        return True

    async def link_by_name(self, name):
        class L:
            ifindex = 9

        return L()


class FakeRoutes:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def add_routes(self, routes):
        self.calls.extend(f"route add {r}" for r in routes)
        return [str(r) for r in routes]

    async def del_routes(self, routes):
        self.calls.extend(f"route del {r}" for r in routes)
        return [str(r) for r in routes]

    async def add_rules(self, rules):
        self.calls.extend(f"rule add {r}" for r in rules)
        return [str(r) for r in rules]

    async def del_rules(self, rules):
        self.calls.extend(f"rule del {r}" for r in rules)
        return [str(r) for r in rules]


class FakeFirewall:
    def __init__(self, calls: Calls, fail: bool = False) -> None:
        self.calls = calls
        self.fail = fail

    async def add(self, vips):
        self.calls.append("drop " + " ".join(f"{a}%{i}" for a, i in vips))
        if self.fail:
            raise OSError(0, "nft: boom")

    async def delete(self, vips):
        self.calls.append("undrop " + " ".join(f"{a}%{i}" for a, i in vips))


def actions(calls: Calls, fail_firewall: bool = False) -> VipActions:
    i = inst()
    v = VipActions(
        i.name, i.vips + i.vips_excluded, 2, "eth0", netlink=FakeNetlink(calls), l2=None, is_master=lambda n: True
    )  # type: ignore[arg-type]
    v.host = HostChanges(i.virtual_routes, i.virtual_rules, FakeRoutes(calls), FakeFirewall(calls, fail_firewall))  # type: ignore[arg-type]
    return v


def test_become_master_drops_then_adds_addresses_then_routes_then_rules() -> None:
    calls = Calls()
    asyncio.run(actions(calls).add())
    assert calls == [
        "drop 192.0.2.10%eth0 fe80::10%eth1",
        "addr add 192.0.2.10",
        "addr add fe80::10",
        "route add 198.51.100.0/24 via 192.0.2.1 dev eth0",
        "rule add 50: from 192.0.2.10/32 lookup 100",
    ]


def test_leave_master_removes_rules_then_routes_then_addresses_then_the_drop() -> None:
    calls = Calls()
    asyncio.run(actions(calls).delete())
    assert calls == [
        "rule del 50: from 192.0.2.10/32 lookup 100",
        "route del 198.51.100.0/24 via 192.0.2.1 dev eth0",
        "addr del 192.0.2.10",
        "addr del fe80::10",
        "undrop 192.0.2.10%eth0 fe80::10%eth1",
    ]


def test_a_firewall_failure_does_not_stop_the_vips() -> None:
    calls = Calls()
    v = actions(calls, fail_firewall=True)
    asyncio.run(v.add())
    assert "addr add 192.0.2.10" in calls and v.held


def test_reload_diff_removes_only_what_is_gone() -> None:
    calls = Calls()
    v = actions(calls)
    old_routes, old_rules, fw = v.host.routes, v.host.rules, v.host.firewall
    v.host.routes = ()
    asyncio.run(v._host_diff(HostDiff(old_routes, old_rules, fw)))
    assert calls == ["route del 198.51.100.0/24 via 192.0.2.1 dev eth0", "rule add 50: from 192.0.2.10/32 lookup 100"]
    calls.clear()
    v.host.firewall = None  # reloaded with 'accept': the held VIPs leave the drop set
    asyncio.run(v._host_diff(HostDiff((), old_rules, fw)))
    assert calls == ["undrop 192.0.2.10%eth0 fe80::10%eth1", "rule add 50: from 192.0.2.10/32 lookup 100"]
    calls.clear()
    v.host.firewall = fw  # and back to no_accept
    asyncio.run(v._host_diff(HostDiff((), v.host.rules, None)))
    assert calls[0] == "drop 192.0.2.10%eth0 fe80::10%eth1"


def test_nftables_scripts() -> None:
    text = table_script("vk")
    assert text.startswith("table inet vk\ndelete table inet vk\ntable inet vk {")  # a leftover is replaced
    assert "type filter hook input priority -1; policy accept;" in text
    assert "ip daddr @vips4 drop" in text and "ip6 saddr @vips6 drop" in text
    vips = [(ipaddress.ip_address("192.0.2.10"), "eth0"), (ipaddress.ip_address("fe80::10"), "eth1")]
    assert elements_script("add", vips, "vk") == (
        'add element inet vk vips4 { 192.0.2.10 }\nadd element inet vk vips6_link { "eth1" . fe80::10 }\n'
    )
    # a delete adds first, in the same transaction: deleting an absent element is no error
    assert elements_script("delete", vips[:1], "vk") == (
        "add element inet vk vips4 { 192.0.2.10 }\ndelete element inet vk vips4 { 192.0.2.10 }\n"
    )
    assert elements_script("add", [], "vk") == ""


def test_netlink_requests() -> None:
    i = inst()
    assert route_request(i.virtual_routes[0], 3) == {
        "family": socket.AF_INET,
        "table": 254,
        "type": "unicast",
        "dst": "198.51.100.0",
        "dst_len": 24,
        "gateway": "192.0.2.1",
        "oif": 3,
        "priority": 7,
        "proto": 18,
    }
    assert rule_request(i.virtual_rules[0]) == {
        "family": socket.AF_INET,
        "priority": 50,
        "action": 1,
        "table": 100,
        "src": "192.0.2.10",
        "src_len": 32,
        "protocol": 18,
    }


def test_routes_and_nftables_modules_do_not_import_pyroute2() -> None:
    """pyroute2 is loaded by HostRoutes.open(), only when a config has routes or rules."""
    import subprocess
    import sys

    code = (
        "import sys, vipkeeper.io.routes, vipkeeper.io.nftables, vipkeeper.config.blocks.routes; "
        "sys.exit('pyroute2' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_a_deleted_virtual_route_sends_the_master_to_backup_and_it_comes_back() -> None:
    """keepalived netlink_route_filter -> set_vrrp_backup: no priority-0 advert, VIPs released,
    back to MASTER after Master_Down_Interval while it is still the highest priority."""
    from tests.unit.linked import US
    from tests.unit.test_engine import pair, sent_priorities
    from vipkeeper.core.events import DelVips, State, StateChanged

    net = pair()
    net.start()
    net.run_for(5 * US)
    assert net.holders() == ["A"]

    def lost(name: str, what: str) -> list:
        h = net.hosts[name]  # as the daemon's route watch does: VrrpNode.host_entry_lost
        effects = h.node.host_entry_lost(h.router_name, what, net.now_us)
        net._apply(h, effects)
        return effects

    out = lost("A", "virtual route 198.51.100.0/24")
    assert net.hosts["A"].router.state is State.BACKUP
    assert [e.reason for e in out if isinstance(e, StateChanged)] == ["virtual route 198.51.100.0/24 deleted"]
    assert any(isinstance(e, DelVips) for e in out) and sent_priorities(out) == []
    net.run_for(5 * US)
    assert net.holders() == ["A"]
    assert lost("B", "virtual rule x") == []  # a BACKUP ignores it
