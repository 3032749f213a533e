"""Failover on master loss and graceful handover: fault on A → B's first gratuitous ARP.

* ``linkdown``: A's eth0 goes down (rtnetlink from this process; ``time.time()`` is taken
  just before the request).  B must wait Master_Down_Interval after A's last advert.
* ``sigterm``: SIGTERM to A's daemon; A resigns with priority 0 and B waits Skew_Time.

The fault is injected at a chosen phase after one of A's adverts (seen live on the
observer by :class:`bench.common.Sniffer`); the phases come from a seeded generator and are
the same for both daemons, so trial *i* of vipkeeper and trial *i* of keepalived start from
the same point of the advert cycle.  The figure is taken from tcpdump's capture on the
observer: B's first gratuitous ARP for the VIP after the fault.  Both clocks are
CLOCK_REALTIME (tcpdump's kernel timestamps and ``time.time()``).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from bench.common import (
    BACKUP,
    MASTER,
    VIP,
    VRID,
    NetCtl,
    Pair,
    Sniffer,
    adverts,
    garps,
    master_down_s,
    pair_configs,
    phase_offsets,
    skew_s,
    sleep_until,
    wait_stable_holder,
    wait_until,
)
from lab.netns import Lab

CONFIGS = [  # (name suffix, version, advert_int)
    ("v2_1s", 2, "1"),
    ("v3_50ms", 3, "0.05"),
    ("v3_10ms", 3, "0.01"),
]


def run_trials(
    lab: Lab, net: NetCtl, workdir: Path, kind: str, *, mode: str, version: int, advert_int: str, trials: int, log=print
) -> dict:
    """Run ``trials`` faults of ``mode`` on one pair of ``kind``; returns samples and details."""
    adv_s = float(advert_int)
    mdi = master_down_s(version, advert_int)
    confs = pair_configs(version=version, advert_int=advert_int)
    pair = Pair(lab, workdir / f"{mode}-v{version}-{advert_int}-{kind}", kind, confs)
    mac_b = lab.mac(BACKUP)
    ip_a = lab.host(MASTER).ip4
    assert ip_a is not None
    settle_s = max(1.3, 5 * adv_s)  # past vrrp_garp_master_delay 1 (the delayed GARPs)
    converge_s = 3 * mdi + 15
    events: list[tuple[float, float | None]] = []
    problems: list[str] = []
    sniffer = Sniffer(lab, ip_a, VRID)
    cap = lab.capture("observer", "arp or ip proto 112")
    try:
        with pair:
            pair.start_all()
            if not wait_stable_holder(net, VIP, MASTER, settle_s, converge_s):
                raise RuntimeError(f"{kind}: A never held {VIP} alone\n{pair.logs()}")
            for i, offset in enumerate(phase_offsets(trials, adv_s, f"{mode}-{version}-{advert_int}")):
                if i and not wait_stable_holder(net, VIP, MASTER, settle_s, converge_s):
                    problems.append(f"trial {i}: A did not take the VIP back")
                    break
                t_adv = sniffer.next_advert(3 * adv_s + 2)
                if t_adv is None:
                    problems.append(f"trial {i}: no advert from A")
                    break
                sleep_until(t_adv + offset)
                if mode == "linkdown":
                    t0 = net.set_link(MASTER, False)
                else:
                    t0 = time.time()
                    pair.nodes[MASTER].send_signal(signal.SIGTERM)
                took = wait_until(lambda: VIP in net.addresses(BACKUP), mdi + 5, 0.02 if adv_s >= 0.5 else 0.005)
                events.append((t0, took))
                if took is None:
                    problems.append(f"trial {i}: B never took the VIP")
                if mode == "linkdown":
                    net.set_link(MASTER, True)
                else:
                    pair.nodes[MASTER].proc.wait(15)  # type: ignore[union-attr]
                    pair.start(MASTER)
                log(
                    f"    {kind:10s} {mode} v{version} {advert_int}s trial {i + 1}/{trials}"
                    + (f": VIP on B after ~{took - t0:.3f}s" if took else ": no failover")
                )
    finally:
        frames = cap.stop()
        sniffer.close()
    g = [ts for ts, mac in garps(frames, VIP) if mac == mac_b]
    a_adv = [
        (ts, prio)
        for ts, src, vrid, prio in adverts(frames)
        if vrid == VRID and src == bytes(map(int, ip_a.split(".")))
    ]
    samples: list[float] = []
    since_last: list[float] = []
    for i, (t0, _took) in enumerate(events):
        nxt = next((ts for ts in g if ts > t0), None)
        if nxt is None or nxt - t0 > mdi + 5:
            problems.append(f"trial {i}: no gratuitous ARP from B after the fault")
            continue
        samples.append(nxt - t0)
        # the last advert of A before B's GARP (the priority-0 one for a handover)
        last = [ts for ts, prio in a_adv if ts < nxt and (prio > 0 or mode == "sigterm")]
        if last:
            since_last.append(nxt - last[-1])
    return {
        "samples": samples,
        "since_last_advert": since_last,
        "master_down_interval_s": mdi,
        "skew_s": skew_s(version, advert_int),
        "problems": problems,
    }
