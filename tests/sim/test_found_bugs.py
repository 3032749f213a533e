"""Core bugs the simulator found, each replayed (shrunk) through the simulator and reproduced at
the node: all fixed in the core (``core/router.py``, ``core/node.py``); these keep them fixed."""

from __future__ import annotations

import ipaddress

import pytest

from tests.sim.history import History, generate, run
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


def v3_params(name: str = "VI_1", vrid: int = 51) -> RouterParams:
    """A plain VRRPv3 instance at priority 100, advert_int 1 s, VIP 10.0.0.<100 + vrid - 51>."""
    vip = ipaddress.IPv4Address("10.0.0.100") + vrid - 51
    return RouterParams(
        name=name, vrid=vrid, version=3, family=4, base_priority=100, advert_int_cs=100, vips=(vip,)
    )  # fmt: skip


def test_sim_removed_router_keeps_its_packets_accounted() -> None:
    out = run(History.from_json(REMOVED_ROUTER_REPLAY))
    assert out.ok, out.violation


def test_node_removed_router_keeps_its_packets_accounted() -> None:
    """The same, without the simulator: one advert received, the router removed."""
    p = v3_params()
    node = VrrpNode()
    node.add_router(p, RouterLink(2, ipaddress.IPv4Address("10.0.0.1"), bytes(6)))
    node.start(0)
    src, dst = ipaddress.IPv4Address("10.0.0.2"), p.group
    adv = codec.Advertisement(version=3, vrid=51, priority=200, addresses=p.vips, advert_int_cs=100)
    node.receive(Received(4, src, dst, 255, 2, codec.encode(adv, family=4, src=src, dst=dst)), 1_000)
    assert node.accounted() == node.received == 1
    node.remove_router("VI_1", 2_000)
    assert node.accounted() == node.received


# make sim SEED=2802 PROFILE=heavy, shrunk (and two idle hosts dropped by hand): three hosts start
# together, unicast, VRRPv3, advert_int 0.5 s, delay 26..49 ms.  h2 (174, lower_prio_no_advert),
# h1 (166, fast_preempt) and h3 (160) all become MASTER within 27 ms.  h1 hears h2 (174) and
# yields; 30 ms later h3's advert, sent while h3 was still MASTER (h3 has since yielded to h2),
# reaches h1, which "fast preempts" that lower master and becomes MASTER again, VIP and all, over
# h2, the highest priority, heard 30 ms before.  h2 does not answer lower adverts
# (lower_prio_no_advert), so two MASTERs hold the VIP until h2's next advert: past the bound.
FAST_PREEMPT_REPLAY = (
    '{"seed":2802,"version":3,"advert_int_cs":50,"unicast":true,"hosts":[{"name":"h1","addr":"10.0.0.1",'
    '"priority":166,"nopreempt":false,"preempt_delay_s":1,"ppm":6228,"clock0_us":421089400690,'
    '"state_master":true,"fast_preempt":true,"lower_prio_no_advert":false,"higher_prio_send_advert":true},'
    '{"name":"h2","addr":"10.0.0.2","priority":174,"nopreempt":true,"preempt_delay_s":0,"ppm":8905,'
    '"clock0_us":924401872330,"state_master":false,"fast_preempt":false,"lower_prio_no_advert":true,'
    '"higher_prio_send_advert":false},{"name":"h3","addr":"10.0.0.3","priority":160,"nopreempt":true,'
    '"preempt_delay_s":0,"ppm":9436,"clock0_us":467621880678,"state_master":false,"fast_preempt":true,'
    '"lower_prio_no_advert":false,"higher_prio_send_advert":false}],"delay_min_us":26215,'
    '"delay_max_us":49414,"actions":[[11989304,"crash","h2",false],[19879835,"settle",false,["h1","h3"]]],'
    '"tail_us":0,"down_timer_adverts":3,"family":4}'
)

FAST_PREEMPT_BUG = (
    "core.router._backup_rx with fast_preempt: any lower-priority advert makes a BACKUP MASTER at once, "
    "even one from a master that has already yielded, arriving just after an advert from a higher-priority "
    "MASTER re-armed the down timer; the BACKUP takes the VIP over the highest priority (RFC 5798 §6.4.2 "
    "would discard the lower advert and let the timer run)"
)


