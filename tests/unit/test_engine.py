"""The VRRP engine over a fake link with a fake clock.

Each test asserts what an operator would check: which host is MASTER, where
the VIP is, when it moved, and what went on the wire.
"""

from __future__ import annotations

import ipaddress

import pytest

from tests.unit.linked import US, LinkedNodes, params
from vipkeeper.core import codec, timers
from vipkeeper.core.codec import Advertisement
from vipkeeper.core.constants import AUTH_PASS
from vipkeeper.core.events import (
    AdvertDropped,
    AdvertReceived,
    LinkChanged,
    Shutdown,
    State,
    TrackingChanged,
    Transmit,
)
from vipkeeper.core.router import VrrpRouter

MS = 1000


def sent_priorities(effects) -> list[int]:
    """The priority of every advert put on the wire, decoded from its bytes."""
    return [
        codec.decode(e.payload, family=e.family, src=e.src, dst=e.dst).priority
        for e in effects
        if isinstance(e, Transmit)
    ]


def pair(version=2, advert_int_cs=100, a_kw=None, b_kw=None, **net_kw):
    net = LinkedNodes(**net_kw)
    a = dict(version=version, advert_int_cs=advert_int_cs, base_priority=100, want_master=True)
    b = dict(version=version, advert_int_cs=advert_int_cs, base_priority=99)
    net.add("A", "172.20.0.112", params(**{**a, **(a_kw or {})}))
    net.add("B", "172.20.0.113", params(**{**b, **(b_kw or {})}))
    return net


def test_initial_election_state_master_waits_master_down_interval():
    net = pair()
    net.start()
    net.run_for(5 * US)
    assert net.masters() == ["A"]
    assert net.holders() == ["A"]
    # keepalived 2.2.7 vrrp_init_state(): a non-owner with state MASTER waits the
    # full Master_Down_Interval, like a backup (its shorter "one advert interval
    # plus the minimal skew" is for sync-group members only).
    assert net.became_master_at("A") == timers.master_down_us(2, 100, 100)
    assert net.hosts["B"].router.state is State.BACKUP
    assert net.hosts["B"].router.master_addr == ipaddress.ip_address("172.20.0.112")


def test_backup_only_cluster_elects_highest_after_down_interval():
    net = pair(a_kw=dict(want_master=False))
    net.start()
    net.run_for(10 * US)
    assert net.masters() == ["A"]
    # A (100) has the shorter Master_Down_Interval: 3 s + 156/256 s.
    assert net.became_master_at("A") == 3 * US + 156 * US // 256


def test_master_loss_backup_takes_over_after_master_down_interval():
    net = pair()
    net.start()
    net.run_for(5 * US)
    last_advert = max(t for t, _ in net.hosts["A"].sent)
    net.kill("A")
    net.run_for(10 * US)
    assert net.holders() == ["B"]
    took = net.became_master_at("B") - last_advert
    # 3 * 1 s + (256 - 99)/256 s = 3.613 s after the last advert B heard.
    expected = timers.master_down_us(2, 99, 100)
    assert expected == 3_613_281
    assert abs(took - expected) <= 1 * MS
    assert net.hosts["B"].garps, "the new master sends gratuitous ARP"


def test_priority_zero_handover_takes_skew_time():
    net = pair()
    net.start()
    net.run_for(5 * US)
    t0 = net.now_us
    net.feed("A", Shutdown())
    assert net.hosts["A"].sent[-1] == (t0, 0), "a resigning master sends priority 0"
    assert net.holders() == []
    net.run_for(2 * US)
    took = net.became_master_at("B", t0) - t0
    assert abs(took - timers.skew_us(2, 99, 100) - net.latency_us) <= 1
    assert net.holders() == ["B"]
    assert net.hosts["A"].router.state is State.STOP


