"""Daemon._check_source: which address events move an instance to FAULT and back (no root).

The namespace test (tests/netns/test_address_events.py) covers a source taken from the
interface end to end; this covers the rules, including a configured source followed with
``track_src_ip`` (keepalived.conf(5): "if the configured src_ip doesn't exist or is removed put
the instance into fault state"), with a stand-in for the netlink and the instance config.
"""

from __future__ import annotations

import asyncio
import types
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

from tests.unit.linked import IFINDEX, MAC, params
from vipkeeper.config.load import parse_string
from vipkeeper.core.events import State, TrackingChanged
from vipkeeper.core.params import RouterLink
from vipkeeper.daemon.app import Daemon
from vipkeeper.io.netlink import AddrEvent, LinkInfo

SRC = IPv4Address("172.20.0.112")
OTHER = IPv4Address("172.20.0.121")
VIP = IPv4Address("172.20.0.115")
CONF = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n}\n"


class FakeNetlink:
    def __init__(self, addrs: list[IPv4Address]) -> None:
        self.addrs = addrs

    async def addresses(self, ifindex: int, family: int | None = None) -> list[IPv4Interface]:
        return [IPv4Interface(f"{a}/24") for a in self.addrs]

    async def primary_address(self, ifindex: int, family: int, exclude=()) -> IPv4Address | None:
        return next((a for a in self.addrs if a not in exclude), None)


def daemon(tmp_path: Path, *, configured: IPv4Address | None, track: bool) -> Daemon:
    config, _ = parse_string(CONF)
    d = Daemon(config, state_dir=tmp_path)
    inst = types.SimpleNamespace(
        unicast_src_ip=configured,
        mcast_src_ip=None,
        family=4,
        track_src_ip=track,
        vips=(types.SimpleNamespace(address=IPv4Interface(f"{VIP}/32")),),
        vips_excluded=(),
    )
    d.instances["VI_1"] = inst  # type: ignore[assignment]
    d._links["VI_1"] = LinkInfo(IFINDEX, "eth0", MAC, True, 1500)
    d.node.add_router(params("VI_1"), RouterLink(IFINDEX, configured or SRC, MAC))
    d.node.set_tracking("VI_1", TrackingChanged(offset=0), 0)
    d.node.start(0)
    return d


def ev(ip: IPv4Address, deleted: bool) -> AddrEvent:
    return AddrEvent(IFINDEX, ip, 24, deleted)


def test_interface_source_leaving_with_no_other_address_is_fault_then_recovers(tmp_path):
    d = daemon(tmp_path, configured=None, track=False)
    nl = FakeNetlink([VIP])  # only our own VIP is left: it never becomes the source
    asyncio.run(d._check_source(nl, "VI_1", ev(SRC, True)))
    assert d.node.router("VI_1").state is State.FAULT and "VI_1" in d._source_gone
    nl.addrs = [VIP, OTHER]
    asyncio.run(d._check_source(nl, "VI_1", ev(OTHER, False)))
    assert d.node.router("VI_1").state is State.BACKUP and d.node.link("VI_1").src == OTHER


def test_interface_source_replaced_by_another_address_without_fault(tmp_path):
    d = daemon(tmp_path, configured=None, track=False)
    asyncio.run(d._check_source(FakeNetlink([OTHER]), "VI_1", ev(SRC, True)))
    assert d.node.router("VI_1").state is State.BACKUP and d.node.link("VI_1").src == OTHER
    asyncio.run(d._check_source(FakeNetlink([OTHER]), "VI_1", ev(VIP, True)))  # not our source
    assert d.node.link("VI_1").src == OTHER


def test_configured_source_is_followed_only_with_track_src_ip(tmp_path):
    d = daemon(tmp_path, configured=SRC, track=False)
    asyncio.run(d._check_source(FakeNetlink([]), "VI_1", ev(SRC, True)))
    assert d.node.router("VI_1").state is State.BACKUP  # keepalived: no track_src_ip, no FAULT
    d = daemon(tmp_path, configured=SRC, track=True)
    asyncio.run(d._check_source(FakeNetlink([]), "VI_1", ev(OTHER, True)))  # another address
    assert d.node.router("VI_1").state is State.BACKUP
    asyncio.run(d._check_source(FakeNetlink([]), "VI_1", ev(SRC, True)))
    assert d.node.router("VI_1").state is State.FAULT
    asyncio.run(d._check_source(FakeNetlink([SRC]), "VI_1", ev(SRC, False)))
    assert d.node.router("VI_1").state is State.BACKUP and d.node.link("VI_1").src == SRC


def test_tracked_configured_source_missing_at_start_is_fault(tmp_path):
    d = daemon(tmp_path, configured=SRC, track=True)
    asyncio.run(d._check_source(FakeNetlink([OTHER]), "VI_1", None))
    assert d.node.router("VI_1").state is State.FAULT
