"""The daemon's live status as a JSON-ready dict, and its human rendering.

The JSON shape is stable (``"schema": 1``); fields are only ever added.
Documented in README.md ("Status JSON").
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vipkeeper import __version__
from vipkeeper.checks import Tracker
from vipkeeper.config.model import VrrpInstance
from vipkeeper.core.params import IPAddress
from vipkeeper.core.router import VrrpRouter
from vipkeeper.core.tracking import Tracked

SCHEMA = 1


@dataclass(frozen=True, slots=True)
class InstanceView:
    """One instance as the daemon runs it: the router and what the shell knows beside it."""

    cfg: VrrpInstance
    router: VrrpRouter
    source: IPAddress
    destinations: tuple[IPAddress, ...]
    vips_held: bool
    garps_sent: int
    tracked: Sequence[tuple[Tracked, Tracker]]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the status shows, taken at one instant."""

    config_path: str
    uptime_s: float
    now_us: int
    now_mono: float
    instances: Sequence[InstanceView]
    unknown_vrid: int
    decode_errors: dict[str, int]
    received: int
    recv_errors: int
    ip_errors: dict[str, int] = field(default_factory=dict)


def summary(states: Sequence[str]) -> str:
    """``1 BACKUP, 2 MASTER``: the systemd STATUS= line."""
    counts: dict[str, int] = {}
    for s in states:
        counts[s] = counts.get(s, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no instances"


def tracker_status(t: Tracked, tr: Tracker, now_mono: float) -> dict[str, Any]:
    """One tracker of one instance: how the instance weighs it, and what it says of itself."""
    d = tr.describe(now_mono)
    return {"name": t.name, "kind": d.pop("kind"), "weight": t.weight, "reverse": t.reverse, **d}


def instance_status(v: InstanceView, now_us: int, now_mono: float) -> dict[str, Any]:
    r = v.router
    c = r.counters
    # The age of the current master's last advert: none on the master itself, even when it
    # heard adverts while it was a backup (README "Status JSON").
    last = None if r.state.value == "MASTER" else r.last_advert_us
    return {
        "name": v.cfg.name,
        "state": str(r.state),
        "reason": r.reason,
        "vrid": v.cfg.vrid,
        "interface": v.cfg.interface,
        "family": f"ipv{v.cfg.family}",
        "version": v.cfg.version,
        "priority": r.base_priority,
        "effective_priority": r.effective_priority,
        "advert_int_s": v.cfg.advert_int_cs / 100,
        "source": str(v.source),
        "destinations": [str(d) for d in v.destinations],
        "master": {
            "address": None if r.master_addr is None else str(r.master_addr),
            "priority": r.master_priority,
            "last_advert_age_s": None if last is None else round((now_us - last) / 1e6, 3),
            "is_self": r.state.value == "MASTER",
        },
        "vips": [str(a.address) for a in v.cfg.vips + v.cfg.vips_excluded],
        "vips_held": v.vips_held,
        "faults": sorted(r.faults),
        "trackers": [tracker_status(t, tr, now_mono) for t, tr in v.tracked],
        "counters": {
            "adverts_sent": c.adverts_sent,
            "adverts_received": c.adverts_received,
            "priority_zero_sent": c.priority_zero_sent,
            "priority_zero_received": c.priority_zero_received,
            "transitions": c.transitions,
            "became_master": c.became_master,
            "released_master": c.released_master,
            "garp_sent": v.garps_sent,
            "drops": dict(sorted(c.drops.items())),
        },
    }


def daemon_status(snap: Snapshot) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "version": __version__,
        "pid": os.getpid(),
        "config": snap.config_path,
        "uptime_s": round(snap.uptime_s, 3),
        "summary": summary([str(v.router.state) for v in snap.instances]),
        "instances": [instance_status(v, snap.now_us, snap.now_mono) for v in snap.instances],
        # What the VRRP sockets got (``received``: handed to the node, each then counted once
        # as an advert received, a drop, a decode error or an unknown VRID) and what they refused.
        "packets": {
            "unknown_vrid": snap.unknown_vrid,
            "decode_errors": dict(sorted(snap.decode_errors.items())),
            "received": snap.received,
            "recv_errors": snap.recv_errors,
            "ip_errors": dict(sorted(snap.ip_errors.items())),
        },
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
        lines.append(
            f"{i['name']:<12} {i['state']:<7} {prio:>8} {i['vrid']:>4} {i['interface']:<8} {master:<26} "
            f"{vips:<24} {drops}"
        )
        for t in i["trackers"]:
            lat = f" {t['latency_s'] * 1000:.1f}ms" if "latency_s" in t else ""
            extra = "".join(f" {k}={t[k]}" for k in ("role", "timeline", "value") if k in t and t[k] is not None)
            if t["kind"] == "dcs":
                extra = "".join(
                    f" {k}={t[k]}"
                    for k in ("mode", "key", "holder", "lease_remaining_s", "last_ok_age_s", "etcd_errors")
                    if t.get(k) is not None
                )
            lines.append(
                f"  {t['kind']:<9} {t['name']:<20} {t['status']:<5} w={t['weight']:<4} "
                f"{t.get('reason', '')}{lat}{extra}"
            )
        if i["faults"]:
            lines.append(f"  fault: {', '.join(i['faults'])}")
    return "\n".join(lines)