def test_sim_fast_preempt_ignores_a_stale_lower_advert() -> None:
    out = run(History.from_json(FAST_PREEMPT_REPLAY))
    assert out.ok, out.violation


def test_node_fast_preempt_ignores_a_lower_advert_after_a_higher_master() -> None:
    """The same, without the simulator: a fast_preempt BACKUP (166) hears a MASTER at 174, then,
    30 ms later, a stale advert at 160: it must stay BACKUP."""
    vips = (ipaddress.IPv4Address("10.0.0.100"),)
    p = RouterParams(
        name="VI_1", vrid=51, version=3, family=4, base_priority=166, advert_int_cs=50, vips=vips,
        fast_preempt=True,
    )  # fmt: skip
    node = VrrpNode()
    node.add_router(p, RouterLink(2, ipaddress.IPv4Address("10.0.0.1"), bytes(6)))
    node.start(0)

    def advert(src: str, priority: int, now_us: int) -> None:
        ip = ipaddress.IPv4Address(src)
        adv = codec.Advertisement(version=3, vrid=51, priority=priority, addresses=vips, advert_int_cs=50)
        node.receive(Received(4, ip, p.group, 255, 2, codec.encode(adv, family=4, src=ip, dst=p.group)), now_us)

    advert("10.0.0.2", 174, 100_000)
    advert("10.0.0.3", 160, 130_000)
    assert str(node.router("VI_1").state) == "BACKUP"


# make sim SEED=661907 (strict soak), shrunk: h3 (priority 255, so its nopreempt is cleared by the
# config) starts while h2 (74) is MASTER and, preempting, discards h2's adverts, its down timer
# running from its start.  A reload gives h3 priority 149 with nopreempt in force
# (VrrpNode.reconfigure): the pending down timer is neither re-armed nor cancelled, so 0.58 s after
# the reload h3, now nopreempt, takes the VIP from the live lower-priority MASTER h2 (whose
# next advert would have re-armed it).
NOPREEMPT_RELOAD_REPLAY = (
    '{"seed":661907,"version":3,"advert_int_cs":100,"unicast":false,"hosts":[{"name":"h2","addr":"10.0.0.'
    '2","priority":74,"nopreempt":false,"preempt_delay_s":0,"ppm":6211,"clock0_us":403933054175,"state_ma'
    'ster":false,"fast_preempt":false,"lower_prio_no_advert":false,"higher_prio_send_advert":false},{"nam'
    'e":"h3","addr":"10.0.0.3","priority":255,"nopreempt":true,"preempt_delay_s":0,"ppm":-6290,"clock0_us'
    '":44318484781,"state_master":false,"fast_preempt":false,"lower_prio_no_advert":false,"higher_prio_se'
    'nd_advert":false}],"delay_min_us":12523,"delay_max_us":13225,"actions":[[0,"restart","h2"],[1875809,'
    '"restart","h3"],[4730438,"reload","h3",149],[6056496,"settle",false,[]]],"tail_us":0,"down_timer_adv'
    'erts":3,"family":4}'
)

NOPREEMPT_RELOAD_BUG = (
    "VrrpRouter.reconfigure: a reload that puts a BACKUP in nopreempt while it is preempting a "
    "lower-priority MASTER leaves the preemption's down timer armed; the BACKUP still takes over "
    "from the live MASTER (nopreempt not respected after a reload)"
)


def test_sim_reload_to_nopreempt_cancels_a_pending_preemption() -> None:
    out = run(History.from_json(NOPREEMPT_RELOAD_REPLAY))
    assert out.ok, out.violation


@pytest.mark.parametrize("seed", [1001473, 1041175])
def test_sim_nopreempt_keeps_the_wait_after_a_resign_with_fast_preempt(seed: int) -> None:
    """Found by the soak after fast_preempt learned to take over at once when the master is gone:
    a nopreempt host did so too, before its Skew_Time; with nopreempt the RFC's wait stays."""
    out = run(generate(seed))
    assert out.ok, out.violation


