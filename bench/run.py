"""``python -m bench.run [--quick] [--trials N] [--only NAME[,NAME...]]`` (``make bench``).

Every benchmark runs vipkeeper and keepalived 2.2.7 with the same configuration text, one
daemon kind after the other, on one namespace lab (hosts A and B, an observer), in one run:

  failover_v2_1s, failover_v3_50ms, failover_v3_10ms    master link down → backup's first GARP
  handover_v2_1s, handover_v3_50ms, handover_v3_10ms    SIGTERM on the master → backup's first GARP
  cpu_master, cpu_backup, rss_master, rss_backup        N instances (default 200) at advert_int 0.1
  jitter_idle, jitter_load, jitter_load_rt              master's advert gaps at advert_int 0.01
                                                        (idle; 2 CPU hogs; hogs + vrrp_rt_priority)
  startup                                               exec -> first advert, address owner (priority 255)
  pg_promote                                            bench/pg_promote.py, if present
  dcs_switchover, dcs_partition, dcs_blip               vrrp_dcs beside vip-manager on a Patroni lab
                                                        (bench/dcs.py; only when --only names them)

``--only`` takes record names or their prefixes (``failover``, ``jitter``, ``cpu``...).
Results go to ``bench/results/<date>.json`` and ``.png``; the table is printed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import dcs, failover, jitter, scale, startup
from bench.common import KINDS, NetCtl, master_down_s, skew_s
from bench.pg import run_pg_hook
from bench.report import (
    SCHEMA_VERSION,
    make_record,
    render_table,
    results_path,
    unavailable_record,
    write_json,
    write_png,
)
from lab import netns as lablib
from lab.netns import Lab

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path(__file__).resolve().parent / "results"

FAILOVER_NAMES = [f"failover_{s}" for s, _, _ in failover.CONFIGS]
HANDOVER_NAMES = [f"handover_{s}" for s, _, _ in failover.CONFIGS]
SCALE_NAMES = ["cpu_master", "cpu_backup", "rss_master", "rss_backup"]
CPU_GOAL = {"master": 0.5, "backup": 0.8}  # ratio to keepalived, issue 14
RSS_GOAL_MB = 25  # at 200 instances, without vrrp_pgsql/vrrp_dcs, issue 14


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help="1 trial each, 10 instances, short windows (a smoke run, not a measurement)",
    )
    p.add_argument("--trials", type=int, default=None, help="trials per failover/handover config (default 10)")
    p.add_argument("--only", default="", help="comma-separated benchmark names or prefixes")
    p.add_argument(
        "--jitter-seconds",
        type=float,
        default=None,
        help="duration of each jitter run, idle and loaded (default 60; the issue asks 300)",
    )
    p.add_argument("--scale-instances", type=int, default=None, help="VRRP instances per daemon (default 200)")
    p.add_argument("--scale-window", type=float, default=None, help="CPU/RSS measurement window, s (default 30)")
    p.add_argument(
        "--rt-priority",
        type=int,
        default=10,
        metavar="P",
        help="jitter_load_rt: the loaded run again with 'vrrp_rt_priority P' in both daemons' "
        "global_defs (default 10; 0 skips it)",
    )
    p.add_argument("--pg-timeout", type=float, default=1200, help="seconds allowed to bench/pg_promote.py")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"results directory (default {DEFAULT_OUT})")
    p.add_argument("--no-png", action="store_true", help="do not draw the chart")
    p.add_argument("--keep", action="store_true", help="keep the daemons' working directories (logs)")
    a = p.parse_args(argv)
    q = a.quick
    a.trials = a.trials if a.trials is not None else (1 if q else 10)
    a.jitter_seconds = a.jitter_seconds if a.jitter_seconds is not None else (2.0 if q else 60.0)
    a.scale_instances = a.scale_instances if a.scale_instances is not None else (10 if q else 200)
    a.scale_window = a.scale_window if a.scale_window is not None else (2.0 if q else 30.0)
    a.scale_warmup = 0.5 if q else 5.0
    a.scale_sample = 1.0 if q else 3.0
    if a.trials < 1 or a.jitter_seconds <= 0 or a.scale_instances < 1 or a.scale_window <= 0:
        p.error("--trials, --jitter-seconds, --scale-instances and --scale-window must be positive")
    a.only_list = [x.strip() for x in a.only.split(",") if x.strip()]
    return a


def wanted(args: argparse.Namespace, name: str) -> bool:
    return not args.only_list or any(name == o or name.startswith(o) for o in args.only_list)


def preflight() -> str | None:
    if os.geteuid() != 0:
        return "the benchmarks need root (network namespaces)"
    reason = lablib.netns_unavailable_reason()
    if reason:
        return reason
    for tool in ("keepalived", "tcpdump"):
        if not (shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")):
            return f"{tool} is not installed (make sysdeps)"
    return None


def _version(argv: list[str]) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return ((p.stdout or "") + (p.stderr or "")).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def _meta_host() -> dict:
    return {
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "loadavg_start": os.getloadavg(),
    }


# ------------------------------------------------------------------ benchmark groups
def _order(i: int) -> tuple[str, ...]:
    """Alternate which daemon goes first, so slow drifts of the machine do not favour one."""
    return KINDS if i % 2 == 0 else KINDS[::-1]


def bench_fault(lab: Lab, net: NetCtl, work: Path, args, mode: str) -> list[dict]:
    out = []
    for i, (suffix, version, adv) in enumerate(failover.CONFIGS):
        name = f"{'failover' if mode == 'linkdown' else 'handover'}_{suffix}"
        if not wanted(args, name):
            continue
        what = "failover on master link loss" if mode == "linkdown" else "handover on SIGTERM to the master"
        title = f"{what}, VRRPv{version} advert_int {adv}"
        log(f"== {name}: {title}, {args.trials} trial(s) per daemon")
        res = {}
        for kind in _order(i):
            res[kind] = failover.run_trials(
                lab, net, work, kind, mode=mode, version=version, advert_int=adv, trials=args.trials, log=log
            )
        vk, ka = res["vipkeeper"], res["keepalived"]
        ms = lambda xs: [x * 1000 for x in xs]  # noqa: E731
        mdi_ms = master_down_s(version, adv) * 1000
        skew_ms = skew_s(version, adv) * 1000
        if mode == "linkdown":
            limit = mdi_ms + 20
            goal = f"median within 2% of keepalived's; every trial <= Master_Down_Interval + 20 ms = {limit:.1f} ms"
        else:
            limit = skew_ms + 20
            goal = f"every trial <= Skew_Time + 20 ms = {limit:.1f} ms"
        rec = make_record(
            name,
            title,
            "ms",
            ms(vk["samples"]),
            ms(ka["samples"]),
            goal=goal,
            goal_met=None,
            details={
                "limit_ms": round(limit, 3),
                "master_down_interval_ms": round(mdi_ms, 3),
                "skew_ms": round(skew_ms, 3),
                "trials": args.trials,
                "since_last_advert_ms": {
                    "vipkeeper": [round(x * 1000, 3) for x in vk["since_last_advert"]],
                    "keepalived": [round(x * 1000, 3) for x in ka["since_last_advert"]],
                },
                "problems": [f"{k}: {p}" for k, r in res.items() for p in r["problems"]],
            },
        )
        v = rec["vipkeeper"]
        complete = v["n"] == args.trials and rec["keepalived"]["n"] == args.trials
        every = complete and v["max"] is not None and v["max"] <= limit
        if mode == "linkdown":
            rec["goal_met"] = bool(every and rec["ratio"] is not None and abs(rec["ratio"] - 1) <= 0.02)
            sl = vk["since_last_advert"]
            if sl:
                rec["details"]["notes"] = [
                    f"from A's last advert to B's GARP: vipkeeper max {max(sl) * 1000:.1f} ms, keepalived max "
                    f"{max(ka['since_last_advert'] or [float('nan')]) * 1000:.1f} ms "
                    f"(Master_Down_Interval {mdi_ms:.1f} ms)"
                ]
        else:
            rec["goal_met"] = bool(every)
        out.append(rec)
    return out


def bench_scale(lab: Lab, net: NetCtl, work: Path, args) -> list[dict]:
    if not any(wanted(args, n) for n in SCALE_NAMES):
        return []
    n = args.scale_instances
    log(f"== scale: {n} VRRPv3 instances at advert_int 0.1, window {args.scale_window:g} s")
    res = {}
    for kind in _order(1):
        res[kind] = scale.run_scale(
            lab,
            net,
            work,
            kind,
            instances=n,
            window_s=args.scale_window,
            warmup_s=args.scale_warmup,
            sample_s=args.scale_sample,
            log=log,
        )
    out = []
    for role in ("master", "backup"):
        vk, ka = res["vipkeeper"][role], res["keepalived"][role]
        problems = [f"{k}: {p}" for k, r in res.items() for p in r["problems"]]
        if wanted(args, f"cpu_{role}"):
            rec = make_record(
                f"cpu_{role}",
                f"CPU of the {role}, {n} instances v3 advert_int 0.1",
                "CPU s/min",
                vk["cpu_s_per_min"],
                ka["cpu_s_per_min"],
                goal=f"ratio <= {CPU_GOAL[role]} (issue 14)",
                goal_met=None,
                ndigits=4,
                details={
                    "stat_cpu_s_per_min": {
                        "vipkeeper": vk["stat_cpu_s_per_min"],
                        "keepalived": ka["stat_cpu_s_per_min"],
                    },
                    "window_s": args.scale_window,
                    "sample_s": args.scale_sample,
                    "instances": n,
                    "problems": problems,
                    "notes": [
                        f"utime+stime over the whole window: vipkeeper {vk['stat_cpu_s_per_min']:.3f}, "
                        f"keepalived {ka['stat_cpu_s_per_min']:.3f} CPU s/min "
                        f"({vk['stat_cpu_s_per_min'] / 0.6:.2f}% vs {ka['stat_cpu_s_per_min'] / 0.6:.2f}% "
                        f"of a core)"
                    ],
                },
            )
            rec["goal_met"] = rec["ratio"] is not None and rec["ratio"] <= CPU_GOAL[role] and not problems
            out.append(rec)
        if wanted(args, f"rss_{role}"):
            by = ka["rss_mb_by_process"]
            rec = make_record(
                f"rss_{role}",
                f"RSS of the {role}, {n} instances",
                "MB",
                vk["rss_mb"],
                ka["rss_mb"],
                goal=f"vipkeeper <= {RSS_GOAL_MB} MB (issue 14)",
                goal_met=None,
                ndigits=3,
                details={
                    "limit": RSS_GOAL_MB,
                    "rss_mb_by_process": {"vipkeeper": vk["rss_mb_by_process"], "keepalived": by},
                    "problems": problems,
                    "notes": [
                        "keepalived = parent + VRRP child: " + " + ".join(f"{k} {v:.1f} MB" for k, v in by.items())
                    ],
                },
            )
            rec["goal_met"] = rec["vipkeeper"]["max"] is not None and rec["vipkeeper"]["max"] <= RSS_GOAL_MB
            out.append(rec)
    return out


def bench_startup(lab: Lab, work: Path, args) -> list[dict]:
    n = max(3, args.trials)
    log(f"== startup: exec -> first advert of an address owner (priority 255), {n} trial(s) per daemon")
    res = startup.run_startup(lab, work, trials=n, log=log)
    ms = lambda xs: [x * 1000 for x in xs]  # noqa: E731
    rec = make_record(
        "startup",
        "start-up: exec -> first advert, priority 255",
        "ms",
        ms(res["vipkeeper"]),
        ms(res["keepalived"]),
        goal="median <= 2 x keepalived's",
        goal_met=None,
        details={"trials": n, "failed": res["failed"], "problems": [f"{k}: no advert" for k in res["failed"]]},
    )
    rec["goal_met"] = bool(rec["ratio"] is not None and rec["ratio"] <= 2.0 and not res["failed"])
    return [rec]


def bench_jitter(lab: Lab, net: NetCtl, work: Path, args) -> list[dict]:
    runs = [("jitter_idle", False, None), ("jitter_load", True, None)]
    if args.rt_priority:
        runs.append(("jitter_load_rt", True, args.rt_priority))
    out = []
    for i, (name, load, rt) in enumerate(runs):
        if not wanted(args, name):
            continue
        title = f"advert gaps at advert_int 0.01, {'both cores loaded' if load else 'idle'}"
        if rt:
            title += f", vrrp_rt_priority {rt}"
        log(f"== {name}: {title}, {args.jitter_seconds:g} s per daemon")
        res = {
            kind: jitter.run_jitter(
                lab, net, work, kind, seconds=args.jitter_seconds, load=load, rt_priority=rt, log=log
            )
            for kind in _order(i)
        }
        vk, ka = res["vipkeeper"], res["keepalived"]
        keys = ("false_failovers", "backup_adverts", "backup_garps", "adverts_from_master", "expected_adverts")
        rec = make_record(
            name,
            title,
            "ms",
            vk["gaps_ms"],
            ka["gaps_ms"],
            goal="zero false failovers",
            goal_met=None,
            details={
                "seconds": args.jitter_seconds,
                "load_processes": vk["load_processes"],
                "rt_priority": rt,
                "limit": round(master_down_s(3, jitter.ADVERT_INT) * 1000, 3),
                **{k: {"vipkeeper": vk[k], "keepalived": ka[k]} for k in keys},
                "problems": [f"{k}: {p}" for k, r in res.items() for p in r["problems"]],
                "notes": [
                    f"false failovers: vipkeeper {vk['false_failovers']}, keepalived "
                    f"{ka['false_failovers']}; adverts sent: vipkeeper "
                    f"{vk['adverts_from_master']}, keepalived {ka['adverts_from_master']} "
                    f"of {vk['expected_adverts']} expected in {args.jitter_seconds:g} s"
                ],
            },
        )
        rec["goal_met"] = vk["false_failovers"] == 0 and vk["daemons_alive"]
        out.append(rec)
    return out


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    why = preflight()
    if why:
        log(f"bench: cannot run: {why}")
        return 2
    started = dt.datetime.now().astimezone()
    t0 = time.monotonic()
    lablib.cleanup_stale()
    records: list[dict] = []
    work = Path(tempfile.mkdtemp(prefix="vkbench-"))
    groups: list[tuple[list[str], Callable[..., list[dict]]]] = [
        (FAILOVER_NAMES, lambda lab, net: bench_fault(lab, net, work, args, "linkdown")),
        (HANDOVER_NAMES, lambda lab, net: bench_fault(lab, net, work, args, "sigterm")),
        (SCALE_NAMES, lambda lab, net: bench_scale(lab, net, work, args)),
        (["jitter_idle", "jitter_load", "jitter_load_rt"], lambda lab, net: bench_jitter(lab, net, work, args)),
        (["startup"], lambda lab, net: bench_startup(lab, work, args)),
    ]
    host = _meta_host()
    lab_namespaces: list[str] = []
    try:
        if any(wanted(args, n) for names, _ in groups for n in names):
            with Lab(("A", "B")) as lab:
                lab_namespaces.extend(lab.namespaces)
                net = NetCtl(lab)
                try:
                    for names, fn in groups:
                        if not any(wanted(args, n) for n in names):
                            continue
                        try:
                            records.extend(fn(lab, net))
                        except Exception as exc:  # report it, run the rest
                            log(f"!! {names[0]}...: {type(exc).__name__}: {exc}")
                            for n in names:
                                if wanted(args, n) and not (n == "jitter_load_rt" and not args.rt_priority):
                                    records.append(
                                        unavailable_record(
                                            n, n, f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                                        )
                                    )
                finally:
                    net.close()
        if args.only_list and any(wanted(args, n) for n in dcs.NAMES):
            records.extend(dcs.run_dcs(trials=args.trials, log=log, wanted=lambda n: wanted(args, n)))
        if wanted(args, "pg_promote"):
            log("== pg_promote")
            records.extend(run_pg_hook(quick=args.quick, trials=args.trials, timeout_s=args.pg_timeout, log=log))
    finally:
        if args.keep:
            log(f"daemon working directories kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    wall = time.monotonic() - t0
    host["loadavg_end"] = os.getloadavg()
    doc = {
        "schema": SCHEMA_VERSION,
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "wall_s": round(wall, 1),
            "host": host,
            "keepalived": _version(["keepalived", "--version"]),
            "vipkeeper_commit": _version(["git", "-C", str(ROOT), "describe", "--always", "--dirty"]),
            "lab_namespaces": lab_namespaces,
            "workdir": str(work),
            "options": {
                "quick": args.quick,
                "trials": args.trials,
                "only": args.only_list,
                "jitter_seconds": args.jitter_seconds,
                "scale_instances": args.scale_instances,
                "scale_window_s": args.scale_window,
                "rt_priority": args.rt_priority,
            },
            "method": "each benchmark: vipkeeper and keepalived with the same keepalived.conf text, one after "
            "the other, on one namespace lab (hosts A, B, observer); see bench/*.py docstrings",
        },
        "benchmarks": records,
    }
    date = started.strftime("%Y-%m-%d")
    json_path = results_path(args.out, date, ".json")
    write_json(doc, json_path)
    png_path = json_path.with_suffix(".png")
    drew = (
        False
        if args.no_png
        else write_png(
            records,
            png_path,
            f"vipkeeper vs keepalived — {started:%Y-%m-%d %H:%M}, {host['cpus']} CPUs, wall {wall / 60:.1f} min",
        )
    )
    print(render_table(records))
    print(f"results: {json_path}" + (f"\nchart:   {png_path}" if drew else ""))
    print(f"wall time: {wall / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
