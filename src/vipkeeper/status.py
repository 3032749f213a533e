"""The daemon's live status as a JSON-ready dict, and its human rendering.

The JSON shape is stable (``"schema": 1``); fields are only ever added.
Documented in README.md ("Status JSON").
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from . import __version__

if TYPE_CHECKING:
    from .daemon import Daemon, InstanceRuntime

SCHEMA = 1


def _tracker(t, tr, now_mono: float) -> dict[str, Any]:
    kind = type(tr).__name__.removesuffix("Check").removesuffix("Tracker").lower()
    info: dict[str, Any] = {"name": t.name, "kind": kind, "weight": t.weight, "reverse": t.reverse,
                            "status": str(tr.status)}
    state = getattr(tr, "state", None)
    if state is not None and hasattr(state, "reason"):
        info["reason"] = state.reason
        info["latency_s"] = round(getattr(state, "latency_s", 0.0), 6)
        last = getattr(state, "last_run_monotonic", None)
        info["last_run_age_s"] = None if last is None else round(now_mono - last, 3)
        for extra in ("role", "timeline", "runs", "failures"):
            if hasattr(state, extra):
                info[extra] = getattr(state, extra)
    else:
        info["reason"] = getattr(tr, "reason", "")
    if hasattr(tr, "value"):
        info["value"] = tr.value
    return info


def instance_status(rt: "InstanceRuntime", now_us: int, now_mono: float) -> dict[str, Any]:
    r = rt.router
    c = r.counters
    last = r.last_advert_us
    return {
        "name": rt.name,
        "state": str(r.state),
        "reason": r.reason,
        "vrid": rt.cfg.vrid,
        "interface": rt.cfg.interface,
        "family": f"ipv{rt.cfg.family}",
        "version": rt.cfg.version,
        "priority": r.base_priority,
        "effective_priority": r.effective_priority,
        "advert_int_s": rt.cfg.advert_int_cs / 100,
        "source": str(rt.src),
        "destinations": [str(d) for d in rt.dsts],
        "master": {
            "address": None if r.master_addr is None else str(r.master_addr),
            "priority": r.master_priority,
            "last_advert_age_s": None if last is None else round((now_us - last) / 1e6, 3),
            "is_self": r.state.value == "MASTER",
        },
        "vips": [str(v.address) for v in rt.all_vips],
        "vips_held": rt.vips_held,
        "faults": sorted(r.faults),
        "trackers": [_tracker(t, tr, now_mono) for t, tr in rt.tracked],
        "counters": {
            "adverts_sent": c.adverts_sent,
            "adverts_received": c.adverts_received,
            "priority_zero_sent": c.priority_zero_sent,
            "priority_zero_received": c.priority_zero_received,
            "transitions": c.transitions,
            "became_master": c.became_master,
            "released_master": c.released_master,
            "garp_sent": rt.garps_sent,
            "drops": dict(sorted(c.drops.items())),
        },
    }


def daemon_status(d: "Daemon") -> dict[str, Any]:
    from .daemon import _now_us

    now_us = _now_us()
    now_mono = time.monotonic()
    return {
        "schema": SCHEMA,
        "version": __version__,
        "pid": os.getpid(),
        "config": d.config.path,
        "uptime_s": round(now_mono - d.started_monotonic, 3),
        "summary": d.summary(),
        "instances": [instance_status(rt, now_us, now_mono) for rt in d.instances.values()],
        "packets": _packets(d),
    }


def _packets(d: "Daemon") -> dict[str, Any]:
    """What the VRRP sockets got (``received``: handed to the daemon, each then counted once
    as an advert received, a drop, a decode error or an unknown VRID) and what they refused."""
    socks = list(d._sockets.values())
    ip_errors: dict[str, int] = {}
    for s in socks:
        for reason, n in s.ip_errors.items():
            ip_errors[reason] = ip_errors.get(reason, 0) + n
    return {
        "unknown_vrid": d.unknown_vrid,
        "decode_errors": dict(sorted(d.decode_errors.items())),
        "received": sum(s.received for s in socks),
        "recv_errors": sum(s.recv_errors for s in socks),
        "ip_errors": dict(sorted(ip_errors.items())),
    }


def render_table(st: dict[str, Any]) -> str:
    """A compact table for ``vipkeeper status``."""
    lines = [f"vipkeeper {st['version']} pid {st['pid']} up {st['uptime_s']:.0f}s  config {st['config']}"]
    hdr = f"{'INSTANCE':<12} {'STATE':<7} {'PRIO':>8} {'VRID':>4} {'IF':<8} {'MASTER':<26} {'VIPS':<24} DROPS"
    lines.append(hdr)
    for i in st["instances"]:
        m = i["master"]
        if m["is_self"]:
            master = "self"
        elif m["address"]:
            age = m["last_advert_age_s"]
            master = f"{m['address']}/{m['priority']}" + (f" {age:.1f}s" if age is not None else "")
        else:
            master = "-"
        prio = f"{i['effective_priority']}/{i['priority']}"
        vips = ",".join(v.split("/")[0] for v in i["vips"])
        vips += " (held)" if i["vips_held"] else ""
        drops = sum(i["counters"]["drops"].values())
        lines.append(f"{i['name']:<12} {i['state']:<7} {prio:>8} {i['vrid']:>4} {i['interface']:<8} {master:<26} "
                     f"{vips:<24} {drops}")
        for t in i["trackers"]:
            lat = f" {t['latency_s'] * 1000:.1f}ms" if "latency_s" in t else ""
            extra = "".join(f" {k}={t[k]}" for k in ("role", "timeline", "value") if k in t and t[k] is not None)
            lines.append(f"  {t['kind']:<9} {t['name']:<20} {t['status']:<5} w={t['weight']:<4} "
                         f"{t.get('reason', '')}{lat}{extra}")
        if i["faults"]:
            lines.append(f"  fault: {', '.join(i['faults'])}")
    return "\n".join(lines)
