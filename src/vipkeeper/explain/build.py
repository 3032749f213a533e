"""Configurations -> report: the instances of all hosts grouped into virtual routers (one
VRID and family), their trackers, then the table of each router and the findings."""

from __future__ import annotations

import re
from collections.abc import Sequence

from vipkeeper.config.model import Location, TrackRef, VrrpInstance
from vipkeeper.core.tracking import Tracked
from vipkeeper.explain.election import build_table
from vipkeeper.explain.model import (
    SEVERITY_RANK,
    CheckKind,
    Finding,
    HostInput,
    Member,
    Report,
    Router,
    TrackerKind,
    TrackerVar,
    Use,
)
from vipkeeper.explain.scripts import script_path
from vipkeeper.explain.traps import diagnostic_traps, router_traps, script_traps, vrid_mismatches

_PRIMARY_WORDS = re.compile(
    r"pg_isready|pg_is_in_recovery|standby\.signal|recovery\.conf|repmgr|patroni|pgsql|postgres|psql",
    re.IGNORECASE,
)


class _Builder:
    def __init__(self, hosts: Sequence[HostInput], check_kind: CheckKind) -> None:
        self.hosts = hosts
        self.check_kind = check_kind
        self.vars: dict[tuple[str, str, str], TrackerVar] = {}

    def var(self, h: HostInput, kind: TrackerKind, name: str, loc: Location) -> TrackerVar:
        key = (h.label, kind, name)
        v = self.vars.get(key)
        if v is None:
            primary = False
            text = None
            if kind in ("pgsql", "dcs"):  # vrrp_dcs: etcd names one host (at most one passes)
                primary = True
            elif kind == "script":
                s = h.config.scripts[name]
                text = h.scripts.get(script_path(s.script) or "")
                primary = bool(_PRIMARY_WORDS.search(s.script) or (text and _PRIMARY_WORDS.search(text.text)))
            if self.check_kind != "auto" and kind != "interface":
                primary = self.check_kind == "primary"
            vid = f"{h.label}:{name}"
            if any(o.id == vid for o in self.vars.values()):  # a script and an interface of one name
                vid = f"{h.label}:{kind}:{name}"
            v = TrackerVar(vid, h.label, kind, name, loc, primary, text)
            self.vars[key] = v
        return v

    def uses_of(
        self,
        h: HostInput,
        scripts: Sequence[TrackRef],
        files: Sequence[TrackRef],
        interfaces: Sequence[TrackRef],
        force_weight_0: bool = False,
        processes: Sequence[TrackRef] = (),
    ) -> list[Use]:
        """Resolve track_* entries as the daemon does (an entry's weight overrides the object's)."""
        cfg = h.config
        out: list[Use] = []
        for ref in scripts:
            if ref.name in cfg.scripts:
                obj_s = cfg.scripts[ref.name]
                kind: TrackerKind = "script"
                weight, reverse, loc = obj_s.weight, obj_s.weight_reverse, obj_s.loc
            elif ref.name in cfg.pgsql_checks:
                obj_p = cfg.pgsql_checks[ref.name]
                kind = "pgsql"
                weight, reverse, loc = obj_p.weight, obj_p.weight_reverse, obj_p.loc
            elif ref.name in cfg.dcs_checks:
                obj_d = cfg.dcs_checks[ref.name]
                kind = "dcs"
                weight, reverse, loc = obj_d.weight, obj_d.weight_reverse, obj_d.loc
            else:  # the parser reported it
                continue
            out.append(self._use(h, kind, ref, weight, reverse, loc, force_weight_0))
        for ref in files:
            if ref.name in cfg.track_files:
                obj_f = cfg.track_files[ref.name]
                out.append(self._use(h, "file", ref, obj_f.weight, obj_f.weight_reverse, obj_f.loc, force_weight_0))
        for ref in interfaces:
            out.append(self._use(h, "interface", ref, 0, False, ref.loc, force_weight_0))
        for ref in processes:
            if ref.name in cfg.track_processes:
                obj_t = cfg.track_processes[ref.name]
                out.append(self._use(h, "process", ref, obj_t.weight, obj_t.weight_reverse, obj_t.loc, force_weight_0))
        return out

    def _use(
        self,
        h: HostInput,
        kind: TrackerKind,
        ref: TrackRef,
        weight: int,
        reverse: bool,
        loc: Location,
        force_weight_0: bool,
    ) -> Use:
        if ref.weight is not None:
            weight, reverse = ref.weight, ref.weight_reverse
        if force_weight_0:  # keepalived ignores weights of sync group trackers
            weight = 0
        return Use(self.var(h, kind, ref.name, loc), Tracked(ref.name, weight, reverse), ref.loc)

    def member(self, h: HostInput, inst: VrrpInstance) -> Member:
        own = self.uses_of(
            h, inst.track_scripts, inst.track_files, inst.track_interfaces, processes=inst.track_processes
        )
        group: list[Use] = []
        for sg in h.config.sync_groups:
            if inst.name not in sg.members:
                continue
            group += self.uses_of(
                h, sg.track_scripts, sg.track_files, sg.track_interfaces, True, processes=sg.track_processes
            )
            for sibling in h.config.instances:
                if sibling.name != inst.name and sibling.name in sg.members:
                    sib = self.uses_of(
                        h,
                        sibling.track_scripts,
                        sibling.track_files,
                        sibling.track_interfaces,
                        processes=sibling.track_processes,
                    )
                    group += [u for u in sib if u.tracked.weight == 0]
        return Member(h.label, inst, tuple(own), tuple(group))

    def routers(self, findings: list[Finding]) -> list[Router]:
        by_key: dict[tuple[int, int], list[tuple[HostInput, VrrpInstance]]] = {}
        for h in self.hosts:
            for inst in h.config.instances:
                by_key.setdefault((inst.vrid, inst.family), []).append((h, inst))
        routers: list[Router] = []
        for (vrid, family), items in by_key.items():
            labels = [h.label for h, _ in items]
            if len(set(labels)) == len(labels):
                routers.append(Router(vrid, family, None, [self.member(h, i) for h, i in items]))
                continue
            # One host runs this VRID on several interfaces (separate LANs): one router each.
            by_if: dict[str, list[tuple[HostInput, VrrpInstance]]] = {}
            for h, inst in items:
                by_if.setdefault(inst.interface, []).append((h, inst))
            for ifname, sub in by_if.items():
                r = Router(vrid, family, ifname, [self.member(h, i) for h, i in sub])
                routers.append(r)
            findings.append(
                Finding(
                    "info",
                    "vrid-on-several-interfaces",
                    None,
                    f"VRID {vrid} is used on several interfaces ({', '.join(by_if)}); "
                    "each interface is treated as its own virtual router",
                )
            )
        return routers


def explain(hosts: Sequence[HostInput], check_kind: CheckKind = "auto") -> Report:
    """Group every host's instances into virtual routers, tabulate, and find the traps."""
    findings: list[Finding] = []
    builder = _Builder(hosts, check_kind)
    routers = builder.routers(findings)
    for r in routers:
        build_table(r)
    router_findings: list[Finding] = []
    for r in routers:
        router_traps(r, router_findings)
    host_findings: list[Finding] = []
    vrid_mismatches(hosts, routers, host_findings)
    for h in hosts:
        diagnostic_traps(h, routers, host_findings)
        used = {v.name for v in builder.vars.values() if v.host == h.label and v.kind == "script"}
        script_traps(h, used, host_findings)
    findings += router_findings + host_findings
    order = {h.label: n for n, h in enumerate(hosts)}
    findings.sort(key=lambda f: (SEVERITY_RANK[f.severity], order.get(f.host or "", -1)))
    return Report([(h.label, h.config.path) for h in hosts], routers, findings)
