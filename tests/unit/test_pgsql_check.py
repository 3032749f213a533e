"""vrrp_pgsql without PostgreSQL: the decision table, the tracker loop with fake
servers, the inotify wrapper, and the error when psycopg is missing."""

from __future__ import annotations

import asyncio
import builtins
import logging
import time

import pytest

from vipkeeper.checks import pgsql
from vipkeeper.checks.pgsql import PeerView, PgFacts, PgsqlCheck, ProbeError, decide
from vipkeeper.config.model import VrrpPgsql
from vipkeeper.core.tracking import Status

SYSID = 7300000000000000001
PRIMARY1 = PgFacts(in_recovery=False, read_only=False, timeline=1, system_identifier=SYSID)
PRIMARY2 = PgFacts(in_recovery=False, read_only=False, timeline=2, system_identifier=SYSID)
STANDBY1 = PgFacts(in_recovery=True, read_only=True, timeline=1, system_identifier=SYSID)
STANDBY2 = PgFacts(in_recovery=True, read_only=True, timeline=2, system_identifier=SYSID)


def peer(facts: PgFacts | None, name: str = "B", error: str = "connection refused") -> PeerView:
    return PeerView(name, facts, None if facts else error)


# ---------------------------------------------------------------- decide()


def test_local_unreachable_fails() -> None:
    v = decide(None, "cannot connect: connection refused")
    assert not v.ok and "connection refused" in v.reason and v.role == "unreachable" and v.alarm is None


def test_standby_fails() -> None:
    v = decide(STANDBY1, None, [peer(PRIMARY1)])
    assert not v.ok and v.reason.startswith("standby") and v.role == "standby" and v.alarm is None


def test_read_only_primary_fails() -> None:
    ro = PgFacts(False, True, 1, SYSID)
    v = decide(ro, None)
    assert not v.ok and "read-only" in v.reason and v.role == "primary (read-only)"


def test_primary_alone_passes() -> None:
    v = decide(PRIMARY1, None)
    assert v.ok and v.reason == "writable primary, timeline 1" and v.role == "primary" and v.timeline == 1


def test_primary_with_standby_peer_passes() -> None:
    v = decide(PRIMARY1, None, [peer(STANDBY1)])
    assert v.ok and "peer B standby" in v.reason


def test_unreachable_peer_does_not_block() -> None:
    v = decide(PRIMARY2, None, [peer(None)])
    assert v.ok and "peer B unreachable" in v.reason and v.alarm is None


def test_peer_primary_on_higher_timeline_fences_us() -> None:
    v = decide(PRIMARY1, None, [peer(PRIMARY2)])
    assert not v.ok and v.alarm and "SPLIT BRAIN" in v.alarm and "timeline 2" in v.alarm
    assert "stale" in v.reason


def test_peer_primary_on_same_timeline_fences_both() -> None:
    v = decide(PRIMARY2, None, [peer(PRIMARY2)])
    assert not v.ok and v.alarm and "two primaries" in v.alarm and "two primaries" in v.reason


def test_peer_primary_on_lower_timeline_is_stale_and_does_not_block() -> None:
    v = decide(PRIMARY2, None, [peer(PRIMARY1)])
    assert v.ok and v.alarm is None and "stale primary on timeline 1" in v.reason


def test_peer_primary_with_unknown_timeline_counts_as_two_primaries() -> None:
    v = decide(PRIMARY2, None, [peer(PgFacts(False, False, None, SYSID))])
    assert not v.ok and v.alarm


def test_read_only_peer_primary_is_not_a_writer() -> None:
    v = decide(PRIMARY1, None, [peer(PgFacts(False, True, 5, SYSID))])
    assert v.ok


def test_other_system_identifier_fails_whatever_its_role() -> None:
    for f in (PgFacts(True, True, 1, SYSID + 1), PgFacts(False, False, 1, SYSID + 1)):
        v = decide(PRIMARY1, None, [peer(f)])
        assert not v.ok and v.alarm and "WRONG CLUSTER" in v.alarm and str(SYSID + 1) in v.alarm


def test_unknown_system_identifier_skips_the_identity_check() -> None:
    v = decide(PgFacts(False, False, 2, None), None, [peer(PgFacts(True, True, 2, SYSID + 1))])
    assert v.ok


