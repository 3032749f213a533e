"""Start-up: from exec to the first advert on the wire, for an address owner (priority 255).

An address owner takes over at once (RFC 5798 §6.4.1: priority 255 -> Master), so the time
from ``exec`` to its first advert is the daemon's start-up, and it bounds the double-holder
window of a crash loop (issue 14).  Host A runs one VRRPv3 instance, priority 255, alone;
the observer's AF_PACKET socket (kernel receive timestamps, CLOCK_REALTIME) sees the first
advert; ``time.time()`` is taken just before the daemon is spawned (``ip netns exec`` is in
both daemons' figure alike).  The daemons alternate trial by trial, so a slow drift of this
shared machine does not favour one.

Bytecode: this environment sets PYTHONDONTWRITEBYTECODE, so a plain start compiles every module
from source (~0.3 s more); an installed host has its .pyc files (the .deb's Python writes them
at first run).  vipkeeper runs here with ``PYTHONPYCACHEPREFIX`` (a directory of the run, the
clone stays clean) and bytecode writing on, after one unrecorded warm-up start of each daemon.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import MASTER, VIP, VRID, Sniffer
from lab.conf import global_defs, vrrp_instance
from lab.netns import Lab
from lab.nodes import Node

CONFIG = global_defs("vrrp_garp_master_delay 1") + vrrp_instance(
    "VI_OWNER", vrid=VRID, state="MASTER", priority=255, version=3, advert_int="1", vips=[VIP]
)


def _env(workdir: Path, kind: str) -> dict[str, str] | None:
    if kind != "vipkeeper":
        return None
    return {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(workdir / "pycache")}


def one_start(lab: Lab, workdir: Path, kind: str, trial: int | str, timeout_s: float = 20) -> float | None:
    """Seconds from spawning the daemon to its first advert seen on the observer."""
    ip_a = lab.host(MASTER).ip4
    assert ip_a is not None
    node = Node(lab, MASTER, workdir / f"startup-{kind}-{trial}", kind=kind)
    node.write_config(CONFIG)
    sniffer = Sniffer(lab, ip_a, VRID)
    try:
        sniffer.drain()
        t0 = time.time()
        node.start(log_level="info", extra_env=_env(workdir, kind))
        t_adv = sniffer.next_advert(timeout_s, drain=False)
        return None if t_adv is None else t_adv - t0
    finally:
        sniffer.close()
        node.stop(timeout_s=15)


def run_startup(lab: Lab, workdir: Path, *, trials: int, log=print) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"vipkeeper": [], "keepalived": [], "failed": []}
    for kind in ("vipkeeper", "keepalived"):  # warm-up: bytecode written, files in the page cache
        one_start(lab, workdir, kind, "warmup")
    for i in range(trials):
        for kind in ("vipkeeper", "keepalived") if i % 2 == 0 else ("keepalived", "vipkeeper"):
            s = one_start(lab, workdir, kind, i)
            if s is None:
                out["failed"].append(kind)
                log(f"    {kind:10s} trial {i}: no advert within the timeout")
            else:
                out[kind].append(s)
            time.sleep(0.3)  # let the released VIP's netlink echo and the pid file settle
    return out
