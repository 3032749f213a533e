"""daemon/priority.py: vrrp_rt_priority / vrrp_rlimit_rttime / vrrp_priority, as keepalived applies them."""

from __future__ import annotations

import os
import resource
import signal
import types

import pytest

from vipkeeper.config.load import parse_string
from vipkeeper.daemon import priority as prio_mod
from vipkeeper.daemon.priority import RT_RLIMIT_DEFAULT_US, SCHED_RESET_ON_FORK, ProcessPriority

INSTANCE = "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n priority 100\n}\n"


def gdefs(*lines: str):
    text = "global_defs {\n" + "".join(f" {line}\n" for line in lines) + "}\n" + INSTANCE
    config, diags = parse_string(text)
    assert not [d for d in diags if d.severity == "error"], diags
    return config.global_defs


class FakeLoop:
    def __init__(self):
        self.signals = {}
        self.later = []

    def add_signal_handler(self, sig, cb):
        self.signals[sig] = cb

    def call_later(self, delay, cb):
        self.later.append((delay, cb))
        return types.SimpleNamespace(cancel=lambda: None)


@pytest.fixture
def calls(monkeypatch):
    got: list[tuple] = []
    monkeypatch.setattr(
        prio_mod.os, "sched_setscheduler", lambda pid, pol, p: got.append(("sched", pol, p.sched_priority))
    )
    monkeypatch.setattr(prio_mod.os, "setpriority", lambda which, who, n: got.append(("nice", n)))
    monkeypatch.setattr(prio_mod.resource, "setrlimit", lambda r, lim: got.append(("rlimit", r, lim)))
    return got


def test_rt_priority_is_sched_rr_reset_on_fork_with_keepalived_rttime_limits(calls, caplog):
    loop = FakeLoop()
    caplog.set_level("INFO")
    ProcessPriority(gdefs("vrrp_rt_priority 30", "vrrp_priority -5")).apply(loop)
    assert calls == [
        ("sched", os.SCHED_RR | SCHED_RESET_ON_FORK, 30),
        ("rlimit", resource.RLIMIT_RTTIME, (RT_RLIMIT_DEFAULT_US // 2, RT_RLIMIT_DEFAULT_US)),
    ]  # vrrp_priority is not applied with a real-time priority (keepalived)
    assert signal.SIGXCPU in loop.signals
    assert "SCHED_RR priority 30, RLIMIT_RTTIME 10000 us" in caplog.text


def test_configured_rttime_and_nice_alone(calls):
    ProcessPriority(gdefs("vrrp_rt_priority 5", "vrrp_rlimit_rttime 1")).apply(FakeLoop())
    assert calls[1] == ("rlimit", resource.RLIMIT_RTTIME, (1, 2))  # keepalived: at least 2
    calls.clear()
    ProcessPriority(gdefs("vrrp_priority -5")).apply(FakeLoop())
    assert calls == [("nice", -5)]
    calls.clear()
    ProcessPriority(gdefs()).apply(FakeLoop())
    assert calls == []


def test_sigxcpu_leaves_real_time_then_comes_back(calls, caplog):
    loop = FakeLoop()
    p = ProcessPriority(gdefs("vrrp_rt_priority 10"))
    p.apply(loop)
    calls.clear()
    loop.signals[signal.SIGXCPU]()
    assert calls == [("sched", os.SCHED_OTHER, 0)] and not p.realtime and p.demotions == 1
    assert "vrrp_rlimit_rttime may need to be increased" in caplog.text
    loop.signals[signal.SIGXCPU]()  # a second one while demoted: logged, nothing else
    assert len(calls) == 1 and len(loop.later) == 1
    delay, restore = loop.later[0]
    assert delay == prio_mod.RESTORE_AFTER_S
    restore()
    assert calls[-1] == ("sched", os.SCHED_RR | SCHED_RESET_ON_FORK, 10) and p.realtime


def test_refusal_is_logged_and_the_daemon_goes_on(monkeypatch, caplog):
    def refuse(*_a):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(prio_mod.os, "sched_setscheduler", refuse)
    monkeypatch.setattr(prio_mod.os, "setpriority", refuse)
    p = ProcessPriority(gdefs("vrrp_rt_priority 10"))
    p.apply(FakeLoop())
    assert not p.realtime and "cannot raise priority to SCHED_RR 10" in caplog.text
    ProcessPriority(gdefs("vrrp_priority 3")).apply(FakeLoop())
    assert "unable to set process priority to 3" in caplog.text