def test_several_peers_first_problem_wins() -> None:
    v = decide(PRIMARY1, None, [peer(None, "C"), peer(STANDBY1, "D"), peer(PRIMARY2, "B")])
    assert not v.ok and "peer B" in v.alarm


def test_standby_is_never_fenced_into_an_alarm() -> None:
    v = decide(STANDBY2, None, [peer(PRIMARY2), peer(PRIMARY1, "C")])
    assert not v.ok and v.alarm is None


# ---------------------------------------------------------------- the tracker loop


class FakeServer:
    """A Prober whose answer the test sets; ``hang`` makes it never answer by itself."""

    def __init__(self, facts: PgFacts | None = PRIMARY1, error: str = "connection refused") -> None:
        self.answer = facts
        self.error = error
        self.hang = False
        self.calls = 0
        self.closed = False

    async def facts(self, timeout_s: float) -> PgFacts:
        self.calls += 1
        if self.hang:
            await asyncio.sleep(timeout_s)
            raise ProbeError(f"query timed out after {timeout_s:g}s")
        if self.answer is None:
            raise ProbeError(self.error)
        return self.answer

    async def close(self) -> None:
        self.closed = True


def cfg(**kw) -> VrrpPgsql:
    base = dict(name="chk_pg", conninfo="host=127.0.0.1", interval_s=0.02, timeout_s=0.1, rise=1, fall=2)
    base.update(kw)
    return VrrpPgsql(**base)