def test_returning_higher_priority_preempts():
    net = pair()
    net.start()
    net.run_for(5 * US)
    net.kill("A")
    net.run_for(5 * US)
    assert net.masters() == ["B"]
    # A comes back: a fresh engine, as after a reboot.
    net.add("A", "172.20.0.112", params(base_priority=100, want_master=True))
    t0 = net.now_us
    net.start("A")
    net.run_for(5 * US)
    assert net.masters() == ["A"]
    assert net.holders() == ["A"]
    # it discards B's lower-priority adverts and takes over when its down timer runs out
    assert net.became_master_at("A", t0) - t0 == timers.master_down_us(2, 100, 100)
    assert net.hosts["B"].router.state is State.BACKUP


def test_nopreempt_keeps_the_current_master():
    net = LinkedNodes()
    net.add("A", "172.20.0.112", params(base_priority=100, nopreempt=True))
    net.add("B", "172.20.0.113", params(base_priority=99))
    net.start("B")
    net.run_for(5 * US)
    assert net.masters() == ["B"]
    net.start("A")
    net.run_for(20 * US)
    assert net.masters() == ["B"], "nopreempt: the higher priority does not take over"
    assert net.holders() == ["B"]


def test_preempt_delay_defers_preemption():
    net = LinkedNodes()
    net.add("A", "172.20.0.112", params(base_priority=100, preempt_delay_us=10 * US))
    net.add("B", "172.20.0.113", params(base_priority=99))
    net.start("B")
    net.run_for(5 * US)
    t0 = net.now_us
    net.start("A")
    net.run_for(12 * US)
    assert net.masters() == ["B"], "still within preempt_delay"
    net.run_for(10 * US)
    assert net.masters() == ["A"]
    took = net.became_master_at("A", t0) - t0
    assert 10 * US <= took <= 10 * US + timers.master_down_us(2, 100, 100) + 2 * US


def test_equal_priority_higher_address_wins():
    net = LinkedNodes()
    net.add("A", "172.20.0.112", params(base_priority=100))
    net.add("B", "172.20.0.113", params(base_priority=100))
    net.start()
    net.run_for(10 * US)
    assert net.masters() == ["B"]
    assert net.holders() == ["B"]


def test_backup_accepts_equal_priority_so_holder_keeps_vip():
    """On a tie the current master keeps the VIP (keepalived: >= in BACKUP)."""
    net = LinkedNodes()
    net.add("A", "172.20.0.113", params(base_priority=100))
    net.start("A")
    net.run_for(5 * US)
    net.add("B", "172.20.0.112", params(base_priority=100))
    net.start("B")
    net.run_for(20 * US)
    assert net.masters() == ["A"]


def test_partition_and_heal_converge_to_one_master():
    net = pair()
    net.start()
    net.run_for(5 * US)
    net.partition({"A"}, {"B"})
    net.run_for(10 * US)
    assert sorted(net.masters()) == ["A", "B"], "each side elects itself during a partition"
    net.heal()
    t0 = net.now_us
    net.run_for(3 * US)
    assert net.masters() == ["A"]
    assert net.holders() == ["A"]
    back = [t for t, s, _ in net.hosts["B"].states if s is State.BACKUP and t >= t0]
    assert back and back[0] - t0 <= 2 * US, "one master within two advert intervals of healing"


def test_three_routers_failover_in_priority_order():
    net = LinkedNodes()
    net.add("A", "172.20.0.112", params(base_priority=150))
    net.add("B", "172.20.0.113", params(base_priority=120))
    net.add("C", "172.20.0.114", params(base_priority=90))
    net.start()
    net.run_for(10 * US)
    assert net.masters() == ["A"]
    net.kill("A")
    net.run_for(10 * US)
    assert net.masters() == ["B"]
    assert net.hosts["C"].router.state is State.BACKUP
    net.kill("B")
    net.run_for(10 * US)
    assert net.masters() == ["C"]
    assert net.holders() == ["C"]


def test_v3_fast_timers_failover_and_interval_adoption():
    net = pair(version=3, advert_int_cs=5, b_kw=dict(advert_int_cs=100))
    net.start()
    net.run_for(2 * US)
    assert net.masters() == ["A"]
    b = net.hosts["B"].router
    assert b.master_adver_int_cs == 5, "RFC 5798 §6.4.2: the backup adopts the master's interval"
    last = max(t for t, _ in net.hosts["A"].sent)
    net.kill("A")
    net.run_for(US)
    took = net.became_master_at("B") - last
    # 3 * 50 ms + (256 - 99) * 50 ms / 256 = 180.66 ms
    assert abs(took - 180_664) <= MS


