"""``vrrp_script NAME { ... }``: its keyword table and completion into :class:`VrrpScript`."""

from __future__ import annotations

import grp
import pwd

from vipkeeper.config.blocks.shared import weight_handler
from vipkeeper.config.constants import INT_MAX, UINT_MAX, US_PER_S
from vipkeeper.config.keywords import Ctx, Draft, Handler, Kw, flag, integer
from vipkeeper.config.model import GlobalDefs, VrrpScript
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


def account_exists(user: str, group: str | None = None) -> bool:
    """Whether the account (and group) exist on this host, as keepalived checks while parsing."""
    try:
        pwd.getpwnam(user)
        if group is not None:
            grp.getgrnam(group)
    except KeyError:
        return False
    return True


DEFAULT_SCRIPT_USER = "keepalived_script"


def drop_scripts_without_user(
    scripts: dict[str, VrrpScript], drafts: dict[str, Draft], g: GlobalDefs, gd: Draft, ctx: Ctx
) -> set[str]:
    """Remove the scripts keepalived 2.2.7 removes for want of a user to run them as; return
    their names.  keepalived (vrrp_parser.c vrrp_vscript_user_handler / vrrp_vscript_end_handler,
    lib/notify.c get_default_script_user, core/global_parser.c script_user_handler):

    - a script's own ``user`` (and group) must exist, else it is removed;
    - a global ``script_user`` that does not exist removes every script without its own user;
    - without either, the ``keepalived_script`` account is used if it exists; else, with
      ``enable_script_security``, keepalived refuses root and removes the script (reported
      at the block's closing line), without it runs the script as root.

    Each is a defect (:meth:`Ctx.defect`): ``check`` fails as ``keepalived -t`` does, the
    daemon runs without the script, and what tracked it is told "not found, ignoring".
    """
    removed: set[str] = set()
    default_failed = False
    if g.script_user is not None and not account_exists(g.script_user, g.script_group):
        who = g.script_user + (f":{g.script_group}" if g.script_group else "")
        ctx.defect(
            gd.nodes["script_user"], f"script_user {who}: no such user or group (Error setting global script uid/gid)"
        )
        default_failed = True
    reported_default = False
    for name, sc in scripts.items():
        d = drafts[name]
        end = d.node.close if d.node is not None and d.node.close is not None else d.node
        assert end is not None
        if sc.user is not None:
            if not account_exists(sc.user, sc.group):
                who = sc.user + (f":{sc.group}" if sc.group else "")
                ctx.defect(d.nodes["user"], f"vrrp_script {name}: user {who}: no such user or group; script removed")
                removed.add(name)
            continue
        if (
            not default_failed
            and g.script_user is None
            and g.enable_script_security
            and not account_exists(DEFAULT_SCRIPT_USER)
        ):
            if not reported_default:
                ctx.defect(
                    end,
                    f"Unable to set default user {DEFAULT_SCRIPT_USER} for script: no script_user and no "
                    f"{DEFAULT_SCRIPT_USER} account, and enable_script_security refuses to run scripts as root",
                )
                reported_default = True
            default_failed = True
        if default_failed:
            ctx.defect(end, f"Unable to set default user for vrrp script {name}; script removed")
            removed.add(name)
    return removed
