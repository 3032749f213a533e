"""``vrrp_sync_group NAME { ... }``: its keyword table and completion into :class:`VrrpSyncGroup`."""

from __future__ import annotations

from dataclasses import replace

from vipkeeper.config.blocks.shared import notify_handler, notify_of, priority_changes_handler, track_refs_handler
from vipkeeper.config.constants import VRRP_PRIO_OWNER
from vipkeeper.config.keywords import Ctx, Draft, Kw, block, child_nodes, flag, refused
from vipkeeper.config.lexer import Token
from vipkeeper.config.model import TrackRef, VrrpInstance, VrrpSyncGroup
from vipkeeper.config.references import Trackables, expected, ignore_weights, interface_refs, resolve_refs
from vipkeeper.config.tree import Node


def _group_members(draft: Draft, node: Node, ctx: Ctx) -> None:
    if draft.has("members"):
        ctx.error(node, f"group list already given at line {draft.nodes['members'].line.line}; ignored")
        return
    members: list[Token] = []
    for child in child_nodes(node):
        for tok in child.line.tokens:  # keepalived read_value_block: any words on any line
            if any(m.value == tok.value for m in members):
                ctx.warning(tok, f"vrrp_instance '{tok.value}' listed twice in the group, ignored")
                continue
            members.append(tok)
    draft.set("members", members, node)


def _global_tracking(draft: Draft, node: Node, ctx: Ctx) -> None:
    """keepalived vrrp_gglobal_tracking_handler: deprecated, same as sync_group_tracking_weight."""
    ctx.warning(
        node,
        f"({draft.name}) global_tracking is deprecated. Use track_interface/script/file on the sync group "
        "(taken as sync_group_tracking_weight)",
    )
    draft.set("tracking_weight", True, node)


VRRP_SYNC_GROUP_KEYWORDS: dict[str, Kw] = {
    "group": block(_group_members),
    "track_bfd": refused("BFD is a protocol of its own (use track_script or track_interface)", takes_block=True),
    "notify": Kw(notify_handler("any"), 1),
    "notify_priority_changes": Kw(priority_changes_handler, 0, 1),
    "notify_master": Kw(notify_handler("master"), 1),
    "notify_backup": Kw(notify_handler("backup"), 1),
    "notify_fault": Kw(notify_handler("fault"), 1),
    "notify_stop": Kw(notify_handler("stop"), 1),
    "track_script": block(track_refs_handler("track_script", -254, 254, clamp_254=True)),
    "track_interface": block(track_refs_handler("track_interface", -254, 254, clamp_254=True)),
    "track_file": block(track_refs_handler("track_file", -254, 254, clamp_254=False)),
    "track_process": block(track_refs_handler("track_process", -254, 254, clamp_254=False)),
    "sync_group_tracking_weight": flag("tracking_weight"),
    "global_tracking": Kw(_global_tracking, 0, 0),
}


def _owner_member_weights(
    group: str, kind: str, what: str, refs: tuple[TrackRef, ...], t: Trackables, ctx: Ctx
) -> tuple[TrackRef, ...]:
    """A sync group with an address owner among its members tracks with weight 0 (keepalived
    vrrp.c: "Cannot have weighted track script '%s' with member having priority 255 - clearing
    weight"; files and processes: "- setting weight 0"): a failure then means FAULT."""
    out = []
    for ref in refs:
        if t.weight_of(kind, ref):
            ending = "clearing weight" if what == "script" else "setting weight 0"
            ctx.warning(
                Token(ref.name, ref.loc.file, ref.loc.line),
                f"({group}) Cannot have weighted track {what} '{ref.name}' with member having priority "
                f"{VRRP_PRIO_OWNER} - {ending}",
            )
            ref = replace(ref, weight=0)
        out.append(ref)
    return tuple(out)


def complete_sync_group(
    d: Draft,
    instances: dict[str, VrrpInstance],
    instance_drafts: dict[str, Draft],
    owner_of: dict[str, str],
    t: Trackables,
    ctx: Ctx,
) -> VrrpSyncGroup | None:
    node = d.node
    assert node is not None
    me = f"vrrp_sync_group {d.name}"
    members_tok: list[Token] = d.get("members", [])
    ok = True
    if not members_tok:
        ctx.error(node, f"{me} has no vrrp_instance ('group {{ ... }}')")
        return None
    members: list[str] = []
    for tok in members_tok:
        name = tok.value
        if name not in instance_drafts:
            ctx.error(tok, f"{me}: vrrp_instance '{name}' is not defined")
            ok = False
            continue
        if name in owner_of:
            ctx.error(tok, f"{me}: vrrp_instance '{name}' is already in vrrp_sync_group {owner_of[name]}")
            ok = False
            continue
        owner_of[name] = d.name
        members.append(name)
    if len(members_tok) == 1 and ok:
        ctx.warning(node, f"{me} has only one vrrp_instance; this probably isn't what you want")
    owners = {instances[m].priority == VRRP_PRIO_OWNER for m in members if m in instances}
    if len(owners) > 1:
        ctx.warning(node, f"{me} mixes address owners (priority 255) and non-owners; this won't work")
    track_scripts = resolve_refs("track_script", d.get("track_script", []), t, me, ctx)
    track_files = resolve_refs("track_file", d.get("track_file", []), t, me, ctx)
    track_processes = resolve_refs("track_process", d.get("track_process", []), t, me, ctx)
    if True in owners:
        track_scripts = _owner_member_weights(d.name, "track_script", "script", track_scripts, t, ctx)
        track_files = _owner_member_weights(d.name, "track_file", "file", track_files, t, ctx)
        track_processes = _owner_member_weights(d.name, "track_process", "process", track_processes, t, ctx)
    if (
        len(track_scripts) != expected("track_script", d.get("track_script", []), t)
        or len(track_files) != expected("track_file", d.get("track_file", []), t)
        or len(track_processes) != expected("track_process", d.get("track_process", []), t)
    ):
        ok = False
    if not ok:
        return None
    return VrrpSyncGroup(
        name=d.name,
        members=tuple(members),
        notify=notify_of(d),
        track_scripts=track_scripts,
        track_interfaces=interface_refs(d.get("track_interface", [])),
        track_files=track_files,
        track_processes=track_processes,
        tracking_weight=d.get("tracking_weight", False),
        loc=node.loc,
    )


def member_weights(
    groups: list[VrrpSyncGroup], instances: list[VrrpInstance], t: Trackables, ctx: Ctx
) -> list[VrrpInstance]:
    """The members of a sync group without ``sync_group_tracking_weight`` ignore the weights
    of their own trackers, as keepalived 2.2.7 (vrrp.c vrrp_complete_instance; see
    :func:`~vipkeeper.config.references.ignore_weights`)."""
    unweighted = {m for g in groups if not g.tracking_weight for m in g.members}
    out = []
    for inst in instances:
        if inst.name in unweighted:
            scripts, files, ifaces = ignore_weights(
                inst.name, "SYNC group", inst.track_scripts, inst.track_files, inst.track_interfaces, t, ctx
            )
            inst = replace(inst, track_scripts=scripts, track_files=files, track_interfaces=ifaces)
        out.append(inst)
    return out
