"""DcsSession, the sans-IO decisions of vrrp_dcs: requests out, answers (with their send and
receive times) in, no clock and no I/O (the asyncio driver is tested in test_dcs.py)."""

from __future__ import annotations

import pytest

from vipkeeper.checks.dcs.decide import CLOCK_RATE_BOUND, margin_s
from vipkeeper.checks.dcs.session import REVOKE_AFTER_FAIL_S, Answer, DcsSession, Kv, Request
from vipkeeper.core.tracking import Status


def lock_session() -> DcsSession:
    return DcsSession("leader", "lock", "/k", "a", ttl_s=6, interval_s=1.0, timeout_s=1.0)


def test_lock_round_grants_reads_creates_and_trusts_the_lease_from_the_send_time() -> None:
    s = lock_session()
    assert s.set_eligible(True) and s.round_due(0.0)
    assert s.begin_round(10.0) == Request("grant", ttl_s=6)
    assert s.answer(Answer(10.0, 10.4, (0x21, 6))) == Request("get", "/k")
    assert s.answer(Answer(10.4, 10.5, (None, 3))) == Request("create", "/k", lease_id=0x21, value="a")
    assert s.answer(Answer(10.5, 10.6, (True, None))) is None
    assert s.settle(10.6) and s.state.status is Status.OK
    fail_at = 10.0 + 6 / (1 + CLOCK_RATE_BOUND) - margin_s(6)  # the grant's send time, not 10.4
    assert s.state.confirmation is not None and s.state.confirmation.fail_at_mono == pytest.approx(fail_at)
    assert s.next_deadline() == 11.0  # the next round (interval after the round began)
    assert not s.round_due(10.9) and s.round_due(11.0)
    # etcd goes away: the next rounds fail, the verdict holds until fail_at, then never again
    assert s.begin_round(11.0) == Request("keepalive", lease_id=0x21)
    assert s.answer(Answer(11.0, 12.0, error="timeout", message="no answer")) is None
    assert not s.settle(12.0) and "still safe" in s.state.reason
    assert s.next_deadline() == 12.0  # the next round comes before fail_at
    assert s.settle(fail_at) and s.state.status is Status.FAIL
    assert s.state.confirmation is None


def test_lock_turning_ineligible_revokes_and_a_lost_lease_is_regranted() -> None:
    s = lock_session()
    s.set_eligible(True)
    s.begin_round(0.0)
    s.answer(Answer(0.0, 0.1, (7, 6)))
    s.answer(Answer(0.1, 0.2, (Kv(b"a", 7), 5)))  # already ours
    s.settle(0.2)
    assert s.state.status is Status.OK
    assert s.begin_round(1.0) == Request("keepalive", lease_id=7)
    assert s.answer(Answer(1.0, 1.1, error="lease_not_found", message="gone")) == Request("grant", ttl_s=6)
    assert s.answer(Answer(1.1, 1.2, (8, 6))) == Request("get", "/k")
    assert s.answer(Answer(1.2, 1.3, (Kv(b"b", 9), 6))) is None  # another host took it meanwhile
    assert s.settle(1.3) and s.state.reason == "the lock /k is held by 'b'"
    assert s.set_eligible(False, "VI_1: pg is FAIL")
    s.settle(1.4)
    assert s.begin_round(1.5) == Request("get", "/k")
    s.answer(Answer(1.5, 1.6, (Kv(b"b", 9), 6)))
    assert s.next_deadline() == pytest.approx(1.3 + REVOKE_AFTER_FAIL_S)  # our unused lease 8 goes too
    assert s.begin_round(1.8) == Request("revoke", lease_id=8)


def test_lock_turning_ineligible_fails_first_and_revokes_once_the_vip_is_gone() -> None:
    s = lock_session()
    s.set_eligible(True)
    s.begin_round(0.0)
    s.answer(Answer(0.0, 0.1, (7, 6)))
    s.answer(Answer(0.1, 0.2, (Kv(b"a", 7), 5)))
    assert s.settle(0.2) and s.state.status is Status.OK
    s.set_eligible(False, "VI_1: pg is FAIL")
    assert s.begin_round(1.0) == Request("get", "/k")  # no revoke yet: the VIP is still there
    assert s.answer(Answer(1.0, 1.1, (Kv(b"a", 7), 5))) is None
    assert s.settle(1.1) and s.state.status is Status.FAIL  # the node deletes the VIP now
    assert s.next_deadline() == pytest.approx(1.1 + REVOKE_AFTER_FAIL_S)
    assert not s.round_due(1.5) and s.round_due(1.1 + REVOKE_AFTER_FAIL_S)
    assert s.begin_round(1.6) == Request("revoke", lease_id=7)
    assert s.answer(Answer(1.6, 1.7, None)) == Request("get", "/k")
    assert s.answer(Answer(1.7, 1.8, (None, 6))) is None
    assert s.state.lease_id is None and s.state.why_not == "not eligible: VI_1: pg is FAIL"
    assert any("released the lock /k" in m for _lvl, m in s.logs)
    # eligible again before the revoke went: the lease is kept
    s.set_eligible(True)
    s.begin_round(2.0)
    s.answer(Answer(2.0, 2.1, (8, 6)))
    s.answer(Answer(2.1, 2.2, (Kv(b"a", 8), 5)))
    s.settle(2.2)
    s.set_eligible(False, "again")
    s.begin_round(2.5)
    s.answer(Answer(2.5, 2.6, (Kv(b"a", 8), 5)))
    s.settle(2.6)
    s.set_eligible(True)
    assert s.begin_round(2.7) == Request("keepalive", lease_id=8)


def test_follow_reads_the_key_then_its_lease() -> None:
    s = DcsSession("leader", "follow", "/k", "a", ttl_s=0, interval_s=1.0, timeout_s=0.5)
    assert s.begin_round(5.0) == Request("get", "/k")
    assert s.answer(Answer(5.0, 5.2, (Kv(b"a", 3), 9))) == Request("ttl", lease_id=3)
    assert s.answer(Answer(5.2, 5.3, 4)) is None
    assert s.settle(5.3) and s.state.holder == "a"
    assert s.state.confirmation is not None and s.state.confirmation.sent_mono == 5.0
    s.kick()  # a watch event: a round is due at once
    assert s.round_due(5.4) and s.next_deadline() is None
