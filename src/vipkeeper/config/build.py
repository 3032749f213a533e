"""Tree -> model: each top-level block into a draft through its keyword table, then the
completion of every block, the cross-references and the VRID conflicts, into a :class:`Config`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from vipkeeper.config.blocks.global_defs import GLOBAL_DEFS_KEYWORDS, complete_global_defs
from vipkeeper.config.blocks.static import STATIC_BLOCKS, static_block
from vipkeeper.config.blocks.track_file import TRACK_FILE_KEYWORDS, complete_track_file
from vipkeeper.config.blocks.vrrp_dcs import VRRP_DCS_KEYWORDS, complete_dcs
from vipkeeper.config.blocks.vrrp_instance import VRRP_INSTANCE_KEYWORDS
from vipkeeper.config.blocks.vrrp_instance_completion import InstanceCompletion
from vipkeeper.config.blocks.vrrp_pgsql import VRRP_PGSQL_KEYWORDS, complete_pgsql
from vipkeeper.config.blocks.vrrp_script import VRRP_SCRIPT_KEYWORDS, complete_script, drop_scripts_without_user
from vipkeeper.config.blocks.vrrp_sync_group import VRRP_SYNC_GROUP_KEYWORDS, complete_sync_group, member_weights
from vipkeeper.config.blocks.vrrp_track_process import VRRP_TRACK_PROCESS_KEYWORDS, complete_track_process
from vipkeeper.config.keepalived_keywords import (
    GLOBAL_DEFS_IGNORED,
    TOP_LEVEL_REFUSED,
    TOP_LEVEL_UNSUPPORTED,
    VRRP_INSTANCE_IGNORED,
    VRRP_SYNC_GROUP_IGNORED,
)
from vipkeeper.config.keywords import Ctx, Draft, Kw, dispatch
from vipkeeper.config.lexer import Diagnostic
from vipkeeper.config.model import (
    Config,
    VrrpDcs,
    VrrpInstance,
    VrrpPgsql,
    VrrpScript,
    VrrpSyncGroup,
    VrrpTrackFile,
    VrrpTrackProcess,
)
from vipkeeper.config.references import Trackables
from vipkeeper.config.tree import Node, where_of


class _Parse:
    """One configuration being parsed: the drafts of every block, in order."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.global_draft = Draft("global_defs", "", None)
        self.static_draft = Draft("static", "", None)  # static_ipaddress / _routes / _rules
        self.scripts: dict[str, Draft] = {}
        self.pgsql: dict[str, Draft] = {}
        self.dcs: dict[str, Draft] = {}
        self.track_files: dict[str, Draft] = {}
        self.track_processes: dict[str, Draft] = {}
        self.instances: dict[str, Draft] = {}
        self.sync_groups: dict[str, Draft] = {}
        self.broken: set[tuple[str, str]] = set()  # (kind, name) defined but unusable

    def named(
        self,
        kind: str,
        registry: dict[str, Draft],
        node: Node,
        table: Mapping[str, Kw],
        unsupported: frozenset[str] = frozenset(),
    ) -> Draft | None:
        """A ``KIND NAME { ... }`` block: parse it into a new draft in ``registry``."""
        ctx = self.ctx
        if node.children is None:
            ctx.error(node, f"'{kind}' needs a '{{ ... }}' block")
            return None
        if len(node.args) != 1:
            ctx.error(node, f"'{kind}' needs exactly one name: '{kind} NAME {{ ... }}'")
            return None
        name = node.args[0].value
        if name in registry:
            first = registry[name].loc
            where = where_of(first.file, first.line, node.line.file)
            ctx.error(node, f"{kind} '{name}' is already defined at {where}; this one is ignored")
            return None
        draft = Draft(kind, name, node)
        dispatch(ctx, node.children, table, draft, kind, unsupported)
        registry[name] = draft
        return draft

    def top(self, nodes: list[Node]) -> None:
        for node in nodes:
            name = node.name
            if name == "global_defs":
                if node.children is None:
                    self.ctx.error(node, "'global_defs' needs a '{ ... }' block")
                    continue
                dispatch(
                    self.ctx, node.children, GLOBAL_DEFS_KEYWORDS, self.global_draft, "global_defs", GLOBAL_DEFS_IGNORED
                )
            elif name == "vrrp_script":
                self.named(name, self.scripts, node, VRRP_SCRIPT_KEYWORDS)
            elif name == "vrrp_pgsql":
                self.named(name, self.pgsql, node, VRRP_PGSQL_KEYWORDS)
            elif name == "vrrp_dcs":
                self.named(name, self.dcs, node, VRRP_DCS_KEYWORDS)
            elif name in ("track_file", "vrrp_track_file"):
                # 'vrrp_track_file' is keepalived's deprecated synonym of 'track_file'
                self.named("track_file", self.track_files, node, TRACK_FILE_KEYWORDS)
            elif name == "vrrp_track_process":
                self.named(name, self.track_processes, node, VRRP_TRACK_PROCESS_KEYWORDS)
            elif name == "vrrp_instance":
                self.named(name, self.instances, node, VRRP_INSTANCE_KEYWORDS, VRRP_INSTANCE_IGNORED)
            elif name == "vrrp_sync_group":
                self.named(name, self.sync_groups, node, VRRP_SYNC_GROUP_KEYWORDS, VRRP_SYNC_GROUP_IGNORED)
            elif name in STATIC_BLOCKS:
                static_block(self.static_draft, node, self.ctx)
            elif name in TOP_LEVEL_REFUSED:
                self.ctx.error(node, f"'{name}' is not supported by vipkeeper: {TOP_LEVEL_REFUSED[name]}")
            elif name in TOP_LEVEL_UNSUPPORTED:
                self.ctx.warning(node, f"'{name}' is not supported by vipkeeper, ignored")
            else:
                self.ctx.warning(node, f"unknown keyword '{name}' at top level, ignored")


