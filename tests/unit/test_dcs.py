"""vrrp_dcs without etcd: the lease-safety arithmetic, the verdicts, and the tracker's rounds
driven by a fake client and a fake clock (the real etcd is in tests/netns/test_dcs.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from vipkeeper.checks.dcs.client import EtcdError, KeyValue, RangeResult
from vipkeeper.checks.dcs.decide import (
    CLOCK_RATE_BOUND,
    Confirmation,
    classify,
    earliest_loss_mono,
    fail_at_mono,
    judge,
    margin_s,
)
from vipkeeper.checks.dcs.session import REVOKE_AFTER_FAIL_S
from vipkeeper.checks.dcs.tracker import DcsTracker
from vipkeeper.config.model import VrrpDcs
from vipkeeper.core.tracking import Status

# ------------------------------------------------------------------ the arithmetic


def test_earliest_loss_counts_from_the_send_time_with_the_clock_rate_bound() -> None:
    assert earliest_loss_mono(100.0, 6) == pytest.approx(100.0 + 6 / (1 + CLOCK_RATE_BOUND))
    assert earliest_loss_mono(100.0, 6) < 106.0  # never later than a perfect clock would say
    assert earliest_loss_mono(100.0, -1) == 100.0  # a gone lease: already lost


def test_margin_is_at_least_half_a_second_and_a_tenth_of_long_ttls() -> None:
    assert margin_s(2) == 0.5 and margin_s(6) == pytest.approx(0.6) and margin_s(30) == 3.0
    assert fail_at_mono(10.0, 6, margin_s(6)) == pytest.approx(10.0 + 6 / 1.01 - 0.6)


def test_an_unleased_key_is_trusted_until_the_next_read_is_due() -> None:
    c = Confirmation.unleased(50.0, interval_s=1.0, timeout_s=0.5)
    assert c.fail_at_mono == 51.5 and c.ttl_s is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ("missing", None)),
        (b"pg-a", ("ours", "pg-a")),
        (b"pg-a\n", ("ours", "pg-a")),
        (b"pg-b", ("other", "pg-b")),
        (b"\xff\xfe", ("garbage", "fffe")),
        (b"a\x00b", ("garbage", "'a\\x00b'")),
        (b"x" * 2000, ("garbage", "2000 bytes")),
    ],
)
def test_classify(raw: bytes | None, expected: tuple[str, str | None]) -> None:
    assert classify(raw, "pg-a") == expected


# The decision table of docs/vrrp_dcs.md, row by row: (etcd answers?, last answer, trusted?) -> pass?
def test_judge_decision_table() -> None:
    conf = Confirmation.leased(0.0, 6, 6)  # trusted until 6/1.01 - 0.6 = 5.34
    assert judge(1.0, conf, None, None).ok  # etcd answers, key ours
    v = judge(3.0, conf, "timeout", None)
    assert v.ok and "still safe for 2.3 s" in v.reason  # blip shorter than the lease
    assert not judge(5.4, conf, "timeout", None).ok  # etcd gone past the margin
    assert not judge(1.0, None, None, "key /k names 'b', not 'a'").ok  # another holder
    assert judge(1.0, None, "no leader", None).reason == "etcd: no leader"
    assert judge(1.0, None, None, None).reason == "not confirmed yet"


# ------------------------------------------------------------------ the tracker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeEtcd:
    """The client's calls over a dict; ``down`` makes every call raise."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.kv: dict[str, KeyValue] = {}
        self.leases: dict[int, int] = {}  # id -> TTL
        self.down: EtcdError | None = None
        self.calls: list[str] = []
        self.last_endpoint = "http://e1:2379"
        self.next_lease = 0x10
        self.latency_s = 0.0

    def _call(self, what: str) -> None:
        self.calls.append(what)
        self.clock.now += self.latency_s
        if self.down is not None:
            raise self.down

    async def get(self, key: str) -> RangeResult:
        self._call("get")
        return RangeResult(self.kv.get(key), 7)

    async def time_to_live(self, lease_id: int) -> int:
        self._call("ttl")
        return self.leases.get(lease_id, -1)

    async def grant(self, ttl_s: int) -> tuple[int, int]:
        self._call("grant")
        self.next_lease += 1
        self.leases[self.next_lease] = ttl_s
        return self.next_lease, ttl_s

    async def keepalive(self, lease_id: int) -> int:
        self._call("keepalive")
        if lease_id not in self.leases:
            raise EtcdError("lease_not_found", "gone")
        return self.leases[lease_id]

    async def revoke(self, lease_id: int, timeout_s: float | None = None) -> None:
        self._call("revoke")
        self.leases.pop(lease_id, None)
        for k, kv in list(self.kv.items()):
            if kv.lease_id == lease_id:
                del self.kv[k]

    async def create_if_absent(self, key: str, value: str, lease_id: int) -> tuple[bool, KeyValue | None]:
        self._call("txn")
        if key in self.kv:
            return False, self.kv[key]
        self.kv[key] = KeyValue(value.encode(), lease_id, 1)
        return True, None

    async def close(self) -> None:
        pass


