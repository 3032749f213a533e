"""``global_defs { ... }``: its keyword table and the model's :class:`GlobalDefs`."""

from __future__ import annotations

from vipkeeper.config.blocks.shared import garp_extra_if
from vipkeeper.config.constants import INT_MAX, UINT_MAX, US_PER_S
from vipkeeper.config.keywords import (
    Ctx,
    Draft,
    Handler,
    Kw,
    flag,
    integer,
    invalid_is_ignored,
    repeat_count,
    seconds_us,
    switch,
    value,
)
from vipkeeper.config.model import GlobalDefs
from vipkeeper.config.tree import Node
from vipkeeper.config.values import BadValue, command_of, parse_ip


def _script_user(draft: Draft, node: Node, ctx: Ctx) -> None:
    draft.set("script_user", node.args[0].value, node)
    draft.set("script_group", node.args[1].value if len(node.args) > 1 else None, node)


def _mcast_group(version: int) -> Handler:
    def handler(draft: Draft, node: Node, ctx: Ctx) -> None:
        addr = parse_ip(node.args[0], node.name)
        if addr.version != version:
            raise BadValue(node.args[0], f"{node.name}: '{addr}' is not an IPv{version} address")
        if not addr.is_multicast:
            raise BadValue(node.args[0], f"{node.name}: '{addr}' is not a multicast address")
        if version == 6 and not str(addr).lower().startswith("ff02:"):
            ctx.warning(node.args[0], f"{node.name} '{addr}' should be a link-local multicast address (ff02::/16)")
        draft.set(node.name, addr, node)

    return handler


def _fifo(key: str) -> Handler:
    def handler(draft: Draft, node: Node, ctx: Ctx) -> None:
        if draft.has(key):
            ctx.warning(node, f"{node.name} already set at line {draft.nodes[key].line.line}, ignored")
            return
        if len(node.args) > 1:
            ctx.warning(node.args[1], f"{node.name}: a user/group for the fifo is not supported by vipkeeper, ignored")
        draft.set(key, node.args[0].value, node)

    return handler


def _fifo_script(key: str) -> Handler:
    def handler(draft: Draft, node: Node, ctx: Ctx) -> None:
        command, _extra = command_of(node)
        draft.set(key, command, node)

    return handler


GLOBAL_DEFS_KEYWORDS: dict[str, Kw] = {
    "router_id": value("router_id"),
    "script_user": Kw(_script_user, 1, 2),
    "enable_script_security": flag("enable_script_security"),
    "vrrp_version": integer("vrrp_version", 2, 3),
    "vrrp_garp_master_delay": integer("vrrp_garp_master_delay_s", 0, UINT_MAX // US_PER_S),
    "vrrp_garp_master_repeat": repeat_count("vrrp_garp_master_repeat"),
    "vrrp_garp_master_refresh": integer("vrrp_garp_master_refresh_s", 0, UINT_MAX),
    "vrrp_garp_master_refresh_repeat": repeat_count("vrrp_garp_master_refresh_repeat"),
    "vrrp_garp_lower_prio_delay": integer("vrrp_garp_lower_prio_delay_s", 0, UINT_MAX // US_PER_S),
    "vrrp_garp_lower_prio_repeat": integer("vrrp_garp_lower_prio_repeat", 0, INT_MAX),
    # keepalived global_parser.c: "vrrp_garp_interval '0' is invalid", and runs (the packaged
    # default keepalived.conf of several distributions says 0)
    "vrrp_garp_interval": invalid_is_ignored(seconds_us("vrrp_garp_interval_us", 1, UINT_MAX)),
    "vrrp_gna_interval": invalid_is_ignored(seconds_us("vrrp_gna_interval_us", 1, UINT_MAX)),
    "vrrp_min_garp": switch("_min_garp"),
    "vrrp_down_timer_adverts": integer("_down_timer_adverts", 1, 100),
    "vrrp_mcast_group4": Kw(_mcast_group(4), 1, 1),
    "vrrp_mcast_group6": Kw(_mcast_group(6), 1, 1),
    "notify_fifo": Kw(_fifo("notify_fifo"), 1, 3),
    "notify_fifo_script": Kw(_fifo_script("notify_fifo_script"), 1),
    "vrrp_notify_fifo": Kw(_fifo("vrrp_notify_fifo"), 1, 3),
    "vrrp_notify_fifo_script": Kw(_fifo_script("vrrp_notify_fifo_script"), 1),
    "vrrp_strict": flag("vrrp_strict"),
    "vrrp_notify_priority_changes": switch("vrrp_notify_priority_changes"),
    "vrrp_check_unicast_src": flag("vrrp_check_unicast_src"),
    "vrrp_skip_check_adv_addr": flag("vrrp_skip_check_adv_addr"),
    "vrrp_lower_prio_no_advert": switch("vrrp_lower_prio_no_advert"),
    "vrrp_higher_prio_send_advert": switch("vrrp_higher_prio_send_advert"),
    "vrrp_rt_priority": integer("vrrp_rt_priority", 1, 99),
    "vrrp_priority": integer("vrrp_priority", -20, 19),
    "vrrp_garp_extra_if": garp_extra_if("vrrp_garp_extra_if"),
    "vrrp_vmac_garp_intvl": garp_extra_if("vrrp_garp_extra_if"),
    # keepalived: the VRRP instances start after the longer of both (global_parser.c); 2.4's
    # vrrp_delay_after_boot counts from the system's boot (/proc/uptime, read at start)
    "vrrp_startup_delay": seconds_us("vrrp_startup_delay_us", 1000, UINT_MAX),
    "vrrp_delay_after_boot": seconds_us("vrrp_delay_after_boot_us", 1000, UINT_MAX),
    "v3_checksum_as_v2": switch("v3_checksum_as_v2"),  # keepalived 2.2.8: the instances' default
    "vrrp_owner_ignore_adverts": switch("vrrp_owner_ignore_adverts"),  # keepalived 2.3.3
    "vrrp_rlimit_rttime": integer("vrrp_rlimit_rttime_us", 1, 2**32 - 1),  # µs, keepalived get_rt_rlimit
    "vrrp_rlimit_rtime": integer("vrrp_rlimit_rttime_us", 1, 2**32 - 1),  # keepalived's deprecated spelling
    "metrics_listen": value("metrics_listen"),  # vipkeeper extension: HOST:PORT for /metrics
    "vmac_prefix": value("vmac_prefix"),
    "vmac_addr_prefix": value("vmac_addr_prefix"),
}


def complete_global_defs(draft: Draft) -> GlobalDefs:
    v = draft.values
    fields = {k: val for k, val in v.items() if not k.startswith("_")}
    if v.get("_min_garp"):
        # keepalived vrrp_min_garp: one garp, no repeat/refresh, no delay, unless set explicitly
        fields.setdefault("vrrp_garp_master_repeat", 1)
        fields.setdefault("vrrp_garp_master_refresh_s", 0)
        fields.setdefault("vrrp_garp_master_refresh_repeat", 0)
        fields.setdefault("vrrp_garp_master_delay_s", 0)
    return GlobalDefs(**fields, loc=draft.loc)