def test_v2_interval_mismatch_is_dropped_and_both_become_master():
    net = pair(b_kw=dict(advert_int_cs=200))
    net.start()
    net.run_for(10 * US)
    assert sorted(net.masters()) == ["A", "B"]
    assert net.hosts["B"].router.counters.drops.get("interval_mismatch", 0) > 0


def test_wrong_password_is_dropped_with_reason():
    a = params(auth_type=AUTH_PASS, auth_data=b"1111\0\0\0\0")
    r = VrrpRouter(a)
    r.src_addr = ipaddress.ip_address("172.20.0.113")
    r.handle(__import__("vipkeeper.core.events", fromlist=["Start"]).Start(), 0)
    adv = Advertisement(
        version=2,
        vrid=51,
        priority=200,
        addresses=a.vips,
        advert_int_cs=100,
        auth_type=AUTH_PASS,
        auth_data=b"2222\0\0\0\0",
    )
    out = r.handle(AdvertReceived(adv, ipaddress.ip_address("172.20.0.9"), 255, True), 10)
    assert [type(e) for e in out] == [AdvertDropped]
    assert out[0].reason == "auth_failure"
    assert r.state is State.BACKUP
    assert r.next_deadline() == timers.master_down_us(2, 100, 100), "a dropped advert does not reset the timer"


@pytest.mark.parametrize(
    "change, reason",
    [
        (dict(ttl=64), "bad_ttl"),
        (dict(version=3), "version_mismatch"),
        (dict(addresses=(ipaddress.ip_address("10.0.0.1"),)), "addr_list"),
        (dict(addresses=()), "addr_count"),
        (dict(multicast=False), "wrong_cast"),
    ],
)
def test_invalid_adverts_are_dropped(change, reason):
    from vipkeeper.core.events import Start

    p = params()
    r = VrrpRouter(p)
    r.src_addr = ipaddress.ip_address("172.20.0.113")
    r.handle(Start(), 0)
    fields = dict(version=2, vrid=51, priority=200, addresses=p.vips, advert_int_cs=100)
    ttl = change.pop("ttl", 255)
    mc = change.pop("multicast", True)
    fields.update(change)
    out = r.handle(AdvertReceived(Advertisement(**fields), ipaddress.ip_address("172.20.0.9"), ttl, mc), 5)
    assert len(out) == 1 and out[0].reason == reason
    assert r.counters.drops == {reason: 1}


def test_master_reasserts_on_lower_priority_advert():
    net = pair()
    net.start()
    net.run_for(5 * US)
    a = net.hosts["A"].router
    before = len(net.hosts["A"].sent)
    adv = Advertisement(version=2, vrid=51, priority=50, addresses=a.params.vips, advert_int_cs=100)
    out = net.feed("A", AdvertReceived(adv, ipaddress.ip_address("172.20.0.114"), 255, True))
    assert sent_priorities(out) == [100]
    assert len(net.hosts["A"].sent) == before + 1
    assert a.state is State.MASTER


def test_lower_prio_no_advert_stays_silent():
    net = pair(a_kw=dict(lower_prio_no_advert=True))
    net.start()
    net.run_for(5 * US)
    a = net.hosts["A"].router
    adv = Advertisement(version=2, vrid=51, priority=50, addresses=a.params.vips, advert_int_cs=100)
    out = net.feed("A", AdvertReceived(adv, ipaddress.ip_address("172.20.0.114"), 255, True))
    assert sent_priorities(out) == []


def test_address_owner_takes_over_at_once():
    net = LinkedNodes()
    net.add("A", "172.20.0.112", params(base_priority=255, want_master=True))
    net.add("B", "172.20.0.113", params(base_priority=100))
    net.start("B")
    net.run_for(5 * US)
    t0 = net.now_us
    net.start("A")
    net.run_for(US)
    assert net.masters() == ["A"]
    assert net.became_master_at("A", t0) - t0 <= 1