def make(mode: str = "follow", **kw: object) -> tuple[DcsTracker, FakeEtcd, FakeClock, list[Status]]:
    clock = FakeClock()
    etcd = FakeEtcd(clock)
    changes: list[Status] = []
    cfg = VrrpDcs(name="leader", endpoints=("http://e1:2379",), mode=mode, key="/k", value="a", **kw)  # type: ignore[arg-type]
    tr = DcsTracker(cfg, on_change=lambda _n, s: changes.append(s), client=etcd, clock=clock)  # type: ignore[arg-type]
    return tr, etcd, clock, changes


def round_(tr: DcsTracker) -> None:
    asyncio.run(tr._follow_round() if tr.cfg.mode == "follow" else tr._lock_round())
    tr._settle()


def test_follow_passes_on_our_value_and_rides_out_a_blip_shorter_than_the_lease() -> None:
    tr, etcd, clock, changes = make()
    etcd.leases[5] = 10  # Patroni's leader key: bound to a lease, 10 s left
    etcd.kv["/k"] = KeyValue(b"a", 5, 3)
    sent = clock.now
    round_(tr)
    assert changes == [Status.OK] and tr.state.holder == "a"
    fail_at = sent + 10 / 1.01 - 1.0  # margin: a tenth of 10 s
    etcd.down = EtcdError("timeout", "no answer within 1 s")
    clock.now = fail_at - 0.01
    round_(tr)
    assert changes == [Status.OK] and tr.state.errors == 1  # the blip: still passing
    assert tr.describe(clock.now)["etcd_up"] is False
    clock.now = fail_at
    tr._settle()
    assert changes == [Status.OK, Status.FAIL]
    assert "released" in tr.state.reason
    # once run out, a confirmation is never trusted again, even if the clock were wrong
    clock.now = fail_at - 1
    tr._settle()
    assert changes == [Status.OK, Status.FAIL]
    assert fail_at < earliest_loss_mono(sent, 10)


def test_follow_fails_at_once_on_another_holder_a_missing_key_or_garbage() -> None:
    tr, etcd, clock, changes = make()
    etcd.kv["/k"] = KeyValue(b"a", 0, 3)  # no lease: trusted until the next read is due
    round_(tr)
    assert changes == [Status.OK]
    assert tr.state.confirmation is not None and tr.state.confirmation.fail_at_mono == clock.now + 2.0
    etcd.kv["/k"] = KeyValue(b"b", 0, 4)
    round_(tr)
    assert changes == [Status.OK, Status.FAIL] and tr.state.reason == "key /k names 'b', not 'a'"
    assert tr.state.holder == "b"
    del etcd.kv["/k"]
    round_(tr)
    assert tr.state.reason == "key /k does not exist" and tr.state.holder is None
    etcd.kv["/k"] = KeyValue(b"\xff", 0, 5)
    round_(tr)
    assert tr.state.reason == "key /k holds garbage (ff)"
    assert changes == [Status.OK, Status.FAIL]


def test_follow_key_with_an_expired_lease_fails() -> None:
    tr, etcd, _clock, changes = make()
    etcd.kv["/k"] = KeyValue(b"a", 9, 3)  # lease 9 unknown: time_to_live says -1
    round_(tr)
    assert changes == [Status.FAIL] and tr.state.reason == "the key's lease has expired"


