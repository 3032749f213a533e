"""Priority arithmetic, as keepalived computes it (vrrp_track.c, track_file.c)."""

from __future__ import annotations

import ipaddress

import pytest

from tests.unit.linked import params
from vipkeeper.core.events import Start, State, SyncGroupChanged, TrackingChanged
from vipkeeper.core.router import VrrpRouter
from vipkeeper.core.tracking import (
    RiseFall,
    Status,
    Tracked,
    clamp_priority,
    contribution,
    evaluate,
    file_effect,
    is_fault,
)

OK, FAIL, INIT = Status.OK, Status.FAIL, Status.INIT


@pytest.mark.parametrize(
    "weight, reverse, status, offset",
    [
        (4, False, OK, 4),  # the seed: +4 while the script succeeds
        (4, False, FAIL, 0),
        (4, False, INIT, 0),  # nothing until the first result
        (-10, False, OK, 0),
        (-10, False, FAIL, -10),  # negative weight: subtracted while failed
        (4, True, OK, -4),  # reverse flips the direction
        (4, True, FAIL, 0),
        (-10, True, FAIL, 10),
        (-10, True, OK, 0),
        (0, False, FAIL, 0),
    ],
)
def test_contribution_table(weight, reverse, status, offset):
    assert contribution(weight, reverse, status) == offset


@pytest.mark.parametrize(
    "reverse, status, fault",
    [(False, FAIL, True), (False, OK, False), (False, INIT, False), (True, OK, True), (True, FAIL, False)],
)
def test_weight_zero_means_fault(reverse, status, fault):
    assert is_fault(0, reverse, status) is fault
    assert is_fault(5, reverse, status) is False


@pytest.mark.parametrize(
    "rise, fall, results, statuses",
    [
        # one result decides the first state
        (1, 1, [True], [OK]),
        (1, 1, [False], [FAIL]),
        (3, 3, [False], [FAIL]),
        (3, 3, [True], [OK]),
        # after that: fall failures to fail, rise successes to recover
        (1, 2, [True, False, False], [OK, OK, FAIL]),
        (2, 3, [True, False, False, False, True, True], [OK, OK, OK, FAIL, FAIL, OK]),
        (2, 2, [True, False, True, False, False], [OK, OK, OK, OK, FAIL]),
    ],
)
def test_rise_fall_sequences(rise, fall, results, statuses):
    rf = RiseFall(rise, fall)
    seen = []
    for r in results:
        rf.feed(r)
        seen.append(rf.status)
    assert seen == statuses


def test_init_fail_starts_failed_and_needs_rise_successes():
    rf = RiseFall(rise=2, fall=1, init_fail=True)
    assert rf.status is FAIL
    rf.feed(True)
    assert rf.status is FAIL
    assert rf.feed(True) is OK


@pytest.mark.parametrize(
    "value, weight, reverse, effect",
    [
        (0, 10, False, (0, False)),
        (3, 10, False, (30, False)),
        (-3, 10, False, (-30, False)),
        (3, 10, True, (-30, False)),
        (100, 10, False, (253, False)),  # clamped
        (-26, 10, False, (0, True)),  # -260 -> -254 = FAULT
        (0, 0, False, (0, False)),
        (7, 0, False, (0, True)),  # weight 0: non-zero is FAULT
        (0, 0, True, (0, True)),  # ... reversed: zero is FAULT
    ],
)
def test_track_file_effect(value, weight, reverse, effect):
    assert file_effect(value, weight, reverse) == effect


def test_evaluate_combines_scripts_files_and_pending():
    t = evaluate(
        [(Tracked("a", 4), OK), (Tracked("b", -10), FAIL), (Tracked("c", 0), INIT), (Tracked("d", 0), FAIL)],
        [(Tracked("f", 2), 5)],
    )
    assert t.offset == 4 - 10 + 10
    assert t.pending == {"c"}
    assert t.faults == {"d"}


@pytest.mark.parametrize("base, offset, prio", [(100, 4, 104), (250, 10, 254), (5, -10, 1), (255, -100, 255)])
def test_clamp(base, offset, prio):
    assert clamp_priority(base, offset) == prio


def test_sync_group_fault_and_master_follow_the_group():
    r = VrrpRouter(params())
    r.src_addr = ipaddress.ip_address("172.20.0.112")
    r.handle(Start(), 0)
    assert r.state is State.BACKUP
    r.handle(SyncGroupChanged(want=State.MASTER, group="G"), 10)
    assert r.state is State.MASTER
    r.handle(SyncGroupChanged(faults=frozenset({"VI_2"}), group="G"), 20)
    assert r.state is State.FAULT
    assert "sync group G" in r.reason
    r.handle(SyncGroupChanged(group="G"), 30)
    assert r.state is State.BACKUP
    # a member's own fault is not the group's
    r.handle(TrackingChanged(offset=0, faults=frozenset({"chk"})), 40)
    r.handle(SyncGroupChanged(group="G"), 50)
    assert r.state is State.FAULT and r.own_faults == {"chk"}
