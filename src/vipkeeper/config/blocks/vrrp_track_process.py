"""``vrrp_track_process NAME { ... }``: its keyword table and completion into
:class:`VrrpTrackProcess`.

Facts from keepalived 2.2.7 (``keepalived/vrrp/vrrp_parser.c`` vrrp_tprocess_* handlers,
``vrrp_data.c`` alloc_vrrp_process, ``keepalived.conf(5)`` "VRRP track processes"):

- ``process PATH [PARAM ...]``: parameters imply ``param_match`` exact (unless given) and
  ``full_command``; a second ``process`` is refused;
- ``param_match`` bare is exact, else ``initial`` or ``partial``; each implies full_command;
- ``weight -254..254 [reverse]`` (default 0, although the man page says 1);
- ``quorum 1..65535`` (default 1) must not exceed ``quorum_max``; ``quorum_max 0..65535``
  (default unlimited) must not be below ``quorum``, and 0 sets quorum to 0 (OK only while no
  process runs);
- ``delay`` sets both ``fork_delay`` and ``terminate_delay``: decimal seconds, 0.000001..3600;
- a block without ``process`` is dropped ("process name not specified").
"""

from __future__ import annotations

from vipkeeper.config.blocks.shared import weight_handler
from vipkeeper.config.constants import US_PER_S
from vipkeeper.config.keywords import Ctx, Draft, Handler, Kw, flag
from vipkeeper.config.model import VrrpTrackProcess
from vipkeeper.config.tree import Node
from vipkeeper.config.values import BadValue, decimal_units, whole_number

QUORUM_LIMIT = 65535
DELAY_MAX_US = 3600 * US_PER_S
UNLIMITED = 2**32 - 1  # keepalived's UINT_MAX: no quorum_max


def _process(draft: Draft, node: Node, ctx: Ctx) -> None:
    if draft.has("process"):
        raise BadValue(
            node.args[0], f"process already set for track process {draft.name}; '{node.args[0].value}' ignored"
        )
    draft.set("process", node.args[0].value, node)
    params = tuple(t.value for t in node.args[1:])
    if params:
        draft.set("params", params, node)
        draft.values.setdefault("param_match", "exact")
        draft.set("full_command", True, node)


def _param_match(draft: Draft, node: Node, ctx: Ctx) -> None:
    word = node.args[0].value if node.args else "exact"
    if word not in ("exact", "initial", "partial") or (node.args and word == "exact"):
        raise BadValue(node.args[0], f"invalid param_match type '{word}' (expected 'initial' or 'partial')")
    draft.set("param_match", word, node)
    draft.set("full_command", True, node)


def _weight(draft: Draft, node: Node, ctx: Ctx) -> None:
    if draft.get("weight"):
        raise BadValue(
            node.args[0], f"weight already set for track process {draft.name}; '{node.args[0].value}' ignored"
        )
    weight_handler(-254, 254)(draft, node, ctx)


def _quorum(draft: Draft, node: Node, ctx: Ctx) -> None:
    quorum = whole_number(node.args[0], 1, QUORUM_LIMIT, "quorum")
    if quorum > draft.get("quorum_max", UNLIMITED):
        raise BadValue(node.args[0], f"quorum {quorum} is greater than quorum_max; ignored")
    draft.set("quorum", quorum, node)


def _quorum_max(draft: Draft, node: Node, ctx: Ctx) -> None:
    quorum_max = whole_number(node.args[0], 0, QUORUM_LIMIT, "quorum_max")
    quorum = draft.get("quorum", 1)
    if (quorum_max or quorum > 1) and quorum_max < quorum:
        raise BadValue(node.args[0], f"quorum_max {quorum_max} is less than quorum {quorum}; ignored")
    draft.set("quorum_max", quorum_max, node)
    if quorum_max == 0:
        draft.values["quorum"] = 0  # keepalived: OK only while no such process runs


def _delay(*keys: str) -> Handler:
    def handler(draft: Draft, node: Node, ctx: Ctx) -> None:
        delay_us = decimal_units(node.args[0], 6, 1, DELAY_MAX_US, node.name)
        for key in keys:
            draft.set(key, delay_us, node)

    return handler


VRRP_TRACK_PROCESS_KEYWORDS: dict[str, Kw] = {
    "process": Kw(_process, 1),
    "param_match": Kw(_param_match, 0, 1),
    "weight": Kw(_weight, 1, 2),
    "quorum": Kw(_quorum, 1, 1),
    "quorum_max": Kw(_quorum_max, 1, 1),
    "delay": Kw(_delay("fork_delay_us", "terminate_delay_us"), 1, 1),
    "fork_delay": Kw(_delay("fork_delay_us"), 1, 1),
    "terminate_delay": Kw(_delay("terminate_delay_us"), 1, 1),
    "full_command": flag("full_command"),
}


def complete_track_process(draft: Draft, ctx: Ctx) -> VrrpTrackProcess | None:
    v = draft.values
    if "process" not in v:
        if "process" not in draft.failed:
            node = draft.node
            assert node is not None
            # keepalived reports it at the block's end (vrrp_tprocess_end_handler)
            ctx.error(node.close or node, f"track process '{draft.name}': process name not specified")
        return None
    process: str = v["process"]
    full_command = bool(v.get("full_command", False))
    if not full_command and len(process.encode()) > 15:
        # /proc/PID/comm holds at most 15 bytes (TASK_COMM_LEN - 1): keepalived compares it
        # whole, so such a name never matches.
        ctx.warning(
            draft.nodes["process"],
            f"track process '{draft.name}': '{process}' is longer than a process name can be "
            "(15 characters) and will never match; add 'full_command'",
        )
    return VrrpTrackProcess(
        name=draft.name,
        process=process,
        params=v.get("params", ()),
        param_match=v.get("param_match", "none"),
        full_command=full_command,
        weight=v.get("weight", 0),
        weight_reverse=v.get("weight_reverse", False),
        quorum=v.get("quorum", 1),
        quorum_max=v.get("quorum_max", UNLIMITED),
        fork_delay_us=v.get("fork_delay_us", 0),
        terminate_delay_us=v.get("terminate_delay_us", 0),
        loc=draft.loc,
    )
