"""CPU and memory at scale: N VRRPv3 instances (advert_int 0.1, one VIP each) on a master
and a backup.

After every VIP is on the master and a warm-up, each daemon process is sampled every
``sample_s`` over a ``window_s`` window:

* CPU: ``utime + stime`` from ``/proc/PID/stat`` over the whole window (the headline
  figure's cross-check, ``stat_cpu_s_per_min``) and, per sub-window, the run time of every
  thread from ``/proc/PID/task/*/schedstat`` (ns resolution: the samples).  Unit: CPU
  seconds per minute (60 = one core busy).
* RSS: ``VmRSS`` from ``/proc/PID/status``.

keepalived runs as two processes (``-P``: the parent and its VRRP child); the figures are
their sum, and each process is also reported on its own.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import BACKUP, MASTER, NetCtl, Pair, pair_configs, rss_mb, sched_cpu_s, stat_cpu_s
from lab.netns import Lab

VIP_PREFIX = "10.77."


def run_scale(
    lab: Lab,
    net: NetCtl,
    workdir: Path,
    kind: str,
    *,
    instances: int,
    window_s: float,
    warmup_s: float,
    sample_s: float,
    advert_int: str = "0.1",
    extra_env: dict | None = None,
    confs: dict[str, str] | None = None,
    log=print,
) -> dict:
    confs = confs or pair_configs(version=3, advert_int=advert_int, instances=instances)
    pair = Pair(lab, workdir / f"scale-{kind}", kind, confs, extra_env=dict(extra_env or {}))
    out: dict = {"instances": instances, "window_s": window_s, "problems": []}
    with pair:
        # The master first, then the backup: two daemons starting together both become
        # master of every instance for a moment, a storm that is not what is measured here.
        t_start = time.monotonic()
        pair.start(MASTER)
        ok = Lab.wait_for(lambda: net.count_vips(MASTER, VIP_PREFIX) == instances, 120, 0.2)
        if ok:
            pair.start(BACKUP)
            ok = Lab.wait_for(
                lambda: (
                    pair.nodes[BACKUP].running
                    and net.count_vips(MASTER, VIP_PREFIX) == instances
                    and net.count_vips(BACKUP, VIP_PREFIX) == 0
                ),
                60,
                0.2,
            )
            time.sleep(1)
            ok = ok and net.count_vips(MASTER, VIP_PREFIX) == instances and net.count_vips(BACKUP, VIP_PREFIX) == 0
        if not ok:
            raise RuntimeError(
                f"{kind}: {instances} VIPs never all on A "
                f"(A {net.count_vips(MASTER, VIP_PREFIX)}, B {net.count_vips(BACKUP, VIP_PREFIX)})"
                f"\n{pair.logs()}"
            )
        out["converge_s"] = round(time.monotonic() - t_start, 2)
        log(
            f"    {kind:10s} {instances} instances converged in {out['converge_s']} s; "
            f"warm-up {warmup_s:g} s, window {window_s:g} s"
        )
        time.sleep(warmup_s)
        pids = {h: pair.pids(h) for h in (MASTER, BACKUP)}
        every = [(h, role, pid) for h, roles in pids.items() for role, pid in roles.items()]
        stat0 = {(h, r): stat_cpu_s(p) for h, r, p in every}
        sched_prev = {(h, r): sched_cpu_s(p) for h, r, p in every}
        t_prev = t0 = time.monotonic()
        cpu_samples: dict[str, list[float]] = {MASTER: [], BACKUP: []}
        rss: dict[tuple[str, str], list[float]] = {(h, r): [] for h, r, _ in every}
        n = max(1, round(window_s / sample_s))
        for k in range(n):
            time.sleep(max(0.0, t0 + (k + 1) * sample_s - time.monotonic()))
            now = time.monotonic()
            per_host = {MASTER: 0.0, BACKUP: 0.0}
            for h, r, p in every:
                c = sched_cpu_s(p)
                per_host[h] += c - sched_prev[(h, r)]
                sched_prev[(h, r)] = c
                rss[(h, r)].append(rss_mb(p))
            for h in per_host:
                cpu_samples[h].append(per_host[h] / (now - t_prev) * 60)
            t_prev = now
        elapsed = time.monotonic() - t0
        stat_total = {h: sum(stat_cpu_s(p) - stat0[(h, r)] for hh, r, p in every if hh == h) for h in pids}
        if net.count_vips(MASTER, VIP_PREFIX) != instances or net.count_vips(BACKUP, VIP_PREFIX) != 0:
            out["problems"].append("the VIPs moved during the window (flapping)")
    for h, role_name in ((MASTER, "master"), (BACKUP, "backup")):
        roles = [r for hh, r, _ in every if hh == h]
        out[role_name] = {
            "cpu_s_per_min": cpu_samples[h],
            "stat_cpu_s_per_min": round(stat_total[h] / elapsed * 60, 4),
            "rss_mb": [sum(rss[(h, r)][i] for r in roles) for i in range(n)],
            "rss_mb_by_process": {r: round(sorted(rss[(h, r)])[n // 2], 2) for r in roles},
            "pids": pids[h],
        }
    return out
