"""The simulator in ``make test``: a fixed set of histories, its teeth, its determinism.

``make sim SEEDS=N`` runs more (``tests/sim/run.py``).  A failure prints the seed, the violated
invariant and a shrunk replay (``tests.sim.history.report``).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.sim import broken
from tests.sim.history import History, HostCfg, describe, generate, report, run, shrink
from tests.sim.world import World
from vipkeeper.core.events import State

FIXED_SEEDS = 2400  # make test: >= 2,000 histories (and HEAVY_SEEDS more)
CHUNKS = 8
TEETH_BUDGET = 3000  # "caught within a few thousand histories"


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_fixed_histories_hold_every_invariant(chunk: int) -> None:
    per = FIXED_SEEDS // CHUNKS
    for seed in range(chunk * per, (chunk + 1) * per):
        out = run(generate(seed))
        if not out.ok:
            pytest.fail(report(out, run), pytrace=False)


HEAVY_SEEDS = 200


def test_heavy_histories_hold_every_invariant() -> None:
    """3..6 hosts, up to 30 faults, instances removed and added back by reloads."""
    for seed in range(HEAVY_SEEDS):
        out = run(generate(seed, "heavy"))
        if not out.ok:
            pytest.fail(report(out, run, profile="heavy"), pytrace=False)


@pytest.mark.parametrize(
    ("variant", "kinds"),
    [
        ("preempt-ignores-priority", {"stable", "one_master", "priority", "split", "down_timer"}),
        ("no-skew", {"nopreempt", "priority0", "stable", "one_master", "down_timer"}),
        ("master-ignores-priority", {"split", "one_master", "stable", "priority"}),
        ("ignores-preempt-settings", {"nopreempt", "preempt_delay", "stable", "priority"}),
    ],
)
def test_a_broken_router_is_caught(variant: str, kinds: set[str]) -> None:
    """The simulator has teeth: each deliberately broken router fails an invariant, and the
    shrunk history still does."""
    with broken.installed(variant):
        for seed in range(TEETH_BUDGET):
            out = run(generate(seed))
            if not out.ok:
                break
        else:
            pytest.fail(f"{variant}: {TEETH_BUDGET} histories and no violation")
        assert out.kind in kinds, out.violation
        small = shrink(out.history, out.kind)
        assert run(small).kind == out.kind
        assert len(small.actions) <= len(out.history.actions)
    assert run(small).ok, "the shrunk history fails the real router too"


def test_a_history_replays_bit_for_bit() -> None:
    for seed in (3, 77, 1631):
        hist = generate(seed)
        assert History.from_json(hist.to_json()) == hist
        a, b = run(hist), run(History.from_json(hist.to_json()))
        assert a.world is not None and b.world is not None
        assert (a.world.now_us, a.world.sent, a.world.lost, a.checker.transitions, a.checker.convergence_us) == (
            b.world.now_us,
            b.world.sent,
            b.world.lost,
            b.checker.transitions,
            b.checker.convergence_us,
        )
        assert describe(hist).startswith(f"seed {seed}:")


def test_host_clocks_run_at_their_rate_and_invert_exactly() -> None:
    w = World(generate(1))
    for h in w.hosts.values():
        for ppm in (-10_000, -1, 0, 7, 10_000):
            h.ppm = ppm
            for local in (h.clock0_us, h.clock0_us + 1, h.clock0_us + 999_999, h.clock0_us + 12_345_678):
                t = h.true_at(local)
                assert h.local(t) >= local and (t == 0 or h.local(t - 1) < local)
            assert h.local(1_000_000) - h.local(0) == 1_000_000 + ppm


def _cluster(*actions: tuple, prios: tuple[int, ...] = (200, 100)) -> History:
    hosts = tuple(HostCfg(f"h{i + 1}", f"10.0.0.{i + 1}", p) for i, p in enumerate(prios))
    return History(
        seed=0,
        version=3,
        advert_int_cs=100,
        unicast=False,
        hosts=hosts,
        delay_min_us=100,
        delay_max_us=1000,
        actions=(*actions, (60_000_000, "settle", False, ())),
    )


def test_a_crashed_daemon_leaves_its_vip_and_a_restart_removes_it() -> None:
    hist = _cluster((0, "restart", "h1"), (0, "restart", "h2"))
    w = World(hist)
    w.run_until(10_000_000)
    h1, h2 = w.hosts["h1"], w.hosts["h2"]
    assert h1.state is State.MASTER and h1.has_vip and not h2.has_vip
    w._do_crash("h1", False)  # kill -9: the address stays on the interface
    w.run_until(20_000_000)
    assert h1.has_vip and h2.state is State.MASTER and h2.has_vip  # the known double holder
    w._do_restart("h1")  # stale VIP removed before the node starts
    assert not h1.has_vip and h1.state is State.BACKUP
    w.run_until(30_000_000)
    assert h1.state is State.MASTER and not h2.has_vip


def test_sigterm_hands_over_within_skew_time() -> None:
    hist = _cluster((0, "restart", "h1"), (0, "restart", "h2"), (10_000_000, "stop", "h1"))
    out = run(hist)
    assert out.ok, out.violation
    assert out.checker.handovers == 1
    w = out.world
    assert w is not None and w.hosts["h2"].state is State.MASTER and w.hosts["h1"].node is None


def test_an_exception_in_the_core_is_a_violation() -> None:
    class Boom(broken.VrrpRouter):
        def on_timer(self, now_us: int) -> list:  # type: ignore[type-arg]
            raise RuntimeError("boom")

    broken.VARIANTS["boom"] = Boom
    try:
        with broken.installed("boom"):
            out = run(_cluster((0, "restart", "h1")))
    finally:
        del broken.VARIANTS["boom"]
    assert out.kind == "exception" and "boom" in (out.violation or "")


# ------------------------------------------------------------------ vrrp_dcs: invariant 1

DCS_SEEDS = 150  # per dcs profile (make test); each history is ~15x a plain one


@pytest.mark.parametrize("profile", ["dcs", "dcs-cut"])
def test_fixed_dcs_histories_never_have_two_vip_holders(profile: str) -> None:
    """Invariant 1 at every instant, and the VIP on the host the key names at the end (1b)."""
    for seed in range(DCS_SEEDS):
        out = run(generate(seed, profile))
        if not out.ok:
            pytest.fail(report(out, run, profile=profile), pytrace=False)


@pytest.mark.parametrize("variant", broken.DCS_VARIANTS)
def test_a_broken_lease_arithmetic_is_caught(variant: str) -> None:
    """The simulator has teeth for invariant 1: the lease safety margin set to zero, the lease's
    TTL counted from the answer's receipt instead of the request's send, or the lock revoked as
    soon as the tracker fails, puts the VIP on two hosts within a few thousand histories (in
    practice: within 200 dcs-cut histories)."""
    with broken.dcs_installed(variant):
        for seed in range(TEETH_BUDGET):
            out = run(generate(seed, "dcs-cut"))
            if not out.ok:
                break
        else:
            pytest.fail(f"{variant}: {TEETH_BUDGET} histories and no violation")
    assert out.kind == "two_holders", out.violation
    assert run(out.history).ok, "the real session fails the same history too"


def _dcs_pair(mode: str, *actions: tuple, ttl_s: int = 3) -> History:
    from tests.sim.dcs import DcsCfg

    hosts = (HostCfg("h1", "10.0.0.1", 150, fast_preempt=True), HostCfg("h2", "10.0.0.2", 100, fast_preempt=True))
    dcs = DcsCfg(mode, ttl_s, 500, 500, 0, 1000, 2000, 10_000, writer_ttl_s=4)
    acts = ((0, "restart", "h1"), (3_000, "restart", "h2"), *actions, (20_000_000, "settle", False, ("h1", "h2")))
    return History(0, 3, 100, False, hosts, 100, 1000, acts, dcs=dcs)


@pytest.mark.parametrize("mode", ["lock", "follow"])
def test_a_holder_cut_off_from_etcd_releases_the_vip_before_the_other_takes_it(mode: str) -> None:
    """The partition of issue 12: h1 holds the key and the VIP; cut off from h2 and from etcd
    at 8 s, it releases the VIP a margin before its lease can expire; h2 then takes the key
    and the VIP; never both."""
    cut = [
        (8_000_000, "partition", "h1", "h2"),
        (8_000_000, "partition", "h2", "h1"),
        (8_000_000, "etcd_cut", "h1", True),
    ]
    w = World(_dcs_pair(mode, *cut))
    w.run_until(7_900_000)
    h1, h2 = w.hosts["h1"], w.hosts["h2"]
    assert w.etcd is not None and w.etcd.holder() == "h1"
    assert h1.has_vip and h1.state is State.MASTER and not h2.has_vip and h2.state is State.FAULT
    released = taken = None
    while w.now_us < 19_000_000:
        w.run_until(w.now_us + 1_000)
        assert not (h1.has_vip and h2.has_vip)
        if released is None and not h1.has_vip:
            released = w.now_us
        if taken is None and h2.has_vip:
            taken = w.now_us
    assert released is not None and taken is not None and w.etcd.holder() == "h2"
    ttl_s = 3 if mode == "lock" else 4
    assert 8_000_000 < released < 8_000_000 + ttl_s * 1_000_000 < taken + 600_000
    assert taken - released >= 400_000  # the margin (0.5 s, less the VIP worker's delay)


def test_etcd_model_keeps_leases_on_its_clock_and_extends_them_on_a_new_leader() -> None:
    from tests.sim.dcs import EtcdModel
    from vipkeeper.checks.dcs.session import Request

    w = World(_dcs_pair("lock"))
    etcd = EtcdModel(w, replace(w.hist.dcs, etcd_ppm=10_000))  # type: ignore[arg-type]
    lid = etcd._apply(Request("grant", ttl_s=2))[0][0]  # type: ignore[index]
    etcd._apply(Request("create", "/k", lease_id=lid, value="h1"))
    assert etcd._apply(Request("create", "/k", lease_id=lid, value="h2"))[0][0] is False  # type: ignore[index]
    w.now_us = 990_100
    assert etcd._apply(Request("ttl", lease_id=lid))[0] == 0  # 0.99 s left: truncated, as etcd
    w.run_until(1_980_197)  # 2 s of a clock 1 % fast
    assert "/k" in etcd.kv
    w.run_until(1_980_200)
    assert "/k" not in etcd.kv and lid not in etcd.leases
    lid = etcd._apply(Request("grant", ttl_s=2))[0][0]  # type: ignore[index]
    etcd.set_quorum(False)
    w.run_until(10_000_000)
    assert lid in etcd.leases  # no leader: nothing expires
    etcd.set_quorum(True)  # a new leader: every lease has its full TTL again
    assert etcd._apply(Request("ttl", lease_id=lid))[0] == 2


SYNC_SEEDS = 300


def test_fixed_sync_group_histories_hold_every_invariant() -> None:
    """Two instances per host in one vrrp_sync_group: VI_1 judged by invariants 2-4, VI_2 in the
    same state as VI_1 on every host once converged, each VIP on its MASTER only."""
    for seed in range(SYNC_SEEDS):
        out = run(generate(seed, "sync"))
        if not out.ok:
            pytest.fail(report(out, run, profile="sync"), pytrace=False)