def _check_vrid_conflicts(instances: list[VrrpInstance], ctx: Ctx) -> set[str]:
    """Two instances with one VRID on one interface and family conflict (keepalived
    ``check_vrid_conflicts``); unicast and multicast are separate VRID spaces."""
    bad: set[str] = set()
    seen: dict[tuple[str, int, int, bool], VrrpInstance] = {}
    for inst in instances:
        key = (inst.interface, inst.family, inst.vrid, inst.unicast)
        other = seen.get(key)
        if other is None:
            seen[key] = inst
            continue
        if inst.unicast and (
            inst.unicast_src_ip != other.unicast_src_ip or not set(inst.unicast_peers) & set(other.unicast_peers)
        ):
            continue
        ctx.diagnostics.append(
            Diagnostic(
                "error",
                inst.loc.file,
                inst.loc.line,
                f"vrrp_instance {inst.name}: virtual_router_id {inst.vrid} on {inst.interface} is already used "
                f"by vrrp_instance {other.name} at {where_of(other.loc.file, other.loc.line, inst.loc.file)}",
            )
        )
        bad.add(inst.name)
    return bad


T = TypeVar("T")


def _complete_each(
    kind: str, drafts: dict[str, Draft], complete: Callable[[Draft, Ctx], T | None], p: _Parse, ctx: Ctx
) -> dict[str, T]:
    """Complete every draft of a kind; the ones that cannot be are remembered as broken (a
    reference to them is not reported again as undefined)."""
    out: dict[str, T] = {}
    for name, d in drafts.items():
        obj = complete(d, ctx)
        if obj is None:
            p.broken.add((kind, name))
        else:
            out[name] = obj
    return out


def _seq(draft: Draft) -> int:
    return draft.node.seq if draft.node is not None else -1