# make sim SEED=214 PROFILE=sync, shrunk: h3's link goes down (VI_2 enters FAULT first, VI_1
# follows as "sync group G: VI_2 in FAULT"); while VI_1 is already in FAULT its tracker fails too;
# the link comes back: VI_2 has no fault of its own left and the group had never heard of VI_1's
# (no state change, so no fan-out): VI_2 leaves FAULT and becomes MASTER with its VIP while VI_1
# stays in FAULT -- the sync group split.  keepalived (vrrp_track.c down_instance /
# try_up_instance) counts a member's first own fault in the group's num_member_fault whatever its
# state.  Fixed in core/node.py (_sync_faults).
SYNC_FAULT_REPLAY = (
    '{"seed":214,"version":3,"advert_int_cs":50,"unicast":false,"hosts":[{"name":"h3","addr":"10.0.0.3","'
    'priority":88,"nopreempt":false,"preempt_delay_s":0,"ppm":2038,"clock0_us":43796683224,"state_master"'
    ':false,"fast_preempt":false,"lower_prio_no_advert":false,"higher_prio_send_advert":false},{"name":"h'
    '4","addr":"10.0.0.4","priority":130,"nopreempt":false,"preempt_delay_s":0,"ppm":-3028,"clock0_us":44'
    '9842435244,"state_master":false,"fast_preempt":false,"lower_prio_no_advert":false,"higher_prio_send_'
    'advert":false}],"delay_min_us":39442,"delay_max_us":41257,"actions":[[0,"restart","h3"],[2584931,"li'
    'nk","h3",false],[3106083,"track","h3",30,true,false],[5080937,"settle",false,[]]],"tail_us":0,"down_'
    'timer_adverts":4,"family":4,"dcs":null,"sync":true}'
)


def test_sim_a_fault_of_a_member_already_in_fault_holds_its_sync_group() -> None:
    out = run(History.from_json(SYNC_FAULT_REPLAY))
    assert out.ok, out.violation


def test_node_a_fault_of_a_member_already_in_fault_holds_its_sync_group() -> None:
    """The same, at the node: two members on one link; link down, a tracker fault on VI_1, link up."""
    from vipkeeper.core.events import State, TrackingChanged

    node = VrrpNode()
    node.set_sync_groups({"G": ("VI_1", "VI_2")})
    for name, vrid in (("VI_2", 52), ("VI_1", 51)):  # VI_2 first: it enters FAULT first
        node.add_router(v3_params(name, vrid), RouterLink(2, ipaddress.IPv4Address("10.0.0.1"), bytes(6)))
    node.start(0)
    node.set_link(2, False, 1_000)
    node.set_tracking("VI_1", TrackingChanged(offset=0, faults=frozenset({"chk"})), 2_000)
    node.set_link(2, True, 3_000)
    assert node.router("VI_1").state is State.FAULT
    assert node.router("VI_2").state is State.FAULT  # held by VI_1's own fault
    node.set_tracking("VI_1", TrackingChanged(offset=0), 4_000)
    assert node.router("VI_1").state is State.BACKUP and node.router("VI_2").state is State.BACKUP


# A targeted vrrp_dcs history (lock mode, both hosts fast_preempt, a fast etcd, the VIP worker
# taking up to 0.1 s): h1 holds the lock and the VIP; its other tracker fails at 5 s.  The
# session revoked the lease at once; h2 took the lock within a millisecond, left FAULT and took
# the VIP while h1's VIP worker was still deleting it: two holders (150 of 300 such histories).
# docs/vrrp_dcs.md had it as a known gap.  Fixed in checks/dcs/session.py: the revoke goes
# REVOKE_AFTER_FAIL_S after the tracker failed.
def revoke_history(seed: int) -> History:
    from tests.sim.dcs import DcsCfg
    from tests.sim.history import HostCfg

    hosts = (HostCfg("h1", "10.0.0.1", 150, fast_preempt=True), HostCfg("h2", "10.0.0.2", 100, fast_preempt=True))
    dcs = DcsCfg("lock", 3, 500, 500, 0, 50, 100, 100_000)
    t = 5_000_000 + seed * 1000
    actions = ((0, "restart", "h1"), (3000, "restart", "h2"), (t, "track", "h1", 0, True, False))
    return History(
        seed, 3, 20, False, hosts, 100, 200, (*actions, (t + 5_000_000, "settle", False, ("h1", "h2"))), dcs=dcs
    )


@pytest.mark.parametrize("seed", [0, 3, 5])
def test_sim_an_ineligible_lock_holder_revokes_only_once_its_vip_is_gone(seed: int) -> None:
    out = run(revoke_history(seed))
    assert out.ok, out.violation
    w = out.world
    assert w is not None and w.etcd is not None and w.etcd.holder() == "h2" and w.hosts["h2"].has_vip