def test_tracking_weight_moves_the_vip_like_the_seed_table():
    """Seed: 100/99 with weight +4 on both.  A pass/B fail: A; A fail/B pass: B."""
    net = pair()
    net.start()
    net.feed("A", TrackingChanged(offset=4))
    net.feed("B", TrackingChanged(offset=0))
    net.run_for(10 * US)
    assert net.holders() == ["A"]
    net.feed("A", TrackingChanged(offset=0))  # A's check fails: 100
    net.feed("B", TrackingChanged(offset=4))  # B's passes: 103
    net.run_for(10 * US)
    assert net.holders() == ["B"]
    # both fail: 100 vs 99, the VIP goes back to A (the seed's "VIP on a dead node")
    net.feed("B", TrackingChanged(offset=0))
    net.run_for(10 * US)
    assert net.holders() == ["A"]
    # both pass: 104 vs 103: A (the seed's split-brain row)
    net.feed("A", TrackingChanged(offset=4))
    net.feed("B", TrackingChanged(offset=4))
    net.run_for(10 * US)
    assert net.holders() == ["A"]


def test_effective_priority_is_clamped():
    r = VrrpRouter(params(base_priority=250))
    r.handle(TrackingChanged(offset=100), 0)
    assert r.effective_priority == 254
    r.handle(TrackingChanged(offset=-1000), 0)
    assert r.effective_priority == 1
    owner = VrrpRouter(params(base_priority=255))
    owner.handle(TrackingChanged(offset=-50), 0)
    assert owner.effective_priority == 255


def test_weight_zero_fault_resigns_and_backup_takes_over_fast():
    net = pair()
    net.start()
    net.run_for(5 * US)
    t0 = net.now_us
    net.feed("A", TrackingChanged(offset=0, faults=frozenset({"chk_pg"})))
    assert net.hosts["A"].router.state is State.FAULT
    assert net.hosts["A"].sent[-1] == (t0, 0)
    net.run_for(2 * US)
    assert net.holders() == ["B"]
    assert net.became_master_at("B", t0) - t0 < US
    # A recovers: back to BACKUP, then preempts B (100 > 99).
    net.feed("A", TrackingChanged(offset=0))
    assert net.hosts["A"].router.state is State.BACKUP
    net.run_for(10 * US)
    assert net.holders() == ["A"]


def test_pending_weight_zero_tracker_holds_init():
    r = VrrpRouter(params())
    from vipkeeper.core.events import Start

    r.handle(TrackingChanged(offset=0, pending=frozenset({"chk"})), 0)
    r.handle(Start(), 0)
    assert r.state is State.INIT
    assert r.next_deadline() is None
    r.handle(TrackingChanged(offset=0), 10)
    assert r.state is State.BACKUP


def test_link_down_faults_and_link_up_returns_to_backup():
    net = pair()
    net.start()
    net.run_for(5 * US)
    out = net.feed("A", LinkChanged(up=False))
    assert net.hosts["A"].router.state is State.FAULT
    assert sent_priorities(out) == [0]
    net.run_for(5 * US)
    assert net.holders() == ["B"]
    net.feed("A", LinkChanged(up=True))
    assert net.hosts["A"].router.state is State.BACKUP
    net.run_for(10 * US)
    assert net.holders() == ["A"]


def test_fast_preempt_takes_over_as_soon_as_priority_rises():
    net = pair(a_kw=dict(fast_preempt=True), b_kw=dict(fast_preempt=True))
    net.start()
    net.run_for(5 * US)
    assert net.holders() == ["A"]
    t0 = net.now_us
    net.feed("B", TrackingChanged(offset=4))  # 103 > 100
    assert net.hosts["B"].router.state is State.MASTER
    net.run_for(US)
    assert net.holders() == ["B"]
    assert net.hosts["A"].router.state is State.BACKUP
    assert net.became_master_at("B", t0) == t0


