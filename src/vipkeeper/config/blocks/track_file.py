"""``track_file NAME { ... }`` (and its deprecated synonym ``vrrp_track_file``): its keyword
table and completion into :class:`VrrpTrackFile`."""

from __future__ import annotations

from vipkeeper.config.blocks.shared import weight_handler
from vipkeeper.config.constants import INT_MAX
from vipkeeper.config.keywords import Ctx, Draft, Kw, value
from vipkeeper.config.model import VrrpTrackFile
from vipkeeper.config.tree import Node
from vipkeeper.config.values import BadValue, whole_number


def _init_file(draft: Draft, node: Node, ctx: Ctx) -> None:
    """``init_file [VALUE] [overwrite]`` (keepalived trackers/track_file.c)."""
    draft.set("init_file", True, node)
    for tok in node.args:
        if tok.value == "overwrite":
            draft.set("init_overwrite", True, node)
        elif tok.value[:1].isdigit() or tok.value[:1] == "-":
            init_value = whole_number(tok, -(2**31), INT_MAX, "init_file value")
            if not -254 <= init_value <= 254:
                ctx.warning(tok, f"init_file value {init_value} is outside the sensible range [-254, 254]")
            draft.set("init_value", init_value, node)
        else:
            raise BadValue(tok, f"unknown init_file option '{tok.value}'")


TRACK_FILE_KEYWORDS: dict[str, Kw] = {
    "file": value("file"),
    "weight": Kw(weight_handler(-254, 254), 1, 2),
    "init_file": Kw(_init_file, 0, 2),
}


def complete_track_file(draft: Draft, ctx: Ctx) -> VrrpTrackFile | None:
    v = draft.values
    if "file" not in v:
        if "file" not in draft.failed:
            ctx.error(draft.node, f"track_file '{draft.name}' has no 'file'")  # type: ignore[arg-type]
        return None
    return VrrpTrackFile(
        name=draft.name,
        file=v["file"],
        weight=v.get("weight", 1),
        weight_reverse=v.get("weight_reverse", False),
        init_file=v.get("init_file", False),
        init_value=v.get("init_value", 0),
        init_overwrite=v.get("init_overwrite", False),
        loc=draft.loc,
    )