async def wait_until(pred, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_tracker_rise_fall_and_state() -> None:
    async def main() -> None:
        changes: list[tuple[str, Status]] = []
        local = FakeServer(PRIMARY1)
        check = PgsqlCheck(cfg(), on_change=lambda n, s: changes.append((n, s)), local=local, peers=[])
        assert check.status is Status.INIT and check.default_weight == 0
        task = asyncio.create_task(check.run_forever())
        await wait_until(lambda: check.status is Status.OK)
        assert changes == [("chk_pg", Status.OK)]
        st = check.state
        assert st.role == "primary" and st.timeline == 1 and st.ok and st.latency_s >= 0
        local.answer = STANDBY2
        await wait_until(lambda: check.status is Status.FAIL)
        assert changes[-1] == ("chk_pg", Status.FAIL)
        assert st.role == "standby" and st.timeline == 2 and st.failures >= 2  # fall 2
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert local.closed

    run(main())


def test_a_hung_server_fails_at_timeout_and_the_loop_goes_on() -> None:
    async def main() -> None:
        local = FakeServer(PRIMARY1)
        check = PgsqlCheck(cfg(timeout_s=0.1, fall=2), on_change=lambda n, s: None, local=local, peers=[])
        task = asyncio.create_task(check.run_forever())
        await wait_until(lambda: check.status is Status.OK)
        local.hang = True
        t0 = time.monotonic()
        await wait_until(lambda: check.status is Status.FAIL)
        took = time.monotonic() - t0
        assert 0.1 <= took < 0.6, took  # fall 2 × timeout 0.1 (+ intervals)
        assert "timed out" in check.state.reason
        local.hang = False
        await wait_until(lambda: check.status is Status.OK)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    run(main())


def test_peers_fence_and_the_alarm_is_logged_once(caplog) -> None:
    async def main() -> None:
        local = FakeServer(PRIMARY1)
        b = FakeServer(STANDBY1)
        check = PgsqlCheck(cfg(), on_change=lambda n, s: None, local=local, peers=[("B", b)])
        task = asyncio.create_task(check.run_forever())
        await wait_until(lambda: check.status is Status.OK)
        assert check.state.peers == {"B": "standby, timeline 1"}
        b.answer = PRIMARY2  # B was promoted: we are the stale primary
        await wait_until(lambda: check.status is Status.FAIL)
        runs = check.state.runs
        await wait_until(lambda: check.state.runs >= runs + 5)
        assert "SPLIT BRAIN" in (check.state.alarm or "")
        b.answer = None  # B unreachable: we pass again
        await wait_until(lambda: check.status is Status.OK)
        assert "peer B unreachable" in check.state.reason
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    with caplog.at_level(logging.INFO, logger="vipkeeper.checks.pgsql"):
        run(main())
    alarms = [r for r in caplog.records if "SPLIT BRAIN" in r.getMessage()]
    assert len(alarms) == 1 and alarms[0].levelno == logging.ERROR
    assert any("alarm cleared" in r.getMessage() for r in caplog.records)


def test_first_verdict_waits_for_the_peers() -> None:
    """A restarted daemon on a stale primary must not pass before it has seen its peer."""

    async def main() -> None:
        local = FakeServer(PRIMARY1)
        b = FakeServer(PRIMARY2)
        b_delay = 0.05

        orig = b.facts

        async def slow(timeout_s: float) -> PgFacts:
            await asyncio.sleep(b_delay)
            return await orig(timeout_s)

        b.facts = slow  # type: ignore[method-assign]
        seen: list[Status] = []
        check = PgsqlCheck(cfg(), on_change=lambda n, s: seen.append(s), local=local, peers=[("B", b)])
        task = asyncio.create_task(check.run_forever())
        await wait_until(lambda: check.status is not Status.INIT)
        assert seen == [Status.FAIL]
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    run(main())


def test_stale_peer_answers_are_not_used() -> None:
    w = pgsql.PeerWatcher(FakeServer(PRIMARY2), "B", 0.2, 1.0)
    w.state.facts, w.state.error, w.state.at_monotonic = PRIMARY2, None, 100.0
    assert w.view(101.0, 4.4).facts == PRIMARY2
    assert w.view(110.0, 4.4).facts is None


def test_data_directory_events_trigger_a_probe_at_once(tmp_path) -> None:
    async def main() -> None:
        (tmp_path / "standby.signal").touch()
        local = FakeServer(STANDBY1)
        check = PgsqlCheck(
            cfg(interval_s=5.0, timeout_s=1.0, data_directory=str(tmp_path)),
            on_change=lambda n, s: None,
            local=local,
            peers=[],
        )
        task = asyncio.create_task(check.run_forever())
        await wait_until(lambda: check.status is Status.FAIL)
        calls = local.calls
        await asyncio.sleep(0.1)
        assert local.calls == calls  # interval 5 s: no probe on its own
        local.answer = PRIMARY2
        t0 = time.monotonic()
        (tmp_path / "standby.signal").unlink()  # promotion
        await wait_until(lambda: check.status is Status.OK, 1.0)
        assert time.monotonic() - t0 < 0.5
        assert check.state.triggered_runs == 1
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    run(main())


def test_missing_data_directory_only_warns(tmp_path, caplog) -> None:
    async def main() -> None:
        check = PgsqlCheck(
            cfg(data_directory=str(tmp_path / "nope")),
            on_change=lambda n, s: None,
            local=FakeServer(PRIMARY1),
            peers=[],
        )
        task = asyncio.create_task(check.run_forever())
        await wait_until(lambda: check.status is Status.OK)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    with caplog.at_level(logging.WARNING, logger="vipkeeper.checks.pgsql"):
        run(main())
    assert sum("cannot watch data_directory" in r.getMessage() for r in caplog.records) == 1


# ---------------------------------------------------------------- inotify, psycopg


def test_missing_psycopg_is_a_clear_error(monkeypatch) -> None:
    real_import = builtins.__import__

    def fake_import(name, *a, **kw):
        if name == "psycopg" or name.startswith("psycopg."):
            raise ImportError("No module named 'psycopg'")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(pgsql.PsycopgMissing, match=r"vipkeeper\[pgsql\]"):
        PgsqlCheck(cfg(), on_change=lambda n, s: None)


def test_an_unexpected_exception_is_a_failure_not_the_end_of_the_tracker() -> None:
    class Broken(FakeServer):
        n = 0

        async def facts(self, timeout_s: float) -> PgFacts:
            self.n += 1
            if self.n == 2:
                raise RuntimeError("boom")
            return await super().facts(timeout_s)

    async def main() -> None:
        local = Broken(PRIMARY1)
        check = PgsqlCheck(cfg(fall=1), on_change=lambda n, s: None, local=local, peers=[])
        task = asyncio.create_task(check.run_forever())
        await wait_until(lambda: local.n >= 4)
        assert check.status is Status.OK and check.state.failures == 1 and not task.done()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    run(main())