def test_lock_takes_the_key_only_while_eligible_and_revokes_when_not() -> None:
    tr, etcd, clock, changes = make("lock", ttl_s=6)
    round_(tr)
    assert changes == [Status.FAIL] and "grant" not in etcd.calls  # not eligible yet
    tr.set_eligible(True)
    round_(tr)
    assert changes == [Status.FAIL, Status.OK]
    assert etcd.kv["/k"].value == b"a" and tr.state.lease_id in etcd.leases
    etcd.calls.clear()
    round_(tr)
    assert etcd.calls == ["keepalive", "get"]  # holding: renew and verify
    seen_at_revoke: list[list[Status]] = []
    real_revoke = etcd.revoke

    async def revoke(lease_id: int, timeout_s: float | None = None) -> None:
        seen_at_revoke.append(list(changes))
        await real_revoke(lease_id, timeout_s)

    etcd.revoke = revoke  # type: ignore[method-assign]
    tr.set_eligible(False, "VI_1: pg is FAIL")
    round_(tr)
    assert changes == [Status.FAIL, Status.OK, Status.FAIL] and seen_at_revoke == []
    assert "/k" in etcd.kv and tr.state.lease_id is None  # the VIP goes first
    assert tr.session.next_deadline() == pytest.approx(clock.now + REVOKE_AFTER_FAIL_S)
    clock.now += REVOKE_AFTER_FAIL_S
    round_(tr)
    assert seen_at_revoke == [[Status.FAIL, Status.OK, Status.FAIL]]  # the tracker failed before the revoke
    assert "/k" not in etcd.kv and tr.state.lease_id is None
    assert tr.state.reason == "not eligible: VI_1: pg is FAIL"


def test_lock_held_by_another_host() -> None:
    tr, etcd, _clock, changes = make("lock", ttl_s=6)
    etcd.kv["/k"] = KeyValue(b"b", 99, 1)
    tr.set_eligible(True)
    round_(tr)
    assert changes == [Status.FAIL] and tr.state.reason == "the lock /k is held by 'b'"
    assert tr.state.holder == "b"


def test_lock_keeps_the_key_through_a_blip_and_releases_a_margin_before_expiry() -> None:
    tr, etcd, clock, changes = make("lock", ttl_s=6)
    tr.set_eligible(True)
    round_(tr)
    sent = clock.now
    round_(tr)  # a keep-alive: the lease's TTL counts from this send time
    etcd.down = EtcdError("unreachable", "connection refused")
    for _ in range(5):
        clock.now += 1.0
        round_(tr)
    assert changes == [Status.OK]  # 5 s without etcd: still within 6/1.01 - 0.6
    clock.now = sent + 6 / 1.01 - 0.6
    tr._settle()
    assert changes == [Status.OK, Status.FAIL]
    assert clock.now + margin_s(6) <= earliest_loss_mono(sent, 6) + 1e-9


def test_lock_regrants_after_its_lease_expired() -> None:
    tr, etcd, _clock, changes = make("lock", ttl_s=6)
    tr.set_eligible(True)
    round_(tr)
    etcd.leases.clear()
    etcd.kv.clear()  # etcd expired the lease and the key with it
    round_(tr)
    assert changes == [Status.OK] and etcd.kv["/k"].lease_id == tr.state.lease_id


def test_describe_has_what_status_and_metrics_show() -> None:
    tr, etcd, clock, _changes = make("lock", ttl_s=6)
    tr.set_eligible(True)
    round_(tr)
    d = tr.describe(clock.now + 1)
    assert d["kind"] == "dcs" and d["mode"] == "lock" and d["key"] == "/k" and d["holder"] == "a"
    assert d["lease_remaining_s"] == pytest.approx(6 / 1.01 - 0.6 - 1, abs=1e-3)
    assert d["last_ok_age_s"] == 1.0 and d["etcd_up"] is True and d["etcd_errors"] == 0
    assert d["eligible"] is True and d["status"] == "OK"


def test_the_tracker_fails_on_time_without_a_round(caplog: pytest.LogCaptureFixture) -> None:
    """A real loop and a real clock: with etcd gone and rounds far apart, the status turns
    FAIL when the confirmation runs out, not at the next round."""

    async def main() -> float:
        clock = FakeClock()
        etcd = FakeEtcd(clock)
        changes: list[tuple[float, Status]] = []
        cfg = VrrpDcs(name="l", endpoints=("http://e:2379",), mode="follow", key="/k", value="a", interval_s=30)
        tr = DcsTracker(cfg, on_change=lambda _n, s: changes.append((time.monotonic(), s)), client=etcd)  # type: ignore[arg-type]
        etcd.leases[1] = 1
        etcd.kv["/k"] = KeyValue(b"a", 1, 1)
        tr.client.watch = _no_watch  # type: ignore[attr-defined]
        started = time.monotonic()
        task = asyncio.create_task(tr.run_forever())
        while len(changes) < 2:
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert [s for _t, s in changes] == [Status.OK, Status.FAIL]
        return changes[1][0] - started

    took = asyncio.run(main())
    assert 1 / 1.01 - 0.5 - 0.05 < took < 1 / 1.01 - 0.5 + 0.2


