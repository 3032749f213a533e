"""Core bugs the simulator found, pinned as strict xfails until the core's owner fixes them.

When a fix lands, these XPASS and fail (strict): remove the marker, and the ``tolerate_*`` flag
of ``tests.sim.checks.Checker`` that lets a soak look past the bug.
"""

from __future__ import annotations

import ipaddress

import pytest

from tests.sim.history import History, run
from vipkeeper.core import codec
from vipkeeper.core.events import Received
from vipkeeper.core.node import VrrpNode
from vipkeeper.core.params import RouterLink, RouterParams

# make sim SEED=5 PROFILE=heavy, shrunk: h4 hears h5's adverts for 4 s, then a reload removes its
# instance (VrrpNode.remove_router); at that instant h4's node has received 18 packets and
# accounted() says 0.
REMOVED_ROUTER_REPLAY = (
    '{"seed":5,"version":3,"advert_int_cs":20,"unicast":false,"hosts":[{"name":"h1","addr":"10.0.0.1",'
    '"priority":199,"nopreempt":false,"preempt_delay_s":0,"ppm":-8301,"clock0_us":175668030011,'
    '"state_master":true,"fast_preempt":false,"lower_prio_no_advert":false,"higher_prio_send_advert":false},'
    '{"name":"h2","addr":"10.0.0.2","priority":4,"nopreempt":false,"preempt_delay_s":0,"ppm":3374,'
    '"clock0_us":198768863261,"state_master":false,"fast_preempt":false,"lower_prio_no_advert":false,'
    '"higher_prio_send_advert":false},{"name":"h3","addr":"10.0.0.3","priority":159,"nopreempt":true,'
    '"preempt_delay_s":0,"ppm":4576,"clock0_us":142278089830,"state_master":true,"fast_preempt":false,'
    '"lower_prio_no_advert":false,"higher_prio_send_advert":false},{"name":"h4","addr":"10.0.0.4",'
    '"priority":224,"nopreempt":false,"preempt_delay_s":0,"ppm":277,"clock0_us":218877881330,'
    '"state_master":false,"fast_preempt":false,"lower_prio_no_advert":false,"higher_prio_send_advert":false},'
    '{"name":"h5","addr":"10.0.0.5","priority":248,"nopreempt":false,"preempt_delay_s":0,"ppm":2557,'
    '"clock0_us":22758125040,"state_master":false,"fast_preempt":false,"lower_prio_no_advert":false,'
    '"higher_prio_send_advert":true}],"delay_min_us":19812,"delay_max_us":19849,"actions":[[0,"restart","h4"],'
    '[0,"restart","h5"],[4036752,"unconfigure","h4"],[8091163,"settle",false,[]]],"tail_us":0,'
    '"down_timer_adverts":3,"family":4}'
)

REMOVED_ROUTER_BUG = (
    "VrrpNode.accounted() drops the packets a removed router had counted: after remove_router() "
    "(a reload without the instance) node.received keeps them and accounted() no longer does, so "
    "'every packet given to receive() is in exactly one of these counters' breaks (invariant 4)"
)


@pytest.mark.xfail(strict=True, reason=REMOVED_ROUTER_BUG)
def test_sim_removed_router_keeps_its_packets_accounted() -> None:
    out = run(History.from_json(REMOVED_ROUTER_REPLAY))
    assert out.ok, out.violation


@pytest.mark.xfail(strict=True, reason=REMOVED_ROUTER_BUG)
def test_node_removed_router_keeps_its_packets_accounted() -> None:
    """The same, without the simulator: one advert received, the router removed."""
    p = RouterParams(
        name="VI_1", vrid=51, version=3, family=4, base_priority=100, advert_int_cs=100,
        vips=(ipaddress.IPv4Address("10.0.0.100"),),
    )  # fmt: skip
    node = VrrpNode()
    node.add_router(p, RouterLink(2, ipaddress.IPv4Address("10.0.0.1"), bytes(6)))
    node.start(0)
    src, dst = ipaddress.IPv4Address("10.0.0.2"), p.group
    adv = codec.Advertisement(version=3, vrid=51, priority=200, addresses=p.vips, advert_int_cs=100)
    node.receive(Received(4, src, dst, 255, 2, codec.encode(adv, family=4, src=src, dst=dst)), 1_000)
    assert node.accounted() == node.received == 1
    node.remove_router("VI_1", 2_000)
    assert node.accounted() == node.received
