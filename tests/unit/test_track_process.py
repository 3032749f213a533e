"""vrrp_track_process: the block, the references, the matching, the quorum and its delays
(fake clock, fake process table), the proc connector's bytes."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import pytest

from vipkeeper.checks.process import POLL_INTERVAL_S, ProcessTable, Quorum, matches
from vipkeeper.config.load import parse_string
from vipkeeper.config.model import Config, TrackRef, VrrpTrackProcess
from vipkeeper.io.proc_connector import ProcEvent, ProcStat, listen_request, parse_events, parse_stat

S = 1_000_000

INSTANCE = """
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.0.0.1
    }
    track_process {
        chk
    }
}
"""


def parse(text: str) -> tuple[Config, list[tuple[str, int, str]]]:
    config, diagnostics = parse_string(text, path="t.conf", config_id="testhost")
    return config, [(d.severity, d.line, d.message) for d in diagnostics]


def block(body: str) -> tuple[VrrpTrackProcess | None, list[tuple[str, int, str]]]:
    config, diags = parse(f"vrrp_track_process chk {{\n{body}\n}}\n")
    return config.track_processes.get("chk"), diags


# ------------------------------------------------------------------ the block


def test_defaults_follow_keepalived_source() -> None:
    tp, diags = block("process haproxy")
    assert diags == []
    assert tp == VrrpTrackProcess("chk", "haproxy", loc=tp.loc) if tp else False
    assert tp is not None and tp.weight == 0  # vrrp_data.c alloc_vrrp_process (the man page says 1)
    assert (tp.quorum, tp.quorum_max, tp.param_match, tp.full_command) == (1, 2**32 - 1, "none", False)


def test_parameters_imply_exact_match_and_full_command() -> None:
    tp, diags = block('process "/usr/bin/sleep" 100000 "a b"')
    assert diags == [] and tp is not None
    assert (tp.process, tp.params, tp.param_match, tp.full_command) == (
        "/usr/bin/sleep",
        ("100000", "a b"),
        "exact",
        True,
    )
    tp, _ = block("param_match partial\nprocess sleep 1")
    assert tp is not None and tp.param_match == "partial"


@pytest.mark.parametrize(
    ("body", "line", "text"),
    [
        ("process a\nprocess b", 3, "process already set"),
        ("process a\nparam_match exact", 3, "invalid param_match type 'exact'"),
        ("process a\nweight 255", 3, "out of range"),
        ("process a\nweight 2\nweight 3", 4, "weight already set"),
        ("process a\nweight 2 up", 3, "unknown weight option"),
        ("process a\nquorum 0", 3, "out of range"),
        ("process a\nquorum_max 2\nquorum 3", 4, "greater than quorum_max"),
        ("process a\nquorum 3\nquorum_max 2", 4, "less than quorum"),
        ("process a\ndelay 0", 3, "out of range"),
        ("process a\nfork_delay 3601", 3, "out of range"),
        ("weight 1", 3, "process name not specified"),  # at the block's end, as keepalived
    ],
)
def test_bad_values_are_named_at_their_line(body: str, line: int, text: str) -> None:
    _tp, diags = block(body)
    assert [(sev, ln) for sev, ln, msg in diags if text in msg] == [("error", line)], diags


def test_quorum_max_zero_means_none_may_run_and_delays() -> None:
    tp, diags = block("process a\nquorum_max 0\ndelay 1.5\nterminate_delay 0.25\nfull_command")
    assert diags == [] and tp is not None
    assert (tp.quorum, tp.quorum_max, tp.fork_delay_us, tp.terminate_delay_us) == (0, 0, 1_500_000, 250_000)
    assert tp.full_command


def test_long_name_without_full_command_is_warned() -> None:
    _tp, diags = block("process a_very_long_daemon_name")
    assert [(s, ln) for s, ln, m in diags if "15 characters" in m] == [("warning", 2)]


def test_instance_and_sync_group_references() -> None:
    config, diags = parse(
        "vrrp_track_process chk {\n process haproxy\n weight 3 reverse\n}\n"
        + INSTANCE.replace("chk\n", "chk weight -5\n")
        + "vrrp_sync_group G {\n group {\n VI_1\n }\n track_process {\n chk\n }\n}\n"
    )
    assert [d for d in diags if d[0] == "error"] == []
    (inst,) = config.instances
    # keepalived alloc_track_process: without reverse|noreverse the block's reverse stays
    assert [(r.name, r.weight, r.weight_reverse) for r in inst.track_processes] == [("chk", -5, True)]
    assert [(r.name, r.weight, r.weight_reverse) for r in config.sync_groups[0].track_processes] == [
        ("chk", None, True)
    ]


def test_undefined_track_process_is_an_error() -> None:
    _config, diags = parse(INSTANCE)
    assert [(s, ln) for s, ln, m in diags if "vrrp_track_process 'chk'" in m] == [("error", 10)]


# ------------------------------------------------------------------ matching


def cfg(**kw: object) -> VrrpTrackProcess:
    return VrrpTrackProcess("p", **kw)  # type: ignore[arg-type]


def test_name_match_is_exact_not_a_pattern() -> None:
    c = cfg(process="ssh")
    assert matches(c, "ssh", b"")
    assert not matches(c, "sshd", b"/usr/sbin/sshd\0")


@pytest.mark.parametrize(
    ("mode", "params", "cmdline", "ok"),
    [
        ("none", (), b"sleep\x00100\x00", True),
        ("exact", (), b"sleep\x00", True),
        ("exact", (), b"sleep\x00100\x00", False),
        ("exact", ("100",), b"sleep\x00100\x00", True),
        ("exact", ("100",), b"sleep\x00100\x00x\x00", False),
        ("exact", ("10",), b"sleep\x00100\x00", False),
        ("partial", ("100",), b"sleep\x00100\x00x\x00", True),
        ("partial", ("10",), b"sleep\x00100\x00", False),
        ("initial", ("10",), b"sleep\x00100\x00", True),
        ("initial", ("100", "x"), b"sleep\x00100\x00xyz\x00more\x00", True),
        ("initial", ("100", "x"), b"sleep\x00101\x00xyz\x00", False),
        ("none", (), b"sleeper\x00", False),
        ("none", (), b"", False),
    ],
)
def test_full_command_and_param_match(mode: str, params: tuple[str, ...], cmdline: bytes, ok: bool) -> None:
    c = cfg(process="sleep", params=params, param_match=mode, full_command=True)
    assert matches(c, "whatever", cmdline) is ok


# ------------------------------------------------------------------ quorum and delays


def test_quorum_range_and_immediate_changes() -> None:
    q = Quorum(quorum=2, quorum_max=3)
    q.count = 1
    assert q.start() is False
    assert q.added(0, forked=False) is True  # 2
    assert q.added(0, forked=False) is None  # 3
    assert q.added(0, forked=False) is False  # 4 > quorum_max
    assert q.removed(0, exited=True) is True  # 3
    assert q.removed(0, exited=True) is None  # 2
    assert q.removed(0, exited=True) is False  # 1


def test_terminate_delay_hides_a_restart_and_expires() -> None:
    q = Quorum(quorum=1, quorum_max=2**32 - 1, terminate_delay_us=2 * S)
    q.count = 1
    assert q.start() is True
    assert q.removed(10 * S, exited=True) is None
    assert q.deadline_us == 12 * S
    assert q.added(11 * S, forked=False) is None  # restarted in time: cancelled, no change
    assert q.deadline_us is None
    assert q.removed(20 * S, exited=True) is None
    assert q.on_timer(21 * S) is None
    assert q.on_timer(22 * S) is False


def test_fork_delay_applies_to_forks_only() -> None:
    q = Quorum(quorum=1, quorum_max=2**32 - 1, fork_delay_us=S)
    assert q.start() is False
    assert q.added(0, forked=True) is None
    assert q.on_timer(S - 1) is None
    assert q.on_timer(S) is True
    q2 = Quorum(quorum=1, quorum_max=2**32 - 1, fork_delay_us=S)
    q2.start()
    assert q2.added(0, forked=False) is True  # an exec: at once
    q3 = Quorum(quorum=1, quorum_max=2**32 - 1, fork_delay_us=S)
    q3.start()
    q3.added(0, forked=True)
    assert q3.removed(S // 2, exited=True) is None  # gone before the delay: never up
    assert q3.deadline_us is None


def test_quorum_max_zero_is_ok_while_none_runs() -> None:
    q = Quorum(quorum=0, quorum_max=0)
    assert q.start() is True
    assert q.added(0, forked=False) is False
    assert q.removed(0, exited=True) is True


# ------------------------------------------------------------------ the process table


@dataclass
class FakeProc:
    comm: str
    cmdline: bytes = b""
    ppid: int = 1
    start: int = 0
    state: str = "S"


@dataclass
class FakeProcFs:
    procs: dict[int, FakeProc] = field(default_factory=dict)
    cmdline_reads: int = 0

    def pids(self) -> list[int]:
        return list(self.procs)

    def stat(self, pid: int) -> ProcStat | None:
        p = self.procs.get(pid)
        return None if p is None else ProcStat(pid, p.comm, p.state, p.ppid, p.start or pid)

    def cmdline(self, pid: int, limit: int = 4096) -> bytes:
        self.cmdline_reads += 1
        p = self.procs.get(pid)
        return b"" if p is None else p.cmdline[:limit]


def test_table_scan_exit_zombie_and_pid_reuse() -> None:
    fs = FakeProcFs({1: FakeProc("init"), 10: FakeProc("haproxy"), 11: FakeProc("haproxy", ppid=10)})
    table = ProcessTable([cfg(process="haproxy", quorum=2)], fs)
    assert table.scan(0) == [("p", True)]
    assert fs.cmdline_reads == 0  # no full_command: cmdline never read
    fs.procs[11].state = "Z"  # killed, not reaped yet: not running
    assert table.scan(POLL_INTERVAL_S * S) == [("p", False)]
    del fs.procs[11]
    fs.procs[12] = FakeProc("haproxy", ppid=1)  # started again (not a fork of a counted process)
    assert table.scan(2 * S) == [("p", True)]
    fs.procs[12] = FakeProc("bash", start=999)  # pid 12 reused by something else
    assert table.scan(3 * S) == [("p", False)]


def test_table_poll_sees_forks_with_fork_delay_and_execs_at_once() -> None:
    fs = FakeProcFs({1: FakeProc("init"), 20: FakeProc("nginx")})
    table = ProcessTable([cfg(process="nginx", quorum=2, fork_delay_us=S)], fs)
    assert table.scan(0) == [("p", False)]
    fs.procs[21] = FakeProc("nginx", ppid=20)  # a worker forked by the master
    assert table.scan(S // 2) == []
    assert table.next_deadline_us() == S // 2 + S
    assert table.on_timer(S // 2 + S) == [("p", True)]
    fs.procs[30] = FakeProc("bash")
    table.scan(2 * S)
    fs.procs[30].comm = "nginx"  # bash exec'd nginx: counted at once (3 >= quorum, no change)
    assert table.scan(3 * S) == []
    assert table.quorums["p"].count == 3


def test_table_full_command_reads_cmdline_of_new_processes_only() -> None:
    fs = FakeProcFs({1: FakeProc("init", b"/sbin/init\0"), 40: FakeProc("sleep", b"sleep\x00100000\x00tag\x00")})
    table = ProcessTable([cfg(process="sleep", params=("100000", "tag"), param_match="exact", full_command=True)], fs)
    assert table.scan(0) == [("p", True)]
    reads = fs.cmdline_reads
    table.scan(S)
    assert fs.cmdline_reads == reads  # nothing new, nothing renamed
    del fs.procs[40]
    assert table.scan(2 * S) == [("p", False)]


def test_table_connector_events() -> None:
    fs = FakeProcFs({1: FakeProc("init"), 50: FakeProc("redis-server")})
    table = ProcessTable([cfg(process="redis-server", quorum_max=1, terminate_delay_us=S)], fs)
    assert table.scan(0) == [("p", True)]
    fs.procs[51] = FakeProc("redis-server", ppid=50)
    assert table.event(ProcEvent("fork", 51, 50), 0) == [("p", False)]  # 2 > quorum_max
    fs.procs[51].comm = "redis-rdb-bgsave"
    assert table.event(ProcEvent("comm", 51, comm="redis-rdb-bgsave"), 0) == [("p", True)]
    assert table.event(ProcEvent("exit", 51), 0) == []
    assert table.event(ProcEvent("exit", 50), S) == []  # terminate_delay
    assert table.on_timer(2 * S) == [("p", False)]
    fs.procs[60] = FakeProc("redis-server")
    assert table.event(ProcEvent("exec", 60), 3 * S) == [("p", True)]


# ------------------------------------------------------------------ the proc connector's bytes


def _event(what: int, data: bytes) -> bytes:
    payload = struct.pack("=IIQ", what, 0, 123) + data
    cn = struct.pack("=IIIIHH", 1, 1, 7, 0, len(payload), 0) + payload
    return struct.pack("=IHHII", 16 + len(cn), 3, 0, 7, 0) + cn


def test_listen_request_bytes() -> None:
    # nlmsghdr(len 40, NLMSG_DONE) + cn_msg(CN_IDX_PROC, CN_VAL_PROC, len 4) + PROC_CN_MCAST_LISTEN
    assert listen_request().hex() == (
        "28000000030000000000000000000000010000000100000000000000000000000400000001000000"
    )


def test_parse_events_skips_threads_and_junk() -> None:
    data = (
        _event(0x1, struct.pack("=IIII", 100, 100, 101, 101))  # fork of a process
        + _event(0x1, struct.pack("=IIII", 100, 100, 102, 101))  # a thread
        + _event(0x2, struct.pack("=II", 101, 101))
        + _event(0x200, struct.pack("=II", 101, 101) + b"worker\0".ljust(16, b"\0"))
        + _event(0x80000000, struct.pack("=IIII", 101, 101, 0, 17))
        + _event(0x0, struct.pack("=I", 0))
    )
    assert parse_events(data) == [
        ProcEvent("fork", 101, 100),
        ProcEvent("exec", 101),
        ProcEvent("comm", 101, comm="worker"),
        ProcEvent("exit", 101),
    ]
    assert parse_events(b"\xff" * 7) == []
    assert parse_events(data[:60]) == []  # truncated


def test_parse_stat_with_odd_names() -> None:
    text = "123 (a) b (c)) S 45 123 123 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 0 0"
    st = parse_stat(123, text)
    assert st == ProcStat(123, "a) b (c)", "S", 45, 98765)
    assert parse_stat(1, "garbage") is None


def test_track_ref_model() -> None:
    assert TrackRef("x").weight is None


def test_reload_keeps_an_unchanged_track_process() -> None:
    from vipkeeper.daemon.reload import plan_reload
    from vipkeeper.daemon.trackers import process_key

    text = "vrrp_track_process chk {\n process haproxy\n}\n" + INSTANCE
    old, _ = parse(text)
    moved, _ = parse("\n\n" + text)  # the same definition, elsewhere in the file
    changed, _ = parse(text.replace("process haproxy", "process nginx"))
    assert process_key("chk") in plan_reload(old, moved, ["VI_1"]).trackers_kept
    assert process_key("chk") not in plan_reload(old, changed, ["VI_1"]).trackers_kept


def test_watcher_falls_back_to_polling_and_logs_it(monkeypatch, caplog) -> None:
    import asyncio
    import errno
    import logging

    from vipkeeper.checks import process as process_mod
    from vipkeeper.checks.process import ProcessTracker, ProcessWatcher
    from vipkeeper.core.tracking import Status

    def refused() -> None:
        raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")

    monkeypatch.setattr(process_mod, "open_connector", refused)
    fs = FakeProcFs({1: FakeProc("init"), 70: FakeProc("haproxy")})
    changes: list[tuple[str, Status]] = []
    tracker = ProcessTracker(cfg(process="haproxy"), on_change=lambda n, s: changes.append((n, s)))

    async def scenario() -> None:
        watcher = ProcessWatcher([tracker], fs)
        watcher.start()
        task = asyncio.create_task(watcher.run_forever())
        try:
            del fs.procs[70]
            for _ in range(100):  # a few polls at most; bounded by the loop, not by a threshold
                if tracker.status is Status.FAIL:
                    break
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
            watcher.close()

    with caplog.at_level(logging.INFO, logger="vipkeeper.checks.process"):
        asyncio.run(scenario())
    assert changes == [("p", Status.OK), ("p", Status.FAIL)]
    assert "polling /proc every 0.5 s" in caplog.text
    assert tracker.describe(0.0)["source"] == "/proc poll every 0.5 s"


def test_explain_tables_track_process_quorum(tmp_path) -> None:
    from vipkeeper.explain import HostInput, explain, render_text

    hosts = []
    for label, prio in (("A", 110), ("B", 100)):
        text = "vrrp_track_process chk {\n process haproxy\n}\n" + INSTANCE.replace("priority 100", f"priority {prio}")
        config, diagnostics = parse_string(text, path=str(tmp_path / f"{label}.conf"))
        hosts.append(HostInput(label, config, tuple(diagnostics), {}))
    text = render_text(explain(hosts))
    assert "tracks process chk, weight 0" in text
    assert "| no quorum / quorum (A failing) | B |" in text
