"""``notify_fifo_script`` / ``vrrp_notify_fifo_script`` (keepalived lib/notify.c fifo_open): the
script starts once the FIFO exists, with the FIFO's path as its last argument, reads the
lines the daemon writes, and is ended with the daemon.  Real processes, no network."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from vipkeeper.config.model import Notify
from vipkeeper.core.events import State
from vipkeeper.daemon.notify import Notifier
from vipkeeper.io.scripts import script_path_env


def test_fifo_script_gets_the_path_and_reads_the_lines(tmp_path: Path) -> None:
    args, lines = tmp_path / "args", tmp_path / "lines"
    script = tmp_path / "reader.sh"
    script.write_text(f'#!/bin/sh\necho "$@" > {args}\nfor a; do last=$a; done\nexec cat "$last" >> {lines}\n')
    script.chmod(0o755)
    fifo = tmp_path / "vrrp.fifo"

    async def main() -> None:
        n = Notifier(
            fifos=[str(fifo)], run_as=None, env={"PATH": script_path_env()}, fifo_scripts={str(fifo): f"{script} -v"}
        )
        n.open()
        task = asyncio.create_task(n.run_forever())
        for st in (State.BACKUP, State.MASTER):
            n.changed("INSTANCE", "VI_1", Notify(), st, 100)
        n.event("VI_1", "MASTER_RX_LOWER_PRI", 100)
        n.changed("GROUP", "G", Notify(), State.MASTER, 0)
        for _ in range(200):
            if lines.exists() and len(lines.read_text().splitlines()) == 4:
                break
            await asyncio.sleep(0.025)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        n.close()

    asyncio.run(main())
    assert args.read_text().split() == ["-v", str(fifo)]
    assert lines.read_text().splitlines() == [
        'INSTANCE "VI_1" BACKUP 100',
        'INSTANCE "VI_1" MASTER 100',
        'INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100',
        'GROUP "G" MASTER 0',
    ]
    assert not fifo.exists()
    # the script was ended with the notifier (its process group killed)
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p).startswith(f"/bin/sh {script}")]


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