async def _no_watch(key: str, start_revision: int):  # type: ignore[no-untyped-def]
    await asyncio.sleep(3600)
    yield 0


def test_logs_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    tr, etcd, clock, _changes = make()
    etcd.down = EtcdError("auth", "authentication failed, invalid user ID or password")
    with caplog.at_level("ERROR"):
        for _ in range(10):
            round_(tr)
            clock.now += 1
        clock.now += 60
        round_(tr)
    lines = [r.getMessage() for r in caplog.records if "credentials" in r.getMessage()]
    assert (
        lines
        == ["VRRP_Dcs(leader) etcd refuses our credentials: authentication failed, invalid user ID or password"] * 2
    )


# ------------------------------------------------------------------ the daemon's eligibility hook


class StubTracker:
    def __init__(self, name: str, status: Status) -> None:
        self.name, self._status = name, status

    @property
    def status(self) -> Status:
        return self._status


def test_trackerset_tells_a_lock_tracker_whether_the_other_trackers_pass() -> None:
    from vipkeeper.core.tracking import Tracked
    from vipkeeper.daemon.trackers import ScriptUsers, TrackerSet

    ts = TrackerSet(None, lambda _i, _v: None, ScriptUsers())  # type: ignore[arg-type]
    tr, _etcd, _clock, _changes = make("lock", ttl_s=6)
    pg = StubTracker("pg", Status.INIT)
    ts.trackers = {"leader": tr, "pg": pg}  # type: ignore[dict-item]
    assert ts.eligibility(tr) == (False, "no vrrp_instance tracks it")
    ts.tracked = {"VI_1": [(Tracked("pg", 0, False), pg), (Tracked("leader", 0, False), tr)]}  # type: ignore[list-item]
    ts.update_eligibility()
    assert (tr.state.eligible, tr.state.why_ineligible) == (False, "VI_1: pg is INIT")
    pg._status = Status.OK
    ts._changed("pg", Status.OK)
    assert tr.state.eligible is True
    pg._status = Status.FAIL
    ts._changed("pg", Status.FAIL)
    assert (tr.state.eligible, tr.state.why_ineligible) == (False, "VI_1: pg is FAIL")


# ------------------------------------------------------------------ status table and metrics


def test_metrics_and_status_table_show_the_dcs_tracker() -> None:
    from tests.unit.test_http_status import sample_status, samples
    from vipkeeper.daemon.metrics import render_metrics
    from vipkeeper.daemon.status import render_table

    tr, _etcd, clock, _changes = make("lock", ttl_s=6)
    tr.set_eligible(True)
    round_(tr)
    st = sample_status()
    st["instances"][0]["trackers"].append({"name": "leader", "weight": 0, "reverse": False, **tr.describe(clock.now)})
    m = samples(render_metrics(st).decode())
    assert m["vipkeeper_dcs_up"] == [({"tracker": "leader", "mode": "lock"}, 1.0)]
    [(labels, remaining)] = m["vipkeeper_dcs_lease_remaining_seconds"]
    assert labels == {"tracker": "leader"} and remaining == pytest.approx(6 / 1.01 - 0.6, abs=1e-3)
    assert m["vipkeeper_dcs_errors_total"] == [({"tracker": "leader"}, 0.0)]
    assert m["vipkeeper_dcs_holder"] == [({"tracker": "leader", "holder": "a"}, 1.0)]
    assert m["vipkeeper_dcs_last_ok_age_seconds"] == [({"tracker": "leader"}, 0.0)]
    line = [x for x in render_table(st).splitlines() if "leader" in x][0]
    assert "dcs" in line and "mode=lock key=/k holder=a lease_remaining_s=" in line


def test_reload_keeps_a_dcs_tracker_whose_block_only_moved() -> None:
    from vipkeeper.config.load import parse_string
    from vipkeeper.daemon.reload import plan_reload

    dcs = "vrrp_dcs leader {\n endpoints http://e:2379\n lock /l\n}\n"
    inst = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n track_script {\n leader\n }\n}\n"
    old, _ = parse_string(dcs + inst, path="t.conf")
    moved, _ = parse_string("\n\n" + dcs + inst, path="t.conf")
    changed, _ = parse_string(dcs.replace("/l", "/m") + inst, path="t.conf")
    assert moved.dcs_checks["leader"].loc != old.dcs_checks["leader"].loc
    assert plan_reload(old, moved, ["VI_1"]).trackers_kept == frozenset({"leader"})
    assert plan_reload(old, changed, ["VI_1"]).trackers_kept == frozenset()
