"""``vrrp_script NAME { ... }``: its keyword table and completion into :class:`VrrpScript`."""

from __future__ import annotations

from vipkeeper.config.blocks.shared import weight_handler
from vipkeeper.config.constants import INT_MAX, UINT_MAX, US_PER_S
from vipkeeper.config.keywords import Ctx, Draft, Handler, Kw, flag, integer
from vipkeeper.config.model import VrrpScript
from vipkeeper.config.tree import Node
from vipkeeper.config.values import command_of, decimal_units


def _script_command(draft: Draft, node: Node, ctx: Ctx) -> None:
    command, extra = command_of(node)
    if extra:
        # keepalived 2.2.7 (vrrp_vscript_script_handler -> set_script_params_array) runs
        # only the word after 'script'; the rest of the line is dropped.
        ctx.warning(
            node,
            f"'{' '.join(extra)}' after the script is ignored (as keepalived does); "
            "quote the whole command to pass arguments",
        )
    draft.set("script", command, node)


def _script_interval(key: str) -> Handler:
    """vrrp_script interval/timeout: seconds with up to 3 decimal places (keepalived >= 2.3.2
    read_decimal_unsigned_strvec; 2.2.7 took whole seconds); 0 becomes 1."""

    def handler(draft: Draft, node: Node, ctx: Ctx) -> None:
        ms = decimal_units(node.args[0], 3, 0, (UINT_MAX // US_PER_S) * 1000, node.name)
        if ms == 0:
            ctx.warning(node.args[0], f"vrrp_script {node.name} must be greater than 0, using 1")
            ms = 1000
        draft.set(key, ms / 1000, node)

    return handler


def _user_group(draft: Draft, node: Node, ctx: Ctx) -> None:
    draft.set("user", node.args[0].value, node)
    draft.set("group", node.args[1].value if len(node.args) > 1 else None, node)


VRRP_SCRIPT_KEYWORDS: dict[str, Kw] = {
    "script": Kw(_script_command, 1),
    "interval": Kw(_script_interval("interval_s"), 1, 1),
    "timeout": Kw(_script_interval("timeout_s"), 1, 1),
    "weight": Kw(weight_handler(-253, 253), 1, 2),
    "rise": integer("rise", 1, INT_MAX),
    "fall": integer("fall", 1, INT_MAX),
    "user": Kw(_user_group, 1, 2),
    "init_fail": flag("init_fail"),
}


def complete_script(draft: Draft, ctx: Ctx) -> VrrpScript | None:
    v = draft.values
    if "script" not in v:
        if "script" not in draft.failed:
            ctx.error(draft.node, f"vrrp_script '{draft.name}' has no 'script'")  # type: ignore[arg-type]
        return None
    return VrrpScript(
        name=draft.name,
        script=v["script"],
        interval_s=v.get("interval_s", 1.0),
        timeout_s=v.get("timeout_s"),
        weight=v.get("weight", 0),
        weight_reverse=v.get("weight_reverse", False),
        rise=v.get("rise", 1),
        fall=v.get("fall", 1),
        user=v.get("user"),
        group=v.get("group"),
        init_fail=v.get("init_fail", False),
        loc=draft.loc,
    )