def test_without_fast_preempt_a_rising_backup_waits_for_the_down_timer():
    net = pair()
    net.start()
    net.run_for(5 * US)
    t0 = net.now_us
    net.feed("B", TrackingChanged(offset=4))
    net.run_for(10 * US)
    assert net.holders() == ["B"]
    # RFC preemption: B discards A's lower adverts and waits for its down
    # timer, armed by the last advert it accepted (at most 1 s before t0).
    assert net.became_master_at("B", t0) - t0 >= 2 * US


def test_fast_preempt_leaving_fault_after_resign_takes_over_at_once():
    """The promoted standby's check passes after the old master resigned: no Skew_Time wait
    (issue 12: PostgreSQL promote -> first GARP within one advert send)."""
    net = pair(b_kw=dict(fast_preempt=True))
    net.start()
    net.run_for(5 * US)
    net.feed("B", TrackingChanged(offset=0, faults=frozenset({"chk"})))
    net.feed("A", Shutdown())  # B hears the resign while in FAULT
    net.run_for(US)
    t1 = net.now_us
    net.feed("B", TrackingChanged(offset=0))
    assert net.hosts["B"].router.state is State.MASTER and net.became_master_at("B", t1) == t1
    assert "had resigned" in net.hosts["B"].states[-1][2]
    assert net.holders() == ["B"] and net.hosts["B"].garps[-1] == t1


def test_fast_preempt_leaving_fault_after_a_silent_master_takes_over_at_once():
    net = pair(b_kw=dict(fast_preempt=True))
    net.start()
    net.run_for(5 * US)
    net.feed("B", TrackingChanged(offset=0, faults=frozenset({"chk"})))
    net.kill("A")  # no resign: A's host is gone
    net.run_for(2 * US)  # B, in FAULT, hears nothing for a while...
    t1 = net.now_us
    net.feed("B", TrackingChanged(offset=0))
    assert net.hosts["B"].router.state is State.BACKUP, "not yet a Master_Down_Interval of silence"
    net.feed("B", TrackingChanged(offset=0, faults=frozenset({"chk"})))
    net.run_for(2 * US)
    t2 = net.now_us
    net.feed("B", TrackingChanged(offset=0))
    assert net.became_master_at("B", t1) == t2 and "no master heard for" in net.hosts["B"].states[-1][2]


def test_fast_preempt_leaving_fault_with_a_live_master_waits_and_yields():
    net = pair(b_kw=dict(fast_preempt=True))
    net.start()
    net.run_for(5 * US)
    net.feed("B", TrackingChanged(offset=0, faults=frozenset({"chk"})))
    net.run_for(3 * US)  # A keeps advertising; B (in FAULT) still hears it
    net.feed("B", TrackingChanged(offset=0))
    net.run_for(10 * US)
    assert net.masters() == ["A"] and net.holders() == ["A"]
    assert net.hosts["B"].router.state is State.BACKUP


def test_lossy_link_converges():
    net = pair(loss=0.3, seed=7)
    net.start()
    net.run_for(60 * US)
    net.loss = 0.0
    net.run_for(5 * US)
    assert net.masters() == ["A"]
    assert net.holders() == ["A"]


def test_ipv6_v3_election():
    vip = (ipaddress.ip_address("fd00:20::115"),)
    net = LinkedNodes()
    net.add("A", "fe80::a", params(version=3, family=6, advert_int_cs=10, base_priority=100, vips=vip))
    net.add("B", "fe80::b", params(version=3, family=6, advert_int_cs=10, base_priority=99, vips=vip))
    net.start()
    net.run_for(2 * US)
    assert net.masters() == ["A"]
    net.kill("A")
    net.run_for(US)
    assert net.holders() == ["B"]


def test_two_address_owners_resolve_to_one_master():
    """keepalived: an owner hearing another owner lowers itself to 254 and yields."""
    net = LinkedNodes()
    net.add("A", "172.20.0.112", params(base_priority=255, want_master=True))
    net.add("B", "172.20.0.113", params(base_priority=255, want_master=True))
    net.start()
    net.run_for(5 * US)
    assert len(net.masters()) == 1
    assert len(net.holders()) == 1
