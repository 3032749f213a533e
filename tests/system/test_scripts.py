"""Script running, notify order, FIFO and script security: real processes,
no network (these need no namespaces)."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path

from vipkeeper.config.model import Notify
from vipkeeper.core.events import State
from vipkeeper.daemon.notify import Notifier
from vipkeeper.io.scripts import insecure_reason, run_script, script_path_env


def _children_of_self() -> list[tuple[int, str]]:
    """(pid, state) of our direct children, zombies included."""
    me = os.getpid()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            out.append((int(d), fields[0]))
    return out


def test_exit_codes_signals_and_timeouts(tmp_path):
    async def main():
        ok = await run_script(["true"], timeout_s=5)
        bad = await run_script(["sh", "-c", "exit 3"], timeout_s=5)
        sig = await run_script(["sh", "-c", "kill -9 $$"], timeout_s=5)
        missing = await run_script([str(tmp_path / "nope")], timeout_s=5)
        t0 = time.monotonic()
        # the script and a grandchild both hang; the whole group must die
        hang = await run_script(["sh", "-c", f"sleep 60 & echo $! > {tmp_path}/gc; sleep 60"], timeout_s=0.3)
        took = time.monotonic() - t0
        return ok, bad, sig, missing, hang, took

    ok, bad, sig, missing, hang, took = asyncio.run(main())
    assert ok.ok and ok.reason == "exit 0"
    assert not bad.ok and bad.exit_code == 3
    assert not sig.ok and "signal 9" in sig.reason
    assert not missing.ok and missing.reason.startswith("cannot run")
    assert not hang.ok and hang.timed_out and took < 5
    gc = int((tmp_path / "gc").read_text())
    time.sleep(0.1)
    assert not os.path.exists(f"/proc/{gc}") or open(f"/proc/{gc}/stat").read().split()[2] == "Z"


def test_ten_thousand_runs_leave_no_zombies_and_no_fds(tmp_path):
    """10,000 runs including hangs (killed at timeout) and crashes."""
    fds_before = len(os.listdir("/proc/self/fd"))
    kinds = [["true"], ["false"], ["sh", "-c", "kill -SEGV $$"], ["sleep", "5"]]

    async def main():
        sem = asyncio.Semaphore(64)
        counts = {"ok": 0, "fail": 0, "timeout": 0}
        # the daemon runs scripts in one long-lived loop: check inside it too, not only after
        # asyncio.run() has closed the loop (and with it whatever the loop still held)
        fds_in_loop = len(os.listdir("/proc/self/fd"))

        async def one(i):
            async with sem:
                hang = i % 100 == 0
                argv = kinds[3] if hang else kinds[i % 3]
                r = await run_script(argv, timeout_s=0.3 if hang else 10)
                counts["timeout" if r.timed_out else "ok" if r.ok else "fail"] += 1

        await asyncio.gather(*(one(i) for i in range(10_000)))
        await asyncio.sleep(0.2)
        assert [c for c in _children_of_self() if c[1] == "Z"] == []
        assert len(os.listdir("/proc/self/fd")) <= fds_in_loop + 2
        return counts

    counts = asyncio.run(main())
    assert sum(counts.values()) == 10_000
    assert counts["timeout"] == 100  # every 100th run hangs
    assert counts["ok"] > 3000 and counts["fail"] > 3000
    time.sleep(0.2)
    assert [c for c in _children_of_self() if c[1] == "Z"] == []
    assert len(os.listdir("/proc/self/fd")) <= fds_before + 2


def test_notify_scripts_and_fifo_in_state_change_order(tmp_path):
    out = tmp_path / "out"
    script = tmp_path / "n.sh"
    script.write_text(f'#!/bin/sh\nsleep 0.0$(( $$ % 5 ))\necho "$@" >> {out}\n')
    script.chmod(0o755)
    master = tmp_path / "m.sh"
    master.write_text(f"#!/bin/sh\necho master-script >> {out}\n")
    master.chmod(0o755)
    fifo = tmp_path / "fifo"
    notify = Notify(master=str(master), any=str(script))

    async def main():
        n = Notifier(fifos=[str(fifo)], run_as=None, env={"PATH": script_path_env()})
        n.open()
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        task = asyncio.create_task(n.run_forever())
        for st in (State.BACKUP, State.MASTER, State.FAULT, State.BACKUP, State.STOP):
            n.changed("INSTANCE", "VI_1", notify, st, 100)
        await n.drain(10)
        task.cancel()
        data = os.read(reader, 65536).decode()
        os.close(reader)
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)
        n.close()
        assert not fifo.exists()  # created by the notifier: removed at close (keepalived fifo_close)
        return data

    fifo_lines = asyncio.run(main()).splitlines()
    assert fifo_lines == [
        'INSTANCE "VI_1" BACKUP 100',
        'INSTANCE "VI_1" MASTER 100',
        'INSTANCE "VI_1" FAULT 100',
        'INSTANCE "VI_1" BACKUP 100',
        'INSTANCE "VI_1" STOP 100',
    ]
    assert out.read_text().splitlines() == [
        "INSTANCE VI_1 BACKUP 100",
        "master-script",
        "INSTANCE VI_1 MASTER 100",
        "INSTANCE VI_1 FAULT 100",
        "INSTANCE VI_1 BACKUP 100",
        "INSTANCE VI_1 STOP 100",
    ]


def test_fifo_without_reader_never_blocks(tmp_path):
    n = Notifier(fifos=[str(tmp_path / "f")], run_as=None, env={})
    n.open()
    t0 = time.monotonic()
    for _ in range(20_000):
        n.changed("INSTANCE", "VI_1", Notify(), State.MASTER, 100)
    assert time.monotonic() - t0 < 10
    assert n.fifos[0].dropped > 0
    n.close()


def test_script_security(tmp_path):
    safe_dir = tmp_path / "safe"
    safe_dir.mkdir()
    os.chmod(tmp_path, 0o755)
    s = safe_dir / "chk.sh"
    s.write_text("#!/bin/sh\nexit 0\n")
    s.chmod(0o700)
    assert insecure_reason(str(s), 0) is None
    s.chmod(0o777)
    assert "writable by others" in insecure_reason(str(s), 0)
    s.chmod(0o700)
    safe_dir.chmod(0o777)
    assert "writable by others" in insecure_reason(str(s), 0)
    safe_dir.chmod(0o755)
    os.chown(s, 65534, 65534)
    assert "owned by uid 65534" in insecure_reason(str(s), 0)
    assert insecure_reason(str(tmp_path / "missing"), 0).startswith("cannot stat")


def test_script_path_includes_postgres_tools():
    path = script_path_env().split(":")
    if Path("/usr/lib/postgresql/15/bin").is_dir():
        assert "/usr/lib/postgresql/15/bin" in path
    assert "/usr/bin" in path or "/bin" in path


def test_scripts_run_as_the_configured_user():
    from vipkeeper.io.scripts import resolve_user

    nobody = resolve_user("nobody")
    assert nobody is not None and nobody.uid == 65534
    assert resolve_user("no-such-user-vk") is None

    async def main():
        as_nobody = await run_script(["sh", "-c", "[ $(id -u) = 65534 ]"], timeout_s=5, run_as=nobody)
        as_root = await run_script(["sh", "-c", "[ $(id -u) = 0 ]"], timeout_s=5)
        return as_nobody, as_root

    as_nobody, as_root = asyncio.run(main())
    assert as_nobody.ok, as_nobody.reason
    assert as_root.ok
