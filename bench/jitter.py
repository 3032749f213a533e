"""Timer precision: the master's advert interval at advert_int 0.01, idle and under CPU load.

A master A and a backup B (VRRPv3, advert_int 0.01 s, Master_Down_Interval 36 ms for B)
run for ``seconds`` while the observer captures every advert.  The samples are the gaps
between A's consecutive adverts (ms).  Under load, one busy-looping process per core runs
beside the daemons (same nice level, bounded in time).

A *false failover* is B starting to send adverts while A is alive: every run of B's adverts
(separated by more than Master_Down_Interval) counts once; B's gratuitous ARPs are counted
too.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from bench.common import (
    BACKUP,
    MASTER,
    VIP,
    VRID,
    NetCtl,
    Pair,
    adverts,
    cpu_hogs,
    garps,
    master_down_s,
    pair_configs,
    wait_stable_holder,
)
from lab.netns import Lab

ADVERT_INT = "0.01"


def run_jitter(
    lab: Lab,
    net: NetCtl,
    workdir: Path,
    kind: str,
    *,
    seconds: float,
    load: bool,
    rt_priority: int | None = None,
    log=print,
) -> dict:
    confs = pair_configs(version=3, advert_int=ADVERT_INT, rt_priority=rt_priority)
    tag = f"jitter-{'load' if load else 'idle'}{'-rt' if rt_priority else ''}-{kind}"
    pair = Pair(lab, workdir / tag, kind, confs)
    ip_a = socket.inet_aton(lab.host(MASTER).ip4 or "")
    ip_b = socket.inet_aton(lab.host(BACKUP).ip4 or "")
    mac_b = lab.mac(BACKUP)
    mdi = master_down_s(3, ADVERT_INT)
    hogs = os.cpu_count() or 1
    with pair:
        pair.start(MASTER)
        if not wait_stable_holder(net, VIP, MASTER, 0.5, 20):
            raise RuntimeError(f"{kind}: A never became master\n{pair.logs()}")
        pair.start(BACKUP)
        if not wait_stable_holder(net, VIP, MASTER, 1.5, 20):
            raise RuntimeError(f"{kind}: A did not keep the VIP once B started\n{pair.logs()}")
        cap = lab.capture("observer", "ip proto 112 or arp")
        try:
            log(
                f"    {kind:10s} advert_int {ADVERT_INT}: {seconds:g} s "
                f"{'with ' + str(hogs) + ' CPU hogs' if load else 'idle'}"
                + (f", vrrp_rt_priority {rt_priority}" if rt_priority else "")
            )
            if load:
                with cpu_hogs(lab, hogs, seconds + 1):
                    time.sleep(seconds)
            else:
                time.sleep(seconds)
        finally:
            frames = cap.stop()
        alive = all(n.running for n in pair.nodes.values())
    ads = [(ts, src, prio) for ts, src, vrid, prio in adverts(frames) if vrid == VRID]
    a_times = [ts for ts, src, prio in ads if src == ip_a and prio > 0]
    gaps_ms = [(b - a) * 1000 for a, b in zip(a_times, a_times[1:])]
    b_times = [ts for ts, src, prio in ads if src == ip_b and prio > 0]
    episodes = sum(1 for i, t in enumerate(b_times) if i == 0 or t - b_times[i - 1] > mdi)
    b_garps = sum(1 for _ts, mac in garps(frames, VIP) if mac == mac_b)
    return {
        "gaps_ms": gaps_ms,
        "adverts_from_master": len(a_times),
        "expected_adverts": round(seconds / float(ADVERT_INT)),
        "false_failovers": episodes,
        "backup_adverts": len(b_times),
        "backup_garps": b_garps,
        "seconds": seconds,
        "load_processes": hogs if load else 0,
        "rt_priority": rt_priority,
        "daemons_alive": alive,
        "problems": [] if alive else ["a daemon exited during the run"],
    }
