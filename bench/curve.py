"""The scale curve: CPU and RSS of master and backup at 1..1,000 instances, both daemons.

``python -m bench.curve [--counts 1,10,100,200,500,1000] [--intervals 0.1,1] [--window 10]
[--repeats 1] [--out DIR]``: VRRPv3, one VIP per instance, advert_int 0.1 s and 1 s, each
point measured by :func:`bench.scale.run_scale` (master first, then backup; warm-up; samples
over the window), vipkeeper and keepalived alternating which goes first at every point.

VRIDs are 1..255 per interface and family, so beyond 250 instances the hosts get more
interfaces (``vk1``, ``vk2``...; 250 instances each, addresses 172.30.N.0/24), each pair on a
bridge of its own (one L2 segment per 250 VRIDs, as VLANs would give).  Both daemons run the
same configuration text; keepalived
needs no extra setting for 1,000 instances here (its default receive buffers kept up: every
point checks that no VIP moved during the window).

The JSON records every sample, the load average before and after every point, the versions
and the commit; the chart (``curve.png``) has CPU and RSS against the instance count, both
daemons side by side.  On a machine shared with other work the ratios are noisy: the load
average is there to judge them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import BACKUP, KINDS, MASTER, PRIO_BACKUP, PRIO_MASTER, NetCtl, scale_vip
from bench.run import ROOT, _meta_host, _version
from bench.scale import run_scale
from lab import netns as lablib
from lab.conf import global_defs, vrrp_instance
from lab.netns import Lab, _ip

PER_IF = 250
HOST_OCTET = {MASTER: 1, BACKUP: 2}


def ifname(i: int) -> str:
    return "eth0" if i < PER_IF else f"vk{i // PER_IF}"


def curve_configs(instances: int, advert_int: str) -> dict[str, str]:
    out = {}
    for host, state, prio in ((MASTER, "MASTER", PRIO_MASTER), (BACKUP, "BACKUP", PRIO_BACKUP)):
        blocks = [global_defs("vrrp_garp_master_delay 1")]
        for i in range(instances):
            blocks.append(
                vrrp_instance(
                    f"VI_{i + 1}",
                    vrid=i % PER_IF + 1,
                    state=state,
                    priority=prio,
                    version=3,
                    advert_int=advert_int,
                    interface=ifname(i),
                    vips=[scale_vip(i)],
                )
            )
        out[host] = "".join(blocks)
    return out


def add_links(lab: Lab, n: int) -> None:
    """Interfaces vk1..vk(n-1) on A and B, each pair on its own bridge of the switch namespace
    (an L2 segment per 250 VRIDs, as VLANs would give; this kernel has no 8021q)."""
    for v in range(1, n):
        _ip("-n", lab.switch_ns, "link", "add", f"br{v}", "type", "bridge", "stp_state", "0", "forward_delay", "0")
        _ip("-n", lab.switch_ns, "link", "set", f"br{v}", "up")
        for host in (MASTER, BACKUP):
            port = f"{host.lower()}k{v}"
            _ip(
                "-n",
                lab.ns(host),
                "link",
                "add",
                f"vk{v}",
                "type",
                "veth",
                "peer",
                "name",
                port,
                "netns",
                lab.switch_ns,
            )
            _ip("-n", lab.switch_ns, "link", "set", port, "master", f"br{v}", "up")
            _ip("-n", lab.ns(host), "addr", "add", f"172.30.{v}.{HOST_OCTET[host]}/24", "dev", f"vk{v}")
            _ip("-n", lab.ns(host), "link", "set", f"vk{v}", "up")


def med(xs: list[float]) -> float | None:
    xs = [x for x in xs if x == x]
    return round(statistics.median(xs), 4) if xs else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--counts", default="1,10,100,200,500,1000")
    ap.add_argument("--intervals", default="0.1,1")
    ap.add_argument("--window", type=float, default=10.0, help="measurement window per point, s")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--sample", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=1, help="points measured this many times (alternating)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "curve")
    ap.add_argument("--no-png", action="store_true")
    args = ap.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",")]
    intervals = args.intervals.split(",")
    started = dt.datetime.now().astimezone()
    lablib.cleanup_stale()
    work = Path(tempfile.mkdtemp(prefix="vkcurve-"))
    points: list[dict] = []
    host = _meta_host()
    try:
        with Lab((MASTER, BACKUP)) as lab:
            add_links(lab, (max(counts) + PER_IF - 1) // PER_IF)
            net = NetCtl(lab)
            try:
                k = 0
                for rep in range(args.repeats):
                    for adv in intervals:
                        for n in counts:
                            order = KINDS if k % 2 == 0 else KINDS[::-1]
                            k += 1
                            for kind in order:
                                load0 = os.getloadavg()
                                t0 = time.monotonic()
                                try:
                                    res = run_scale(
                                        lab,
                                        net,
                                        work / f"{kind}-{n}-{adv}-{rep}",
                                        kind,
                                        instances=n,
                                        window_s=args.window,
                                        warmup_s=args.warmup,
                                        sample_s=args.sample,
                                        advert_int=adv,
                                        confs=curve_configs(n, adv),
                                        log=print,
                                    )
                                    err = None
                                except Exception as exc:  # record it, go on with the curve
                                    res, err = {}, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                                    print(f"!! {kind} {n} @ {adv}: {err}", flush=True)
                                pt = {
                                    "daemon": kind,
                                    "instances": n,
                                    "advert_int": adv,
                                    "repeat": rep,
                                    "loadavg_before": load0,
                                    "loadavg_after": os.getloadavg(),
                                    "wall_s": round(time.monotonic() - t0, 1),
                                    "error": err,
                                    "problems": res.get("problems", []),
                                }
                                for role in ("master", "backup"):
                                    r = res.get(role, {})
                                    pt[role] = {
                                        "cpu_s_per_min_samples": r.get("cpu_s_per_min", []),
                                        "rss_mb_samples": r.get("rss_mb", []),
                                        "cpu_s_per_min": med(r.get("cpu_s_per_min", [])),
                                        "stat_cpu_s_per_min": r.get("stat_cpu_s_per_min"),
                                        "rss_mb": med(r.get("rss_mb", [])),
                                    }
                                points.append(pt)
                                print(
                                    f"  {kind:10s} n={n:5d} adv={adv:4s} master cpu {pt['master']['cpu_s_per_min']} "
                                    f"rss {pt['master']['rss_mb']} | backup cpu {pt['backup']['cpu_s_per_min']} "
                                    f"rss {pt['backup']['rss_mb']} | load {load0[0]:.2f}",
                                    flush=True,
                                )
            finally:
                net.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    host["loadavg_end"] = os.getloadavg()
    doc = {
        "schema": 1,
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "host": host,
            "keepalived": _version(["keepalived", "--version"]),
            "vipkeeper_commit": _version(["git", "-C", str(ROOT), "describe", "--always", "--dirty"]),
            "options": vars(args) | {"out": str(args.out)},
            "method": __doc__,
        },
        "points": points,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"curve-{started:%Y-%m-%d}.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"results: {path}")
    if not args.no_png and write_chart(points, path.with_suffix(".png"), started):
        print(f"chart:   {path.with_suffix('.png')}")
    return 0


def write_chart(points: list[dict], path: Path, started: dt.datetime) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    intervals = sorted({p["advert_int"] for p in points}, key=float)
    fig, axes = plt.subplots(2, 2 * len(intervals), figsize=(4.5 * 2 * len(intervals), 7), squeeze=False)
    colors = {"vipkeeper": "#1f77b4", "keepalived": "#d62728"}
    for col, adv in enumerate(intervals):
        for row, (metric, unit) in enumerate((("cpu_s_per_min", "CPU s/min"), ("rss_mb", "RSS MB"))):
            for j, role in enumerate(("master", "backup")):
                ax = axes[row][2 * col + j]
                for kind in KINDS:
                    pts = sorted(
                        (p["instances"], p[role][metric])
                        for p in points
                        if p["daemon"] == kind and p["advert_int"] == adv and p[role][metric] is not None
                    )
                    if pts:
                        ax.plot([x for x, _ in pts], [y for _, y in pts], "o-", color=colors[kind], label=kind)
                ax.set_xscale("log")
                ax.set_title(f"{role}, advert_int {adv} s", fontsize=9)
                ax.set_xlabel("instances")
                ax.set_ylabel(unit)
                ax.grid(alpha=0.3)
                ax.legend(fontsize=7)
    fig.suptitle(f"scale curve, VRRPv3 — {started:%Y-%m-%d %H:%M}, load avg in the JSON", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


if __name__ == "__main__":
    sys.exit(main())
