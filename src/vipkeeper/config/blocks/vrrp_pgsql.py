"""``vrrp_pgsql NAME { ... }`` (a vipkeeper extension): its keyword table and completion
into :class:`VrrpPgsql`."""

from __future__ import annotations

from vipkeeper.config.blocks.shared import weight_handler
from vipkeeper.config.constants import INT_MAX, UINT_MAX, US_PER_S
from vipkeeper.config.keywords import Ctx, Draft, Kw, integer, store, value
from vipkeeper.config.model import VrrpPgsql
from vipkeeper.config.tree import Node
from vipkeeper.config.values import decimal_units, words_joined


def _positive_seconds(node: Node) -> float:
    us = decimal_units(node.args[0], 6, 1, UINT_MAX, node.name)
    return us / US_PER_S


def _peer_conninfo(draft: Draft, node: Node, ctx: Ctx) -> None:
    draft.append("peer_conninfo", words_joined(node))
    draft.nodes.setdefault("peer_conninfo", node)


VRRP_PGSQL_KEYWORDS: dict[str, Kw] = {
    "conninfo": Kw(store("conninfo", words_joined), 1),
    "interval": value("interval_s", _positive_seconds),
    "timeout": value("timeout_s", _positive_seconds),
    "rise": integer("rise", 1, INT_MAX),
    "fall": integer("fall", 1, INT_MAX),
    "weight": Kw(weight_handler(-253, 253), 1, 2),
    "peer_conninfo": Kw(_peer_conninfo, 1),
    "data_directory": value("data_directory"),
}


def complete_pgsql(draft: Draft, ctx: Ctx) -> VrrpPgsql | None:
    v = draft.values
    if "conninfo" not in v:
        if "conninfo" not in draft.failed:
            ctx.error(draft.node, f"vrrp_pgsql '{draft.name}' has no 'conninfo'")  # type: ignore[arg-type]
        return None
    return VrrpPgsql(
        name=draft.name,
        conninfo=v["conninfo"],
        interval_s=v.get("interval_s", 1.0),
        timeout_s=v.get("timeout_s", 1.0),
        rise=v.get("rise", 1),
        fall=v.get("fall", 1),
        weight=v.get("weight", 0),
        weight_reverse=v.get("weight_reverse", False),
        peer_conninfo=tuple(v.get("peer_conninfo", ())),
        data_directory=v.get("data_directory"),
        loc=draft.loc,
    )