def build_config(path: str, tree: list[Node], ctx: Ctx) -> Config:
    """The configuration the top-level blocks of ``tree`` describe; problems go to ``ctx``."""
    p = _Parse(ctx)
    p.top(tree)
    g = complete_global_defs(p.global_draft)

    scripts: dict[str, VrrpScript] = _complete_each("vrrp_script", p.scripts, complete_script, p, ctx)
    removed = {("vrrp_script", n) for n in drop_scripts_without_user(scripts, p.scripts, g, p.global_draft, ctx)}
    for _kind, name in removed:
        del scripts[name]
    pgsql: dict[str, VrrpPgsql] = {}
    for name, d in p.pgsql.items():
        if name in p.scripts:
            first = p.scripts[name].loc
            where = where_of(first.file, first.line, d.loc.file)
            ctx.error(d.node, f"vrrp_pgsql '{name}' has the name of the vrrp_script at {where}")  # type: ignore[arg-type]
            p.broken.add(("vrrp_pgsql", name))
            continue
        c = complete_pgsql(d, ctx)
        if c is None:
            p.broken.add(("vrrp_pgsql", name))
        else:
            pgsql[name] = c
    dcs: dict[str, VrrpDcs] = {}
    for name, d in p.dcs.items():
        other = p.scripts.get(name) or p.pgsql.get(name)
        if other is not None:
            where = where_of(other.loc.file, other.loc.line, d.loc.file)
            ctx.error(d.node, f"vrrp_dcs '{name}' has the name of the {other.kind} at {where}")  # type: ignore[arg-type]
            p.broken.add(("vrrp_dcs", name))
            continue
        k = complete_dcs(d, ctx)
        if k is None:
            p.broken.add(("vrrp_dcs", name))
        else:
            dcs[name] = k
    track_files: dict[str, VrrpTrackFile] = _complete_each("track_file", p.track_files, complete_track_file, p, ctx)
    track_processes: dict[str, VrrpTrackProcess] = _complete_each(
        "vrrp_track_process", p.track_processes, complete_track_process, p, ctx
    )

    trackables = Trackables(
        scripts={
            **{n: (s.weight_reverse, _seq(p.scripts[n])) for n, s in scripts.items()},
            **{n: (c.weight_reverse, _seq(p.pgsql[n])) for n, c in pgsql.items()},
            **{n: (k.weight_reverse, _seq(p.dcs[n])) for n, k in dcs.items()},
        },
        files={n: (f.weight_reverse, _seq(p.track_files[n])) for n, f in track_files.items()},
        processes={n: (tp.weight_reverse, _seq(p.track_processes[n])) for n, tp in track_processes.items()},
        broken=p.broken,
        removed=removed,
        weights={
            **{("track_script", n): s.weight for n, s in scripts.items()},
            **{("track_script", n): c.weight for n, c in pgsql.items()},
            **{("track_script", n): k.weight for n, k in dcs.items()},
            **{("track_file", n): f.weight for n, f in track_files.items()},
            **{("track_process", n): tp.weight for n, tp in track_processes.items()},
        },
    )

    completed: list[VrrpInstance] = []
    for d in p.instances.values():
        inst = InstanceCompletion(d, g, p.global_draft, trackables, ctx).run()
        if inst is not None:
            completed.append(inst)
    conflicting = _check_vrid_conflicts(completed, ctx)
    instances = [i for i in completed if i.name not in conflicting]
    by_name = {i.name: i for i in instances}

    owner_of: dict[str, str] = {}
    groups: list[VrrpSyncGroup] = []
    for d in p.sync_groups.values():
        sg = complete_sync_group(d, by_name, p.instances, owner_of, trackables, ctx)
        if sg is not None:
            groups.append(sg)
    instances = member_weights(groups, instances, trackables, ctx)

    return Config(
        path=path,
        global_defs=g,
        scripts=scripts,
        pgsql_checks=pgsql,
        dcs_checks=dcs,
        track_files=track_files,
        track_processes=track_processes,
        instances=tuple(instances),
        sync_groups=tuple(groups),
        static_addresses=tuple(p.static_draft.get("static_addresses", ())),
        static_routes=tuple(p.static_draft.get("static_routes", ())),
        static_rules=tuple(p.static_draft.get("static_rules", ())),
    )
