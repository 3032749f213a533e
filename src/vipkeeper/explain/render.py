"""The report as text (:func:`render_text`) and as JSON (:func:`to_json`, stable keys)."""

from __future__ import annotations

from typing import Any

from vipkeeper.config.model import NOWHERE, Location
from vipkeeper.explain.model import JSON_FORMAT_VERSION, Report, Router, Use
from vipkeeper.explain.traps import fmt_results


def _tracker_header(r: Router) -> str:
    per_host = {h: [v for v in r.trackers if v.host == h] for h in r.hosts}
    if all(len(vs) == 1 for vs in per_host.values()) and len(r.trackers) == len(r.hosts):
        return " / ".join(f"check {v.host}" if v.kind != "interface" else f"{v.name} {v.host}" for v in r.trackers)
    return " / ".join(v.id for v in r.trackers)


def _fmt_weight(u: Use) -> str:
    w = u.tracked.weight
    return ("weight 0 (FAULT)" if w == 0 else f"weight {w:+d}") + (" reverse" if u.tracked.reverse else "")


def _script_read(u: Use) -> list[str]:
    """Where the tracked script's text was read: the findings about it hold for that copy only."""
    s = u.var.script
    if s is None:
        return []
    how = {
        "this-host": f"on this machine, at its configured path; {u.var.host} is this host",
        "config-dir": f"beside {u.var.host}'s configuration",
        "script-dir": "from --script-dir",
    }.get(s.origin or "", "")
    return [f"      script read from {s.path}" + (f" ({how})" if how else "")]


def render_text(report: Report) -> str:
    out: list[str] = []
    if not report.routers:
        out.append("no vrrp_instance in the given configurations")
    for r in report.routers:
        vips = ", ".join(str(v.address.ip) for v in r.members[0].instance.vips) or "no VIP"
        out.append(f"{r.key_str}: {vips}")
        for m in r.members:
            i = m.instance
            src = f", primary IP {m.primary_ip}" if m.primary_ip else ""
            extra = ", nopreempt" if i.nopreempt else ""
            out.append(
                f"  {m.host}: {i.name} on {i.interface}, state {i.initial_state}, priority {i.priority}"
                f"{src}{extra} ({i.loc})"
            )
            for u in m.uses:
                out.append(f"    tracks {u.var.kind} {u.var.name}, {_fmt_weight(u)}")
                out.extend(_script_read(u))
            for u in m.group_faults:
                out.append(f"    sync group: {u.var.kind} {u.var.name} can put it in FAULT")
                out.extend(_script_read(u))
        out.append("")
        if r.table_skipped:
            out.append(f"  (no table: {r.table_skipped})")
        else:
            header = _tracker_header(r) if r.trackers else "(no trackers)"
            out.append(f"| {header} | holder | priority {' / '.join(r.hosts)} | note |")
            out.append("|---|---|---|---|")
            for row in r.rows:
                checks = fmt_results(r, row) if r.trackers else "-"
                prios = " / ".join("FAULT" if p is None else str(p) for p in row.priorities)
                out.append(f"| {checks} ({row.scenario}) | {row.holder or 'none'} | {prios} | {row.note} |")
        mine = [f for f in report.findings if f.router == r.key_str]
        if mine:
            out.append("")
            out.extend(str(f) for f in mine)
        out.append("")
    rest = [f for f in report.findings if f.router is None or f.router not in {r.key_str for r in report.routers}]
    if rest:
        out.extend(str(f) for f in rest)
        out.append("")
    counts = {s: sum(1 for f in report.findings if f.severity == s) for s in ("error", "warning", "info")}
    out.append(f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} note(s)")
    return "\n".join(out) + "\n"


def _loc_json(loc: Location | None) -> dict[str, Any]:
    if loc is None or loc == NOWHERE:
        return {"file": None, "line": None}
    return {"file": loc.file, "line": loc.line if loc.line > 0 else None}


def to_json(report: Report) -> dict[str, Any]:
    """A JSON-ready dict; its keys are stable (``format`` says which version)."""
    routers = []
    for r in report.routers:
        routers.append(
            {
                "key": r.key_str,
                "vrid": r.vrid,
                "family": r.family,
                "interface": r.interface,
                "vips": [str(v.address) for v in r.members[0].instance.vips],
                "check_kind": "primary" if r.primary_checks else "service",
                "preferred": r.preferred,
                "instances": [
                    {
                        "host": m.host,
                        "name": m.instance.name,
                        "interface": m.instance.interface,
                        "state": m.instance.initial_state,
                        "priority": m.instance.priority,
                        "primary_ip": str(m.primary_ip) if m.primary_ip else None,
                        "nopreempt": m.instance.nopreempt,
                        **_loc_json(m.instance.loc),
                        "trackers": [
                            {
                                "id": u.var.id,
                                "weight": u.tracked.weight,
                                "reverse": u.tracked.reverse,
                                "fault_only": False,
                            }
                            for u in m.uses
                        ]
                        + [
                            {"id": u.var.id, "weight": 0, "reverse": u.tracked.reverse, "fault_only": True}
                            for u in m.group_faults
                        ],
                    }
                    for m in r.members
                ],
                "trackers": [
                    {
                        "id": v.id,
                        "host": v.host,
                        "kind": v.kind,
                        "name": v.name,
                        "primary_check": v.primary_check,
                        **_loc_json(v.loc),
                        "script_read_from": v.script.path if v.script else None,
                        "script_origin": v.script.origin if v.script else None,
                    }
                    for v in r.trackers
                ],
                "table_skipped": r.table_skipped,
                "rows": [
                    {
                        "results": {v.id: v.value(ok) for v, ok in zip(r.trackers, row.results)},
                        "scenario": row.scenario,
                        "holder": row.holder,
                        "priorities": {h: p for h, p in zip(r.hosts, row.priorities)},
                        "fault": [h for h, p in zip(r.hosts, row.priorities) if p is None],
                        "healthy": list(row.healthy),
                        "tie": row.tie,
                        "verdict": row.verdict,
                        "note": row.note,
                    }
                    for row in r.rows
                ],
            }
        )
    return {
        "format": JSON_FORMAT_VERSION,
        "hosts": [{"label": label, "file": path} for label, path in report.hosts],
        "routers": routers,
        "findings": [
            {
                "severity": f.severity,
                "code": f.code,
                "host": f.host,
                "router": f.router,
                **_loc_json(f.loc),
                "message": f.message,
            }
            for f in report.findings
        ],
    }
