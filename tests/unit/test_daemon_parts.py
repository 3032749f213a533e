"""The daemon's pure and loop-only parts, without root: the reload plan, one reload at a
time, and task supervision (an unexpected exception stops the daemon, never half alive)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from vipkeeper.config.load import parse_string
from vipkeeper.config.model import Config
from vipkeeper.daemon.reload import SingleFlight, plan_reload
from vipkeeper.daemon.supervisor import Supervisor


def conf(text: str) -> Config:
    cfg, diags = parse_string(text, path="t.conf")
    assert not [d for d in diags if d.is_error], [str(d) for d in diags]
    return cfg


def instance(
    name: str, vrid: int, *, iface: str = "eth0", prio: int = 100, vips: str = "10.0.0.100", track: str = ""
) -> str:
    vip_lines = "\n".join(f"        {v}" for v in vips.split())
    return f"""
vrrp_instance {name} {{
    interface {iface}
    virtual_router_id {vrid}
    priority {prio}
    advert_int 1
    virtual_ipaddress {{
{vip_lines}
    }}
    {track}
}}
"""


SCRIPT = """
vrrp_script chk {{
    script "/bin/true {arg}"
    interval 1
}}
"""


def test_plan_matches_instances_by_vrid_interface_and_family() -> None:
    old = conf(
        SCRIPT.format(arg="a")
        + instance("VI_1", 51, track="track_script {\n chk\n }")
        + instance("VI_2", 52)
        + instance("VI_3", 53, iface="eth1")
    )
    new = conf(
        SCRIPT.format(arg="a")
        + instance("RENAMED", 51, prio=120, track="track_script {\n chk\n }")
        + instance("VI_2", 52, vips="10.0.0.100 10.0.0.101")
        + instance("VI_3", 53, iface="eth2")
        + instance("VI_4", 54)
    )
    plan = plan_reload(old, new, ["VI_1", "VI_2", "VI_3"])
    assert [(old_name, inst.name) for old_name, inst in plan.keep] == [("VI_1", "RENAMED"), ("VI_2", "VI_2")]
    assert [i.name for i in plan.add] == ["VI_3", "VI_4"]  # VI_3 moved to another interface: a new instance
    assert plan.remove == ("VI_3",)
    assert plan.trackers_kept == frozenset({"chk"})
    removed, added = plan.vip_changes["VI_2"]
    assert removed == () and [str(v.address) for v in added] == ["10.0.0.101/32"]
    assert "RENAMED" not in plan.vip_changes
    assert plan.summary() == "2 instance(s) kept, 2 added, 1 removed"


def test_plan_restarts_a_tracker_whose_definition_changed() -> None:
    old = conf(SCRIPT.format(arg="a") + instance("VI_1", 51, track="track_script {\n chk\n }"))
    new = conf(SCRIPT.format(arg="b") + instance("VI_1", 51, track="track_script {\n chk\n }"))
    assert plan_reload(old, new, ["VI_1"]).trackers_kept == frozenset()
    assert plan_reload(old, old, ["VI_1"]).trackers_kept == frozenset({"chk"})


def test_plan_only_considers_running_instances() -> None:
    old = conf(instance("VI_1", 51) + instance("VI_2", 52))
    plan = plan_reload(old, old, ["VI_1"])  # VI_2 failed to start, say
    assert [n for n, _ in plan.keep] == ["VI_1"] and [i.name for i in plan.add] == ["VI_2"]


# ---------------------------------------------------------------- one reload at a time


def test_reloads_never_interleave_whoever_asks() -> None:
    """Regression: a reload through the control socket bypassed the single-flight guard, so a
    SIGHUP during `vipkeeper reload` (or two clients) ran two reloads that interleaved."""

    async def main() -> tuple[list[str], SingleFlight]:
        trace: list[str] = []
        n = 0

        async def reload() -> tuple[bool, list[str]]:
            nonlocal n
            n += 1
            me = n
            trace.append(f"start {me}")
            await asyncio.sleep(0.01)  # parse, netlink...
            trace.append(f"end {me}")
            return True, []

        tasks: list[asyncio.Task] = []

        def spawn(coro, name):
            t = asyncio.get_running_loop().create_task(coro, name=name)
            tasks.append(t)
            return t

        sf = SingleFlight(reload, spawn)
        client1 = asyncio.create_task(sf.run())
        await asyncio.sleep(0)
        sf.request()  # SIGHUP while the first runs
        sf.request()  # and another: coalesced with the one waiting
        client2 = asyncio.create_task(sf.run())
        assert await client1 == (True, [])
        assert await client2 == (True, [])
        await asyncio.gather(*tasks)
        return trace, sf

    trace, sf = asyncio.run(main())
    assert trace == ["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]
    assert sf.completed == 3 and not sf.running


# ---------------------------------------------------------------- supervision


def test_a_failing_task_stops_the_daemon_loudly(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> Supervisor:
        stop = asyncio.Event()
        sup = Supervisor(on_fatal=stop.set)

        async def boom() -> None:
            await asyncio.sleep(0)
            raise KeyError("surprise")

        async def forever() -> None:
            await asyncio.Event().wait()

        sup.spawn(forever(), "link-watch")
        sup.spawn(boom(), "track-chk")
        await asyncio.wait_for(stop.wait(), 5)
        await sup.cancel_all()
        return sup

    with caplog.at_level(logging.CRITICAL, logger="vipkeeper.daemon.supervisor"):
        sup = asyncio.run(main())
    assert sup.failure == "task track-chk"
    (rec,) = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "track-chk" in rec.getMessage() and "KeyError" in rec.getMessage() and rec.exc_info is not None


def test_a_raising_loop_callback_stops_the_daemon() -> None:
    async def main() -> Supervisor:
        stop = asyncio.Event()
        sup = Supervisor(on_fatal=stop.set)
        loop = asyncio.get_running_loop()
        sup.install(loop)

        def timer() -> None:
            raise ZeroDivisionError("bug in the timer path")

        loop.call_soon(timer)
        await asyncio.wait_for(stop.wait(), 5)
        return sup

    sup = asyncio.run(main())
    assert sup.failure is not None and "Exception in callback" in sup.failure


def test_cancelled_and_finished_tasks_are_not_failures() -> None:
    async def main() -> Supervisor:
        sup = Supervisor(on_fatal=lambda: pytest.fail("not fatal"))

        async def done() -> None:
            return None

        sup.spawn(done(), "refused-script")
        t = sup.spawn(asyncio.Event().wait(), "notify")
        await asyncio.sleep(0)
        t.cancel()
        await asyncio.sleep(0.01)
        await sup.cancel_all()
        return sup

    assert asyncio.run(main()).failure is None


# ---------------------------------------------------------------- the scheduler


def test_scheduler_wakes_at_the_earliest_deadline_asked_for() -> None:
    from vipkeeper.daemon.scheduler import Scheduler, now_us

    async def main() -> list[tuple[str, int]]:
        loop = asyncio.get_running_loop()
        woke: list[tuple[str, int]] = []
        done = asyncio.Event()
        s = Scheduler(loop, lambda: (woke.append(("woke", now_us())), done.set()))
        t0 = now_us()
        s.arm(t0 + 200_000)  # 200 ms
        s.arm(t0 + 20_000)  # an earlier deadline re-arms
        s.arm(t0 + 500_000)  # a later one keeps the earlier timer (an early wake costs nothing)
        assert s.armed_us == t0 + 20_000
        await asyncio.wait_for(done.wait(), 5)
        woke.append(("t0", t0))
        s.close()
        return woke

    (_, woke_at), (_, t0) = asyncio.run(main())
    assert woke_at >= t0 + 19_999  # not early (the loop may fire within its 1 ns clock resolution)
    assert woke_at < t0 + 200_000
