"""Handlers several block kinds share: ``weight N [reverse]``, ``notify*`` lines and the
``track_script``/``track_interface``/``track_file`` lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vipkeeper.config.keywords import Ctx, Draft, Handler, Kw, child_nodes
from vipkeeper.config.model import Location, Notify, TrackRef
from vipkeeper.config.tree import Node
from vipkeeper.config.values import BadValue, bool_option, command_of, whole_number


def weight_handler(lo: int, hi: int) -> Handler:
    """``weight N [reverse]``."""

    def handler(draft: Draft, node: Node, ctx: Ctx) -> None:
        draft.set("weight", whole_number(node.args[0], lo, hi, "weight"), node)
        if len(node.args) > 1:
            if node.args[1].value == "reverse":
                draft.set("weight_reverse", True, node)
            else:
                raise BadValue(node.args[1], f"unknown weight option '{node.args[1].value}' (expected 'reverse')")

    return handler


@dataclass(slots=True)
class PendingRef:
    """A track_* entry before its name is resolved."""

    ref: TrackRef
    reverse_given: bool
    seq: int


def track_refs_handler(key: str, lo: int, hi: int, clamp_254: bool) -> Handler:
    """``NAME [weight N [reverse|noreverse]]`` lines (keepalived vrrp_track.c / track_file.c)."""

    def handler(draft: Draft, node: Node, ctx: Ctx) -> None:
        refs: list[PendingRef] = draft.values.setdefault(key, [])
        for child in child_nodes(node):
            try:
                tok = child.line.tokens[0]
                if child.children is not None:
                    raise BadValue(tok, f"unexpected block after '{tok.value}'")
                if any(r.ref.name == tok.value for r in refs):
                    ctx.warning(tok, f"duplicate {key} '{tok.value}', ignored")
                    continue
                weight: int | None = None
                reverse = False
                reverse_given = False
                rest = child.args
                if rest:
                    if rest[0].value != "weight":
                        raise BadValue(rest[0], f"unknown {key} option '{rest[0].value}' (expected 'weight')")
                    if len(rest) < 2:
                        raise BadValue(rest[0], f"'weight' needs a value for {key} '{tok.value}'")
                    weight = whole_number(rest[1], lo, hi, "weight")
                    if clamp_254 and abs(weight) == 254:
                        ctx.warning(rest[1], f"weight {weight} is not allowed, using {253 if weight > 0 else -253}")
                        weight = 253 if weight > 0 else -253
                    if len(rest) > 2:
                        if rest[2].value not in ("reverse", "noreverse"):
                            raise BadValue(rest[2], f"unknown weight option '{rest[2].value}'")
                        reverse = rest[2].value == "reverse"
                        reverse_given = True
                    if len(rest) > 3:
                        ctx.warning(rest[3], f"unexpected '{rest[3].value}' in {key} entry, ignored")
                ref = TrackRef(tok.value, weight, reverse, Location(tok.file, tok.line))
                refs.append(PendingRef(ref, reverse_given, child.seq))
            except BadValue as bad:
                ctx.error(bad.at, bad.message)
                draft.failed.add(node.name)

    return handler


def notify_handler(key: str) -> Handler:
    def handler(draft: Draft, node: Node, ctx: Ctx) -> None:
        notify: dict[str, str] = draft.values.setdefault("notify", {})
        if key in notify:
            ctx.warning(node, f"{node.name} already set, ignored")
            return
        command, extra = command_of(node)
        if extra:
            ctx.warning(
                node, f"{node.name}: running the script as user '{extra[0]}' is not supported by vipkeeper, ignored"
            )
        notify[key] = command

    return handler


def notify_deleted_handler(draft: Draft, node: Node, ctx: Ctx) -> None:
    """``notify_deleted [SCRIPT [USER [GROUP]]]`` (keepalived vrrp_notify_deleted_handler)."""
    notify: dict[str, object] = draft.values.setdefault("notify", {})
    if "notify_deleted" in notify:
        ctx.warning(node, f"{node.name} already set, ignored")
        return
    notify["notify_deleted"] = True
    if node.args:
        command, extra = command_of(node)
        if extra:
            ctx.warning(
                node, f"{node.name}: running the script as user '{extra[0]}' is not supported by vipkeeper, ignored"
            )
        notify["deleted"] = command


def priority_changes_handler(draft: Draft, node: Node, ctx: Ctx) -> None:
    """``notify_priority_changes [BOOL]``."""
    draft.values.setdefault("notify", {})["priority_changes"] = bool_option(node)


def notify_of(draft: Draft) -> Notify:
    n: dict[str, Any] = draft.get("notify", {})
    return Notify(
        master=n.get("master"),
        backup=n.get("backup"),
        fault=n.get("fault"),
        stop=n.get("stop"),
        any=n.get("any"),
        master_rx_lower_pri=n.get("master_rx_lower_pri"),
        notify_deleted=bool(n.get("notify_deleted")),
        deleted=n.get("deleted"),
        priority_changes=n.get("priority_changes"),
    )


def garp_extra_if(key: str) -> Kw:
    """``garp_extra_if [all] SECONDS`` in an instance, ``vrrp_garp_extra_if`` in global_defs
    (keepalived vrrp_parser.c vrrp_garp_extra_if_handler, global_parser.c
    vrrp_vmac_garp_extra_if_handler; ``vmac_garp_intvl`` / ``vrrp_vmac_garp_intvl`` are their
    deprecated names).  Stores ``KEY_s`` and ``KEY_all``."""

    def handler(draft: Draft, node: Node, ctx: Ctx) -> None:
        if "vmac_garp_intvl" in node.name:
            new = "vrrp_garp_extra_if" if node.name.startswith("vrrp_") else "garp_extra_if"
            ctx.warning(node, f'Keyword "{node.name}" is deprecated - please use "{new}"')
        delay_s = None
        every = False
        for tok in node.args:
            if tok.value == "all":
                every = True
            else:
                delay_s = whole_number(tok, 0, 86400, node.name)
        if delay_s is None:
            raise BadValue(node.line, f"{node.name} specified without time")
        draft.set(f"{key}_s", delay_s, node)
        draft.set(f"{key}_all", every, node)

    return Kw(handler, 1, 2)
