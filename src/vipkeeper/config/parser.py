"""keepalived.conf parser: logical lines -> a tree of blocks -> the configuration model.

Three steps:

1. :mod:`vipkeeper.config.lexer` gives logical lines of located tokens (braces alone).
2. :func:`build_tree` matches braces into :class:`Node` objects, reporting unbalanced braces
   at the line of the block that is not closed (or of the stray brace).
3. Each block kind has a declarative keyword table (``keyword -> Kw(handler, arity, block)``)
   that fills a draft; ``_complete_*`` then applies keepalived 2.2.7's completion rules
   (``vrrp_complete_instance`` in ``keepalived/vrrp/vrrp.c``) and builds the frozen model.

Problems are collected as :class:`Diagnostic` (errors and warnings) so that one run reports
many of them; :func:`parse_file` never raises for a bad configuration.  :func:`load_config`
is for the daemon: it raises :class:`ConfigError` for the first error.

Severity policy: a value keepalived rejects, or a configuration it cannot run as written, is
an *error*; something keepalived adjusts and runs with (truncating a password, rounding a
v2 advert interval, clearing an incompatible option) or ignores (unknown keyword) is a
*warning*.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vipkeeper.config.lexer import Diagnostic, Lexer, Line, Token, split_quoted_escaped
from vipkeeper.config.model import (
    Authentication,
    Config,
    GlobalDefs,
    IPAddress,
    Location,
    Notify,
    TrackRef,
    VirtualAddress,
    VrrpInstance,
    VrrpPgsql,
    VrrpScript,
    VrrpSyncGroup,
    VrrpTrackFile,
)
from vipkeeper.errors import ConfigError

__all__ = ["Diagnostic", "Node", "build_tree", "load_config", "parse_file", "parse_string"]

# keepalived constants (keepalived/include/vrrp.h, lib/timer.h)
VRRP_PRIO_OWNER = 255
VRRP_PRIO_DFL = 100
VRRP_ADVER_DFL_US = 1_000_000
VRRP_DOWN_TIMER_ADVERTS = 3
VRRP_AUTH_LEN = 8
TIMER_MAX_SEC = 1000
UINT_MAX = 2**32 - 1
INT_MAX = 2**31 - 1
_US_PER_S = 1_000_000
_US_PER_CS = 10_000
_DEFAULT_MTU = 1500  # keepalived's DEFAULT_MTU, used when the interface is unknown
_MAX_VIPS = 255  # the advert's address count is 8 bits

# -- tree -------------------------------------------------------------------------------------

#: Blocks that only exist at the top level: meeting one inside a block means a '}' is missing.
#: (``track_file`` is left out: it is also a keyword inside vrrp_instance.)
_TOP_LEVEL_ONLY = frozenset(
    {
        "global_defs", "vrrp_instance", "vrrp_script", "vrrp_sync_group", "vrrp_pgsql",
        "vrrp_track_file", "vrrp_track_process", "virtual_server", "virtual_server_group",
        "static_ipaddress", "static_routes", "static_rules", "garp_group", "linkbeat_interfaces",
        "track_group", "interface_up_down_delays", "bfd_instance",
    }
)  # fmt: skip
#: Blocks whose lines are plain values: a nested block inside one means its '}' is missing.
_VALUE_BLOCKS = frozenset(
    {
        "unicast_peer", "virtual_ipaddress", "virtual_ipaddress_excluded", "track_script",
        "track_interface", "track_file", "track_process", "track_bfd", "group",
        "virtual_routes", "virtual_rules", "static_ipaddress", "static_routes", "static_rules",
    }
)  # fmt: skip


@dataclass(slots=True)
class Node:
    """A keyword line and, if it opened one, its block.

    ``children`` is None for a keyword without a block.  ``seq`` orders nodes as they were
    read (across included files).
    """

    line: Line
    seq: int
    children: list[Node] | None = None
    brace: Line | None = None  # the '{' line that opened ``children``

    @property
    def name(self) -> str:
        return self.line.tokens[0].value

    @property
    def args(self) -> tuple[Token, ...]:
        return self.line.tokens[1:]

    @property
    def loc(self) -> Location:
        return Location(self.line.file, self.line.line)

    def describe(self) -> str:
        """``vrrp_instance VI_1``: the keyword and its first value, for messages."""
        return " ".join(t.value for t in self.line.tokens[:2])


Report = Callable[[str, Line, str], None]


def _where(file: str, line: int, from_file: str) -> str:
    """``line N`` within the same file, ``FILE:N`` across files."""
    return f"line {line}" if file == from_file else f"{file}:{line}"


def build_tree(lines: list[Line], report: Report) -> list[Node]:
    """Match braces; ``report(severity, line, message)`` receives brace problems."""
    root: list[Node] = []
    stack: list[Node] = []

    def siblings() -> list[Node]:
        children = stack[-1].children if stack else root
        assert children is not None
        return children

    i = 0
    n = len(lines)
    while i < n:
        ln = lines[i]
        if ln.is_close:
            if stack:
                stack.pop()
            else:
                report("error", ln, "unexpected '}': no block is open here")
            i += 1
            continue
        if ln.is_open:
            report("error", ln, "unexpected '{' without a keyword before it; block ignored")
            stack.append(Node(ln, i, []))  # collects the block, attached nowhere
            i += 1
            continue
        opens = i + 1 < n and lines[i + 1].is_open
        name = ln.tokens[0].value
        if stack and opens and name in _TOP_LEVEL_ONLY:
            for unclosed in stack:
                if unclosed.name != "{":
                    report(
                        "error",
                        unclosed.line,
                        f"missing '}}': block '{unclosed.describe()}' is not closed "
                        f"before '{name}' at {_where(ln.file, ln.line, unclosed.line.file)}",
                    )
            stack.clear()
        elif stack and opens and stack[-1].name in _VALUE_BLOCKS and (stack[-1].name != "track_file" or len(stack) > 1):
            blk = stack.pop()
            report(
                "error",
                blk.line,
                f"missing '}}': block '{blk.describe()}' is not closed before '{name}' "
                f"at {_where(ln.file, ln.line, blk.line.file)}",
            )
        node = Node(ln, i, [] if opens else None, lines[i + 1] if opens else None)
        siblings().append(node)
        if opens:
            stack.append(node)
            i += 2
        else:
            i += 1
    for unclosed in stack:
        what = "block '{'" if unclosed.name == "{" else f"block '{unclosed.describe()}'"
        report("error", unclosed.line, f"missing '}}': {what} opened here is not closed at end of file")
    return root


# -- values -----------------------------------------------------------------------------------


class _BadValue(Exception):
    """A value that cannot be used; the dispatcher reports it as an error at ``at``."""

    def __init__(self, at: Token | Line, message: str) -> None:
        super().__init__(message)
        self.at = at
        self.message = message


_INT_RE = re.compile(r"[+-]?[0-9]+")
_DECIMAL_RE = re.compile(r"([0-9]*)(?:\.([0-9]*))?")


def _int(tok: Token, lo: int, hi: int, what: str) -> int:
    if not _INT_RE.fullmatch(tok.value):
        raise _BadValue(tok, f"{what}: '{tok.value}' is not a whole number")
    value = int(tok.value)
    if not lo <= value <= hi:
        raise _BadValue(tok, f"{what} {value} is out of range [{lo}, {hi}]")
    return value


def _decimal(tok: Token, digits: int, lo: int, hi: int, what: str) -> int:
    """A non-negative decimal with up to ``digits`` places, as an integer of 10**-digits units.

    ``lo`` and ``hi`` are in those units.  (keepalived's ``read_decimal_unsigned_long_func``.)
    """
    m = _DECIMAL_RE.fullmatch(tok.value)
    if not m or not (m.group(1) or m.group(2)):
        raise _BadValue(tok, f"{what}: '{tok.value}' is not a number")
    whole, frac = m.group(1) or "0", m.group(2) or ""
    if len(frac) > digits:
        raise _BadValue(tok, f"{what}: '{tok.value}' has too many decimal places (at most {digits})")
    value = int(whole) * 10**digits + int(frac.ljust(digits, "0") or "0")
    if not lo <= value <= hi:
        scale = 10**digits
        raise _BadValue(tok, f"{what} {tok.value} is out of range [{lo / scale:g}, {hi / scale:g}]")
    return value


_TRUE = frozenset({"true", "on", "yes"})
_FALSE = frozenset({"false", "off", "no"})


def _bool_opt(node: Node) -> bool:
    """A switch with an optional value (keepalived's ``check_true_false``): bare means on."""
    if not node.args:
        return True
    word = node.args[0].value
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise _BadValue(node.args[0], f"{node.name}: '{word}' is not one of on/off, true/false, yes/no")


def _ip(tok: Token, what: str) -> IPAddress:
    text = tok.value
    try:
        if "%" in text:  # a scope id: inet_pton() does not accept one
            raise ValueError
        return ipaddress.ip_address(text)
    except ValueError:
        raise _BadValue(tok, f"{what}: '{text}' is not a valid IP address") from None


def _word(node: Node) -> str:
    return node.args[0].value


def _words_joined(node: Node) -> str:
    return " ".join(t.value for t in node.args)


def _command(node: Node) -> tuple[str, list[str]]:
    """Re-read a script line with quotes and escapes: (command, extra words).

    keepalived re-parses script and notify lines with ``alloc_strvec_quoted_escaped`` and
    takes the word after the keyword as the command (itself split into argv when run).
    """
    words = split_quoted_escaped(node.line.raw)
    if len(words) < 2 or not words[1]:
        raise _BadValue(node.line, f"'{node.name}' needs a command")
    return words[1], words[2:]


# -- drafts and dispatch ----------------------------------------------------------------------


@dataclass(slots=True)
class _Draft:
    """What one block said, before the completion rules; ``nodes`` remembers where."""

    kind: str
    name: str
    node: Node | None
    values: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)  # keywords given with a bad value

    def set(self, key: str, value: Any, node: Node) -> None:
        self.values[key] = value
        self.nodes[key] = node

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def has(self, key: str) -> bool:
        return key in self.values

    def append(self, key: str, item: Any) -> None:
        self.values.setdefault(key, []).append(item)

    @property
    def loc(self) -> Location:
        return self.node.loc if self.node is not None else Location("<default>", 0)


class _Ctx:
    """Diagnostics for one parse, and the objects seen so far."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []

    def report(self, severity: str, at: Token | Line | Node, message: str) -> None:
        if isinstance(at, Node):
            at = at.line
        self.diagnostics.append(Diagnostic(severity, at.file, at.line, message))  # type: ignore[arg-type]

    def error(self, at: Token | Line | Node, message: str) -> None:
        self.report("error", at, message)

    def warning(self, at: Token | Line | Node, message: str) -> None:
        self.report("warning", at, message)


Handler = Callable[[_Draft, Node, _Ctx], None]


@dataclass(frozen=True, slots=True)
class Kw:
    """One keyword of a block: its handler, how many values it takes, whether it has a block."""

    handler: Handler
    min_args: int = 0
    max_args: int | None = None
    block: bool = False


def _dispatch(
    ctx: _Ctx,
    nodes: Iterable[Node],
    table: Mapping[str, Kw],
    draft: _Draft,
    where: str,
    unsupported: frozenset[str] = frozenset(),
) -> None:
    """Run each node's handler from ``table``; report unknown keywords and bad arity."""
    for node in nodes:
        name = node.name
        spec = table.get(name)
        if spec is None:
            if name in unsupported:
                ctx.warning(node, f"keyword '{name}' in {where} is not supported by vipkeeper, ignored")
            else:
                ctx.warning(node, f"unknown keyword '{name}' in {where}, ignored")
            continue
        nargs = len(node.args)
        if nargs < spec.min_args:
            ctx.error(node, f"'{name}' needs a value" if spec.min_args == 1 else f"'{name}' needs {spec.min_args} values")
            draft.failed.add(name)
            continue
        if spec.max_args is not None and nargs > spec.max_args:
            extra = " ".join(t.value for t in node.args[spec.max_args :])
            ctx.warning(node.args[spec.max_args], f"unexpected '{extra}' after '{name}', ignored")
        if spec.block and node.children is None:
            ctx.error(node, f"'{name}' needs a '{{ ... }}' block")
            draft.failed.add(name)
            continue
        if not spec.block and node.brace is not None:
            ctx.error(node.brace, f"unexpected '{{' after '{name}', which takes no block; block ignored")
        try:
            spec.handler(draft, node, ctx)
        except _BadValue as bad:
            ctx.error(bad.at, bad.message)
            draft.failed.add(name)


def _store(key: str, convert: Callable[[Node], Any]) -> Handler:
    def handler(draft: _Draft, node: Node, ctx: _Ctx) -> None:
        draft.set(key, convert(node), node)

    return handler


def value(key: str, convert: Callable[[Node], Any] = _word) -> Kw:
    """``keyword VALUE``."""
    return Kw(_store(key, convert), 1, 1)


def flag(key: str) -> Kw:
    """``keyword`` alone: sets ``key``."""
    return Kw(_store(key, lambda node: True), 0, 0)


def switch(key: str) -> Kw:
    """``keyword [on|off]``: bare means on."""
    return Kw(_store(key, _bool_opt), 0, 1)


def integer(key: str, lo: int, hi: int) -> Kw:
    return value(key, lambda node: _int(node.args[0], lo, hi, node.name))


def seconds_us(key: str, lo_us: int, hi_us: int) -> Kw:
    """Decimal seconds with microsecond resolution, stored in microseconds."""
    return value(key, lambda node: _decimal(node.args[0], 6, lo_us, hi_us, node.name))


def repeat_count(key: str) -> Kw:
    """keepalived's garp repeat counts: 0 is accepted for compatibility and becomes 1."""

    def handler(draft: _Draft, node: Node, ctx: _Ctx) -> None:
        count = _int(node.args[0], 0, UINT_MAX, node.name)
        if count == 0:
            ctx.warning(node.args[0], f"{node.name} must be greater than 0, using 1")
            count = 1
        draft.set(key, count, node)

    return Kw(handler, 1, 1)


def block(handler: Handler) -> Kw:
    return Kw(handler, 0, None, block=True)


def _children(node: Node) -> list[Node]:
    return node.children or []


# -- global_defs ------------------------------------------------------------------------------


def _script_user(draft: _Draft, node: Node, ctx: _Ctx) -> None:
    draft.set("script_user", node.args[0].value, node)
    draft.set("script_group", node.args[1].value if len(node.args) > 1 else None, node)


def _mcast_group(version: int) -> Handler:
    def handler(draft: _Draft, node: Node, ctx: _Ctx) -> None:
        addr = _ip(node.args[0], node.name)
        if addr.version != version:
            raise _BadValue(node.args[0], f"{node.name}: '{addr}' is not an IPv{version} address")
        if not addr.is_multicast:
            raise _BadValue(node.args[0], f"{node.name}: '{addr}' is not a multicast address")
        if version == 6 and not str(addr).lower().startswith("ff02:"):
            ctx.warning(node.args[0], f"{node.name} '{addr}' should be a link-local multicast address (ff02::/16)")
        draft.set(node.name, addr, node)

    return handler


def _fifo(key: str) -> Handler:
    def handler(draft: _Draft, node: Node, ctx: _Ctx) -> None:
        if draft.has(key):
            ctx.warning(node, f"{node.name} already set at line {draft.nodes[key].line.line}, ignored")
            return
        if len(node.args) > 1:
            ctx.warning(node.args[1], f"{node.name}: a user/group for the fifo is not supported by vipkeeper, ignored")
        draft.set(key, node.args[0].value, node)

    return handler


def _fifo_script(key: str) -> Handler:
    def handler(draft: _Draft, node: Node, ctx: _Ctx) -> None:
        command, _extra = _command(node)
        draft.set(key, command, node)

    return handler


GLOBAL_DEFS_KEYWORDS: dict[str, Kw] = {
    "router_id": value("router_id"),
    "script_user": Kw(_script_user, 1, 2),
    "enable_script_security": flag("enable_script_security"),
    "vrrp_version": integer("vrrp_version", 2, 3),
    "vrrp_garp_master_delay": integer("vrrp_garp_master_delay_s", 0, UINT_MAX // _US_PER_S),
    "vrrp_garp_master_repeat": repeat_count("vrrp_garp_master_repeat"),
    "vrrp_garp_master_refresh": integer("vrrp_garp_master_refresh_s", 0, UINT_MAX),
    "vrrp_garp_master_refresh_repeat": repeat_count("vrrp_garp_master_refresh_repeat"),
    "vrrp_garp_lower_prio_delay": integer("vrrp_garp_lower_prio_delay_s", 0, UINT_MAX // _US_PER_S),
    "vrrp_garp_lower_prio_repeat": integer("vrrp_garp_lower_prio_repeat", 0, INT_MAX),
    "vrrp_garp_interval": seconds_us("vrrp_garp_interval_us", 1, UINT_MAX),
    "vrrp_gna_interval": seconds_us("vrrp_gna_interval_us", 1, UINT_MAX),
    "vrrp_min_garp": switch("_min_garp"),
    "vrrp_down_timer_adverts": integer("_down_timer_adverts", 1, 100),
    "vrrp_mcast_group4": Kw(_mcast_group(4), 1, 1),
    "vrrp_mcast_group6": Kw(_mcast_group(6), 1, 1),
    "notify_fifo": Kw(_fifo("notify_fifo"), 1, 3),
    "notify_fifo_script": Kw(_fifo_script("notify_fifo_script"), 1),
    "vrrp_notify_fifo": Kw(_fifo("vrrp_notify_fifo"), 1, 3),
    "vrrp_notify_fifo_script": Kw(_fifo_script("vrrp_notify_fifo_script"), 1),
    "vrrp_strict": flag("vrrp_strict"),
    "vrrp_check_unicast_src": flag("vrrp_check_unicast_src"),
    "vrrp_skip_check_adv_addr": flag("vrrp_skip_check_adv_addr"),
    "vrrp_lower_prio_no_advert": switch("vrrp_lower_prio_no_advert"),
    "vrrp_higher_prio_send_advert": switch("vrrp_higher_prio_send_advert"),
    "vrrp_rt_priority": integer("vrrp_rt_priority", 1, 99),
    "vrrp_priority": integer("vrrp_priority", -20, 19),
    "metrics_listen": value("metrics_listen"),  # vipkeeper extension: HOST:PORT for /metrics
}

#: keepalived 2.2.7 global_defs keywords (core/global_parser.c) vipkeeper accepts and ignores.
GLOBAL_DEFS_IGNORED = frozenset(
    """linkbeat_use_polling net_namespace net_namespace_ipvs namespace_with_ipsets use_pid_dir
    instance child_wait_time process_names process_name vrrp_process_name checker_process_name
    lvs_process_name bfd_process_name notification_email_from smtp_server smtp_helo_name
    smtp_connect_timeout notification_email smtp_alert startup_script startup_script_timeout
    shutdown_script shutdown_script_timeout max_auto_priority min_auto_priority_delay
    smtp_alert_vrrp smtp_alert_checker checker_log_all_failures dynamic_interfaces
    no_email_faults default_interface disable_local_igmp lvs_timeouts lvs_flush
    lvs_flush_on_stop lvs_flush_onstop lvs_sync_daemon vrrp_garp_extra_if vrrp_vmac_garp_intvl
    vrrp_iptables vrrp_ipsets nftables nftables_priority nftables_ifindex nftables_ipvs
    nftables_ipvs_priority nftables_ipvs_start_fwmark nftables_counters vrrp_no_swap
    vrrp_cpu_affinity vrrp_rlimit_rttime vrrp_rlimit_rtime vrrp_notify_priority_changes
    fifo_write_vrrp_states_on_reload lvs_notify_fifo lvs_notify_fifo_script checker_priority
    checker_no_swap checker_rt_priority checker_cpu_affinity checker_rlimit_rttime
    checker_rlimit_rtime bfd_priority bfd_no_swap bfd_rt_priority bfd_cpu_affinity
    bfd_rlimit_rttime bfd_rlimit_rtime snmp_socket enable_traps enable_snmp_vrrp
    enable_snmp_keepalived enable_snmp_rfc enable_snmp_rfcv2 enable_snmp_rfcv3
    enable_snmp_checker enable_dbus dbus_service_name vrrp_netlink_cmd_rcv_bufs
    vrrp_netlink_cmd_rcv_bufs_force vrrp_netlink_monitor_rcv_bufs
    vrrp_netlink_monitor_rcv_bufs_force process_monitor_rcv_bufs process_monitor_rcv_bufs_force
    lvs_netlink_cmd_rcv_bufs lvs_netlink_cmd_rcv_bufs_force lvs_netlink_monitor_rcv_bufs
    lvs_netlink_monitor_rcv_bufs_force rs_init_notifies no_checker_emails vrrp_rx_bufs_policy
    vrrp_rx_bufs_multiplier vrrp_startup_delay log_unknown_vrids vmac_prefix vmac_addr_prefix
    umask random_seed reload_check_config reload_time_file reload_repeat reload_file
    include_check config_save_dir tmp_config_directory data_use_instance""".split()
)


def _complete_global(draft: _Draft) -> GlobalDefs:
    v = draft.values
    fields = {k: val for k, val in v.items() if not k.startswith("_")}
    if v.get("_min_garp"):
        # keepalived vrrp_min_garp: one garp, no repeat/refresh, no delay, unless set explicitly
        fields.setdefault("vrrp_garp_master_repeat", 1)
        fields.setdefault("vrrp_garp_master_refresh_s", 0)
        fields.setdefault("vrrp_garp_master_refresh_repeat", 0)
        fields.setdefault("vrrp_garp_master_delay_s", 0)
    return GlobalDefs(**fields, loc=draft.loc)


# -- vrrp_script, vrrp_pgsql, track_file ------------------------------------------------------


def _weight(lo: int, hi: int) -> Handler:
    """``weight N [reverse]``."""

    def handler(draft: _Draft, node: Node, ctx: _Ctx) -> None:
        draft.set("weight", _int(node.args[0], lo, hi, "weight"), node)
        if len(node.args) > 1:
            if node.args[1].value == "reverse":
                draft.set("weight_reverse", True, node)
            else:
                raise _BadValue(node.args[1], f"unknown weight option '{node.args[1].value}' (expected 'reverse')")

    return handler


def _script_command(draft: _Draft, node: Node, ctx: _Ctx) -> None:
    command, extra = _command(node)
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
    """vrrp_script interval/timeout: whole seconds (``read_unsigned_strvec``); 0 becomes 1."""

    def handler(draft: _Draft, node: Node, ctx: _Ctx) -> None:
        seconds = _int(node.args[0], 0, UINT_MAX // _US_PER_S, node.name)
        if seconds == 0:
            ctx.warning(node.args[0], f"vrrp_script {node.name} must be greater than 0, using 1")
            seconds = 1
        draft.set(key, float(seconds), node)

    return handler


def _user_group(draft: _Draft, node: Node, ctx: _Ctx) -> None:
    draft.set("user", node.args[0].value, node)
    draft.set("group", node.args[1].value if len(node.args) > 1 else None, node)


VRRP_SCRIPT_KEYWORDS: dict[str, Kw] = {
    "script": Kw(_script_command, 1),
    "interval": Kw(_script_interval("interval_s"), 1, 1),
    "timeout": Kw(_script_interval("timeout_s"), 1, 1),
    "weight": Kw(_weight(-253, 253), 1, 2),
    "rise": integer("rise", 1, INT_MAX),
    "fall": integer("fall", 1, INT_MAX),
    "user": Kw(_user_group, 1, 2),
    "init_fail": flag("init_fail"),
}


def _positive_seconds(node: Node) -> float:
    us = _decimal(node.args[0], 6, 1, UINT_MAX, node.name)
    return us / _US_PER_S


def _peer_conninfo(draft: _Draft, node: Node, ctx: _Ctx) -> None:
    draft.append("peer_conninfo", _words_joined(node))
    draft.nodes.setdefault("peer_conninfo", node)


VRRP_PGSQL_KEYWORDS: dict[str, Kw] = {
    "conninfo": Kw(_store("conninfo", _words_joined), 1),
    "interval": value("interval_s", _positive_seconds),
    "timeout": value("timeout_s", _positive_seconds),
    "rise": integer("rise", 1, INT_MAX),
    "fall": integer("fall", 1, INT_MAX),
    "weight": Kw(_weight(-253, 253), 1, 2),
    "peer_conninfo": Kw(_peer_conninfo, 1),
    "data_directory": value("data_directory"),
}


def _init_file(draft: _Draft, node: Node, ctx: _Ctx) -> None:
    """``init_file [VALUE] [overwrite]`` (keepalived trackers/track_file.c)."""
    draft.set("init_file", True, node)
    for tok in node.args:
        if tok.value == "overwrite":
            draft.set("init_overwrite", True, node)
        elif tok.value[:1].isdigit() or tok.value[:1] == "-":
            init_value = _int(tok, -(2**31), INT_MAX, "init_file value")
            if not -254 <= init_value <= 254:
                ctx.warning(tok, f"init_file value {init_value} is outside the sensible range [-254, 254]")
            draft.set("init_value", init_value, node)
        else:
            raise _BadValue(tok, f"unknown init_file option '{tok.value}'")


TRACK_FILE_KEYWORDS: dict[str, Kw] = {
    "file": value("file"),
    "weight": Kw(_weight(-254, 254), 1, 2),
    "init_file": Kw(_init_file, 0, 2),
}


# -- vrrp_instance ----------------------------------------------------------------------------


def _set_family(draft: _Draft, family: int, at: Token, what: str) -> None:
    """The instance family is set by its first address (keepalived: src ip, peers, VIPs)."""
    current = draft.get("family")
    if current is None:
        draft.values["family"] = family
        draft.values["family_at"] = at
    elif current != family:
        first: Token = draft.values["family_at"]
        raise _BadValue(
            at,
            f"{what} '{at.value}' is IPv{family} but the instance is IPv{current} "
            f"(set by '{first.value}' at line {first.line})",
        )


def _state(draft: _Draft, node: Node, ctx: _Ctx) -> None:
    word = node.args[0].value
    if word not in ("MASTER", "BACKUP"):
        raise _BadValue(node.args[0], f"unknown state '{word}' (expected MASTER or BACKUP)")
    if word == "BACKUP" and draft.get("state") == "MASTER":
        # keepalived vrrp_state_handler: "state previously set as MASTER - ignoring BACKUP"
        ctx.warning(node.args[0], f"state already set to MASTER at line {draft.nodes['state'].line.line}; BACKUP ignored")
        return
    draft.set("state", word, node)


def _src_ip(key: str, unicast: bool) -> Handler:
    def handler(draft: _Draft, node: Node, ctx: _Ctx) -> None:
        if unicast:
            draft.set("unicast_configured", True, node)
        addr = _ip(node.args[0], node.name)
        _set_family(draft, addr.version, node.args[0], node.name)
        draft.set(key, addr, node)

    return handler


def _unicast_peer(draft: _Draft, node: Node, ctx: _Ctx) -> None:
    draft.set("unicast_configured", True, node)
    peers: list[IPAddress] = draft.values.setdefault("unicast_peers", [])
    for child in _children(node):
        try:
            tok = child.line.tokens[0]
            if child.children is not None:
                raise _BadValue(tok, f"unexpected block after unicast peer '{tok.value}'")
            addr = _ip(tok, "unicast peer")
            _set_family(draft, addr.version, tok, "unicast peer")
            rest = child.args
            for k in range(0, len(rest), 2):
                opt = rest[k]
                if opt.value not in ("min_ttl", "max_ttl"):
                    raise _BadValue(opt, f"unknown unicast peer option '{opt.value}'")
                if k + 1 >= len(rest):
                    raise _BadValue(opt, f"'{opt.value}' needs a value")
                _int(rest[k + 1], 0, 255, opt.value)
                ctx.warning(opt, f"unicast peer '{opt.value}' is not supported by vipkeeper, ignored")
            if addr in peers:
                ctx.warning(tok, f"duplicate unicast peer '{addr}', ignored")
                continue
            peers.append(addr)
        except _BadValue as bad:
            ctx.error(bad.at, bad.message)
            draft.failed.add(node.name)


_SCOPES = {"global": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
_VIP_FLAGS_IGNORED = frozenset({"home", "-nodad", "mngtmpaddr", "noprefixroute", "autojoin", "no_track", "use_vmac"})


def parse_virtual_address(tokens: tuple[Token, ...], ctx: _Ctx) -> VirtualAddress:
    """``ADDR[/PREFIX] [dev IF] [brd B|+|-] [scope S] [label L]`` (keepalived vrrp_ipaddress.c)."""
    first = tokens[0]
    text = first.value
    addr_text, slash, prefix_text = text.partition("/")
    family = 6 if ":" in addr_text else 4  # keepalived: a ':' means IPv6
    max_prefix = 128 if family == 6 else 32
    try:
        if "%" in addr_text:
            raise ValueError
        address = ipaddress.IPv6Address(addr_text) if family == 6 else ipaddress.IPv4Address(addr_text)
    except ValueError:
        raise _BadValue(first, f"'{text}' is not a valid IP address") from None
    prefix = max_prefix
    if slash:
        if not prefix_text.isdigit() or not prefix_text.isascii() or int(prefix_text) > max_prefix:
            raise _BadValue(first, f"'{text}': invalid prefix length '{prefix_text}' (0..{max_prefix})")
        prefix = int(prefix_text)
    interface = ipaddress.ip_interface(f"{address}/{prefix}")

    dev = brd = scope = label = None
    brd_special = ""
    rest = list(tokens[1:])
    k = 0
    while k < len(rest):
        opt = rest[k]
        word = opt.value
        if word in ("dev", "scope", "brd", "broadcast", "label", "peer", "preferred_lft"):
            if k + 1 >= len(rest):
                raise _BadValue(opt, f"'{word}' needs a value for '{text}'")
            arg = rest[k + 1]
            k += 2
            if word == "dev":
                if dev is not None:
                    raise _BadValue(opt, f"'dev' given twice for '{text}'")
                dev = arg.value
            elif word == "scope":
                if arg.value not in _SCOPES and not (arg.value.isdigit() and int(arg.value) <= 255):
                    raise _BadValue(arg, f"invalid scope '{arg.value}' for '{text}'")
                if family == 6:
                    ctx.warning(arg, f"a scope cannot be set for IPv6 address '{text}', ignored")
                else:
                    scope = arg.value
            elif word in ("brd", "broadcast"):
                if family == 6:
                    raise _BadValue(opt, f"a broadcast address cannot be set for IPv6 address '{text}'")
                if arg.value in ("+", "-"):
                    brd_special = arg.value
                else:
                    try:
                        brd = ipaddress.IPv4Address(arg.value)
                    except ValueError:
                        raise _BadValue(arg, f"invalid broadcast address '{arg.value}'") from None
            elif word == "label":
                if len(arg.value.encode()) >= 16:
                    raise _BadValue(arg, f"address label '{arg.value}' is longer than 15 characters")
                if family == 6:
                    ctx.warning(arg, f"a label cannot be set for IPv6 address '{text}', ignored")
                else:
                    label = arg.value
            else:
                ctx.warning(opt, f"virtual address option '{word}' is not supported by vipkeeper, ignored")
            continue
        if word in _VIP_FLAGS_IGNORED:
            ctx.warning(opt, f"virtual address option '{word}' is not supported by vipkeeper, ignored")
        else:
            ctx.warning(opt, f"unknown option '{word}' for virtual address '{text}', ignored")
        k += 1
    if brd_special:
        if prefix > 30:
            raise _BadValue(first, f"prefix length {prefix} is too long for a '{brd_special}' broadcast address")
        net = ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)
        brd = net.broadcast_address if brd_special == "+" else net.network_address
    return VirtualAddress(interface, dev=dev, brd=brd, scope=scope, label=label, loc=Location(first.file, first.line))


def _vips(key: str, sets_family: bool) -> Handler:
    def handler(draft: _Draft, node: Node, ctx: _Ctx) -> None:
        vips: list[VirtualAddress] = draft.values.setdefault(key, [])
        draft.nodes.setdefault(key, node)
        for child in _children(node):
            try:
                if child.children is not None:
                    raise _BadValue(child.line, f"unexpected block after virtual address '{child.name}'")
                vip = parse_virtual_address(child.line.tokens, ctx)
                if sets_family:
                    _set_family(draft, vip.family, child.line.tokens[0], "virtual address")
                if any(v.address == vip.address for v in vips):
                    ctx.warning(child, f"duplicate virtual address '{vip.address}', ignored")
                    continue
                vips.append(vip)
            except _BadValue as bad:
                ctx.error(bad.at, bad.message)
                draft.failed.add(node.name)

    return handler


@dataclass(slots=True)
class _PendingRef:
    """A track_* entry before its name is resolved."""

    ref: TrackRef
    reverse_given: bool
    seq: int


def _track_refs(key: str, lo: int, hi: int, clamp_254: bool) -> Handler:
    """``NAME [weight N [reverse|noreverse]]`` lines (keepalived vrrp_track.c / track_file.c)."""

    def handler(draft: _Draft, node: Node, ctx: _Ctx) -> None:
        refs: list[_PendingRef] = draft.values.setdefault(key, [])
        for child in _children(node):
            try:
                tok = child.line.tokens[0]
                if child.children is not None:
                    raise _BadValue(tok, f"unexpected block after '{tok.value}'")
                if any(r.ref.name == tok.value for r in refs):
                    ctx.warning(tok, f"duplicate {key} '{tok.value}', ignored")
                    continue
                weight: int | None = None
                reverse = False
                reverse_given = False
                rest = child.args
                if rest:
                    if rest[0].value != "weight":
                        raise _BadValue(rest[0], f"unknown {key} option '{rest[0].value}' (expected 'weight')")
                    if len(rest) < 2:
                        raise _BadValue(rest[0], f"'weight' needs a value for {key} '{tok.value}'")
                    weight = _int(rest[1], lo, hi, "weight")
                    if clamp_254 and abs(weight) == 254:
                        ctx.warning(rest[1], f"weight {weight} is not allowed, using {253 if weight > 0 else -253}")
                        weight = 253 if weight > 0 else -253
                    if len(rest) > 2:
                        if rest[2].value not in ("reverse", "noreverse"):
                            raise _BadValue(rest[2], f"unknown weight option '{rest[2].value}'")
                        reverse = rest[2].value == "reverse"
                        reverse_given = True
                    if len(rest) > 3:
                        ctx.warning(rest[3], f"unexpected '{rest[3].value}' in {key} entry, ignored")
                ref = TrackRef(tok.value, weight, reverse, Location(tok.file, tok.line))
                refs.append(_PendingRef(ref, reverse_given, child.seq))
            except _BadValue as bad:
                ctx.error(bad.at, bad.message)
                draft.failed.add(node.name)

    return handler


def _notify(key: str) -> Handler:
    def handler(draft: _Draft, node: Node, ctx: _Ctx) -> None:
        notify: dict[str, str] = draft.values.setdefault("notify", {})
        if key in notify:
            ctx.warning(node, f"{node.name} already set, ignored")
            return
        command, extra = _command(node)
        if extra:
            ctx.warning(node, f"{node.name}: running the script as user '{extra[0]}' is not supported by vipkeeper, ignored")
        notify[key] = command

    return handler


def _auth_type(draft: _Draft, node: Node, ctx: _Ctx) -> None:
    word = node.args[0].value
    if word not in ("PASS", "AH"):
        raise _BadValue(node.args[0], f"unknown authentication type '{word}' (expected PASS or AH)")
    draft.set("auth_type", word, node)


def _auth_pass(draft: _Draft, node: Node, ctx: _Ctx) -> None:
    raw = node.args[0].value.encode("utf-8", errors="surrogateescape")
    if len(raw) > VRRP_AUTH_LEN:
        # keepalived vrrp_auth_pass_handler: "Truncating auth_pass to 8 characters"
        ctx.warning(
            node.args[0], f"auth_pass is longer than {VRRP_AUTH_LEN} characters; only the first {VRRP_AUTH_LEN} are used"
        )
        raw = raw[:VRRP_AUTH_LEN]
    draft.set("auth_pass", raw, node)


AUTHENTICATION_KEYWORDS: dict[str, Kw] = {
    "auth_type": Kw(_auth_type, 1, 1),
    "auth_pass": Kw(_auth_pass, 1, 1),
}


def _authentication(draft: _Draft, node: Node, ctx: _Ctx) -> None:
    draft.set("authentication", True, node)
    _dispatch(ctx, _children(node), AUTHENTICATION_KEYWORDS, draft, "authentication")


def _use_vmac(draft: _Draft, node: Node, ctx: _Ctx) -> None:
    ctx.error(node, "use_vmac is not supported by vipkeeper")


def _preempt(draft: _Draft, node: Node, ctx: _Ctx) -> None:
    draft.set("nopreempt", False, node)  # keepalived: 'preempt' clears nopreempt


def _check_unicast_src(draft: _Draft, node: Node, ctx: _Ctx) -> None:
    draft.set("unicast_configured", True, node)
    draft.set("check_unicast_src", True, node)


def _old_unicast_checksum(draft: _Draft, node: Node, ctx: _Ctx) -> None:
    """``old_unicast_checksum [never]`` (keepalived vrrp_unicast_chksum_handler): the VRRPv3
    IPv4 unicast checksum with 224.0.0.18 in the pseudo-header, as keepalived <= 1.3.6 sent it.

    Bare: always use it.  ``never``: never switch to it (keepalived, and vipkeeper, otherwise
    switch when a unicast peer sends it).
    """
    draft.set("unicast_configured", True, node)
    if not node.args:
        draft.set("old_unicast_checksum", "always", node)
    elif node.args[0].value == "never":
        draft.set("old_unicast_checksum", "never", node)
    else:
        # keepalived: "Unknown old_unicast_chksum mode %s - ignoring"
        ctx.warning(node.args[0], f"unknown old_unicast_checksum mode '{node.args[0].value}' (expected 'never'), ignored")


VRRP_INSTANCE_KEYWORDS: dict[str, Kw] = {
    "state": Kw(_state, 1, 1),
    "interface": value("interface"),
    "virtual_router_id": integer("vrid", 1, 255),
    "priority": integer("priority", 1, VRRP_PRIO_OWNER),
    # keepalived vrrp_adv_handler: decimal seconds in [0.01, 255]; v2/v3 rules at completion
    "advert_int": seconds_us("advert_int_us", _US_PER_CS, 255 * _US_PER_S),
    "version": integer("version", 2, 3),
    "nopreempt": flag("nopreempt"),
    "preempt": Kw(_preempt, 0, 0),
    "preempt_delay": seconds_us("preempt_delay_us", 0, TIMER_MAX_SEC * _US_PER_S),
    "unicast_src_ip": Kw(_src_ip("unicast_src_ip", unicast=True), 1, 1),
    "mcast_src_ip": Kw(_src_ip("mcast_src_ip", unicast=False), 1, 1),
    "unicast_peer": block(_unicast_peer),
    "authentication": block(_authentication),
    "virtual_ipaddress": block(_vips("vips", sets_family=True)),
    "virtual_ipaddress_excluded": block(_vips("vips_excluded", sets_family=False)),
    "track_script": block(_track_refs("track_script", -254, 254, clamp_254=True)),
    "track_interface": block(_track_refs("track_interface", -254, 254, clamp_254=True)),
    "track_file": block(_track_refs("track_file", -254, 254, clamp_254=False)),
    "notify": Kw(_notify("any"), 1),
    "notify_master": Kw(_notify("master"), 1),
    "notify_backup": Kw(_notify("backup"), 1),
    "notify_fault": Kw(_notify("fault"), 1),
    "notify_stop": Kw(_notify("stop"), 1),
    "garp_master_delay": integer("garp_master_delay_s", 0, UINT_MAX // _US_PER_S),
    "garp_master_repeat": repeat_count("garp_master_repeat"),
    "garp_master_refresh": integer("garp_master_refresh_s", 0, UINT_MAX),
    "garp_master_refresh_repeat": repeat_count("garp_master_refresh_repeat"),
    "garp_lower_prio_delay": integer("garp_lower_prio_delay_s", 0, UINT_MAX // _US_PER_S),
    "garp_lower_prio_repeat": integer("garp_lower_prio_repeat", 0, INT_MAX),
    # vipkeeper extensions: keepalived 2.2.7 only has these per interface (garp_group block)
    "garp_interval": seconds_us("garp_interval_us", 1, UINT_MAX),
    "gna_interval": seconds_us("gna_interval_us", 1, UINT_MAX),
    "down_timer_adverts": integer("down_timer_adverts", 1, 100),
    "lower_prio_no_advert": switch("lower_prio_no_advert"),
    "higher_prio_send_advert": switch("higher_prio_send_advert"),
    "v3_checksum_as_v2": switch("v3_checksum_as_v2"),  # vipkeeper extension
    "check_unicast_src": Kw(_check_unicast_src, 0, 0),
    "old_unicast_checksum": Kw(_old_unicast_checksum, 0, 1),
    "strict_mode": switch("strict"),
    "fast_preempt": switch("fast_preempt"),  # vipkeeper extension
    "use_vmac": Kw(_use_vmac),
}

#: keepalived 2.2.7 vrrp_instance keywords (vrrp/vrrp_parser.c) that vipkeeper ignores.
VRRP_INSTANCE_IGNORED = frozenset(
    """use_vmac_addr vmac_xmit_base use_ipvlan unicast_fault_no_peer native_ipv6
    vrf dont_track_primary track_process track_bfd mcast_dst_ip track_src_ip
    unicast_ttl promote_secondaries linkbeat_use_polling virtual_routes virtual_rules accept
    no_accept skip_check_adv_addr debug notify_deleted notify_master_rx_lower_pri smtp_alert
    notify_priority_changes lvs_sync_daemon_interface garp_extra_if vmac_garp_intvl
    kernel_rx_buf_size""".split()
)


# -- vrrp_sync_group --------------------------------------------------------------------------


def _group_members(draft: _Draft, node: Node, ctx: _Ctx) -> None:
    if draft.has("members"):
        ctx.error(node, f"group list already given at line {draft.nodes['members'].line.line}; ignored")
        return
    members: list[Token] = []
    for child in _children(node):
        for tok in child.line.tokens:  # keepalived read_value_block: any words on any line
            if any(m.value == tok.value for m in members):
                ctx.warning(tok, f"vrrp_instance '{tok.value}' listed twice in the group, ignored")
                continue
            members.append(tok)
    draft.set("members", members, node)


VRRP_SYNC_GROUP_KEYWORDS: dict[str, Kw] = {
    "group": block(_group_members),
    "notify": Kw(_notify("any"), 1),
    "notify_master": Kw(_notify("master"), 1),
    "notify_backup": Kw(_notify("backup"), 1),
    "notify_fault": Kw(_notify("fault"), 1),
    "notify_stop": Kw(_notify("stop"), 1),
    "track_script": block(_track_refs("track_script", -254, 254, clamp_254=True)),
    "track_interface": block(_track_refs("track_interface", -254, 254, clamp_254=True)),
    "track_file": block(_track_refs("track_file", -254, 254, clamp_254=False)),
}

VRRP_SYNC_GROUP_IGNORED = frozenset(
    "track_process track_bfd smtp_alert global_tracking sync_group_tracking_weight notify_priority_changes".split()
)


# -- top level --------------------------------------------------------------------------------


class _Parse:
    """One configuration being parsed: the drafts of every block, in order."""

    def __init__(self, ctx: _Ctx) -> None:
        self.ctx = ctx
        self.global_draft = _Draft("global_defs", "", None)
        self.scripts: dict[str, _Draft] = {}
        self.pgsql: dict[str, _Draft] = {}
        self.track_files: dict[str, _Draft] = {}
        self.instances: dict[str, _Draft] = {}
        self.sync_groups: dict[str, _Draft] = {}
        self.broken: set[tuple[str, str]] = set()  # (kind, name) defined but unusable

    def named(
        self, kind: str, registry: dict[str, _Draft], node: Node, table: Mapping[str, Kw],
        unsupported: frozenset[str] = frozenset(),
    ) -> _Draft | None:
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
            where = _where(first.file, first.line, node.line.file)
            ctx.error(node, f"{kind} '{name}' is already defined at {where}; this one is ignored")
            return None
        draft = _Draft(kind, name, node)
        _dispatch(ctx, node.children, table, draft, kind, unsupported)
        registry[name] = draft
        return draft

    def top(self, nodes: list[Node]) -> None:
        for node in nodes:
            name = node.name
            if name == "global_defs":
                if node.children is None:
                    self.ctx.error(node, "'global_defs' needs a '{ ... }' block")
                    continue
                _dispatch(self.ctx, node.children, GLOBAL_DEFS_KEYWORDS, self.global_draft, "global_defs",
                          GLOBAL_DEFS_IGNORED)
            elif name == "vrrp_script":
                self.named(name, self.scripts, node, VRRP_SCRIPT_KEYWORDS)
            elif name == "vrrp_pgsql":
                self.named(name, self.pgsql, node, VRRP_PGSQL_KEYWORDS)
            elif name in ("track_file", "vrrp_track_file"):
                # 'vrrp_track_file' is keepalived's deprecated synonym of 'track_file'
                self.named("track_file", self.track_files, node, TRACK_FILE_KEYWORDS)
            elif name == "vrrp_instance":
                self.named(name, self.instances, node, VRRP_INSTANCE_KEYWORDS, VRRP_INSTANCE_IGNORED)
            elif name == "vrrp_sync_group":
                self.named(name, self.sync_groups, node, VRRP_SYNC_GROUP_KEYWORDS, VRRP_SYNC_GROUP_IGNORED)
            elif name in _TOP_LEVEL_UNSUPPORTED:
                self.ctx.warning(node, f"'{name}' is not supported by vipkeeper, ignored")
            else:
                self.ctx.warning(node, f"unknown keyword '{name}' at top level, ignored")


_TOP_LEVEL_UNSUPPORTED = frozenset(
    """virtual_server virtual_server_group static_ipaddress static_routes static_rules garp_group
    linkbeat_interfaces vrrp_track_process track_group interface_up_down_delays bfd_instance SSL
    net_namespace net_namespace_ipvs namespace_with_ipsets use_pid_dir instance child_wait_time
    linkbeat_use_polling""".split()
)


# -- completion -------------------------------------------------------------------------------


def _complete_script(draft: _Draft, ctx: _Ctx) -> VrrpScript | None:
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


def _complete_pgsql(draft: _Draft, ctx: _Ctx) -> VrrpPgsql | None:
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


def _complete_track_file(draft: _Draft, ctx: _Ctx) -> VrrpTrackFile | None:
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


@dataclass(slots=True)
class _Trackables:
    """What track_* entries may name: (weight_reverse, seq) per object, and broken names."""

    scripts: dict[str, tuple[bool, int]]
    files: dict[str, tuple[bool, int]]
    broken: set[tuple[str, str]]


_TRACKED_KINDS = {"track_script": ("vrrp_script", "vrrp_pgsql"), "track_file": ("track_file",)}


def _resolve_refs(
    kind: str, pending: list[_PendingRef], t: _Trackables, owner: str, ctx: _Ctx
) -> tuple[TrackRef, ...]:
    """Check each entry names a defined object; fill in the effective ``weight_reverse``.

    ``track_script`` may name a vrrp_script or a vrrp_pgsql, ``track_file`` a track_file.
    """
    known = t.scripts if kind == "track_script" else t.files
    kinds = _TRACKED_KINDS[kind]
    out: list[TrackRef] = []
    for p in pending:
        ref = p.ref
        target = known.get(ref.name)
        at = ref.loc
        if target is None:
            if not any((k, ref.name) in t.broken for k in kinds):
                what = " or ".join(kinds)
                message = f"{owner}: {kind} '{ref.name}' is not defined (no {what} '{ref.name}')"
                ctx.diagnostics.append(Diagnostic("error", at.file, at.line, message))
            continue
        reverse_default, seq = target
        if seq > p.seq:
            # keepalived resolves track_* while reading (vrrp_track.c alloc_track_script),
            # so it ignores a reference to an object defined further down the file.
            ctx.diagnostics.append(
                Diagnostic(
                    "warning", at.file, at.line,
                    f"{owner}: '{ref.name}' is defined after this reference; "
                    "keepalived 2.2.7 would ignore the reference, vipkeeper accepts it",
                )
            )
        reverse = ref.weight_reverse if p.reverse_given else reverse_default
        out.append(TrackRef(ref.name, ref.weight, reverse, ref.loc))
    return tuple(out)


def _interface_refs(pending: list[_PendingRef]) -> tuple[TrackRef, ...]:
    return tuple(p.ref for p in pending)


def _notify_of(draft: _Draft) -> Notify:
    n: dict[str, str] = draft.get("notify", {})
    return Notify(master=n.get("master"), backup=n.get("backup"), fault=n.get("fault"), stop=n.get("stop"), any=n.get("any"))


def _round_to(value_us: int, unit_us: int) -> int:
    """keepalived's rounding of advert intervals: to the nearest unit, halves up, at least 1 unit."""
    rounded = (value_us + unit_us // 2) // unit_us * unit_us
    return rounded or unit_us


class _InstanceCompletion:
    """keepalived's ``vrrp_complete_instance`` (vrrp/vrrp.c, v2.2.7 lines ~2829-3290).

    Each step is a method, called in keepalived's order (later steps depend on the version,
    state and priority settled by earlier ones).  ``ok`` turns false on any error.
    """

    def __init__(self, d: _Draft, g: GlobalDefs, gd: _Draft, t: _Trackables, ctx: _Ctx) -> None:
        assert d.node is not None
        self.d, self.g, self.gd, self.t, self.ctx = d, g, gd, t, ctx
        self.v = d.values
        self.node: Node = d.node
        self.me = f"vrrp_instance {d.name}"
        self.ok = True
        self.strict: bool = self.v.get("strict", g.vrrp_strict)

    # -- helpers --

    def at(self, key: str) -> Node:
        """The node that set ``key``, else the instance's own line."""
        return self.d.nodes.get(key, self.node)

    def error(self, key: str, message: str) -> None:
        self.ctx.error(self.at(key), f"{self.me}: {message}")
        self.ok = False

    def warning(self, key: str, message: str) -> None:
        self.ctx.warning(self.at(key), f"{self.me}: {message}")

    def failed(self, keyword: str) -> bool:
        """True when ``keyword`` had a bad value (already reported: do not cascade)."""
        if keyword in self.d.failed:
            self.ok = False
            return True
        return False

    # -- steps --

    def family_and_version(self) -> tuple[int, int]:
        # The family is set by the instance's first address; without any it is IPv4.
        family = self.v.get("family") or 4
        # IPv6 needs VRRPv3.  keepalived refuses 'version 2' once an IPv6 address has been
        # read (vrrp_parser.c vrrp_version_handler) and, with an IPv6 family and no instance
        # 'version', uses 3 whatever global vrrp_version says (vrrp.c ~2863-2887); only a
        # non-strict 'version 2' written *before* the IPv6 addresses slips through there.
        # vipkeeper rejects 'version 2' with IPv6 in either order.
        version = self.v.get("version")
        if family == 6:
            if version == 2:
                self.error("version", "VRRP version 2 does not support IPv6 addresses; use 'version 3'")
            return family, 3
        return family, version if version is not None else self.g.vrrp_version

    def vips(self, family: int, version: int) -> tuple[list[VirtualAddress], list[VirtualAddress]]:
        vips: list[VirtualAddress] = list(self.v.get("vips", []))
        excluded: list[VirtualAddress] = list(self.v.get("vips_excluded", []))
        if not vips:
            if self.failed("virtual_ipaddress"):
                pass
            elif version == 3 or self.strict:
                self.error("", "no virtual_ipaddress; at least one is required")
            else:
                self.warning("", "no virtual_ipaddress; at least one is sensible")
        # At most as many addresses as fit in one advert (keepalived assumes a 1500 byte MTU
        # when it cannot ask the interface); the rest become excluded addresses.
        if family == 4:
            max_addr = min(_MAX_VIPS, (_DEFAULT_MTU - (14 + 20 + 8 + (8 if version == 2 else 0))) // 4)
        else:
            max_addr = min(_MAX_VIPS, (_DEFAULT_MTU - (14 + 40 + 8)) // 16)
        if len(vips) > max_addr:
            self.warning("vips", f"{len(vips)} virtual addresses do not fit in an advert (max {max_addr}); the rest are excluded")
            excluded = vips[max_addr:] + excluded
            vips = vips[:max_addr]
        return vips, excluded

    def state_and_priority(self) -> tuple[str, int]:
        priority: int | None = self.v.get("priority")
        state: str | None = self.v.get("state")
        if priority is None:
            priority = VRRP_PRIO_OWNER if state == "MASTER" else VRRP_PRIO_DFL
        if state is None:
            state = "MASTER" if priority == VRRP_PRIO_OWNER else "BACKUP"
        elif self.strict and (state == "MASTER") != (priority == VRRP_PRIO_OWNER):
            state = "MASTER" if priority == VRRP_PRIO_OWNER else "BACKUP"
            self.warning("state", f"strict mode: state MASTER must match being address owner (priority 255); using {state}")
        return state, priority

    def authentication(self, family: int, version: int, state: str, priority: int) -> tuple[Authentication | None, str]:
        """The authentication to use, and the initial state."""
        if not self.v.get("authentication"):
            return None, state
        auth_type: str | None = self.v.get("auth_type")
        auth_pass: bytes = self.v.get("auth_pass", b"")
        if auth_type is None:
            if not self.failed("auth_type"):
                self.error("authentication", "authentication without 'auth_type'")
        elif self.strict:
            self.warning("authentication", "strict mode does not support authentication, ignored")
        elif version == 3:
            self.warning("authentication", "VRRP version 3 does not support authentication, ignored")
        elif not auth_pass or auth_pass[:1] == b"\0":
            if not self.failed("auth_pass"):
                self.error("authentication", "authentication given but no 'auth_pass'")
        elif family == 6 and auth_type == "AH":
            self.warning("authentication", "AH authentication cannot be used with IPv6, ignored")
        elif auth_type == "AH":
            # keepalived's IPsec-AH (IP protocol 51, HMAC-MD5-96, SPI = source address,
            # sequence numbers) is not implemented: running without it would never
            # interoperate with the keepalived peers, so refuse instead.
            self.error(
                "auth_type",
                "auth_type AH (IPsec Authentication Header) is not supported by vipkeeper; "
                "use auth_type PASS on every router of this VRID, or VRRPv3 (no authentication)",
            )
        else:
            return Authentication(auth_type, auth_pass, loc=self.at("authentication").loc), state  # type: ignore[arg-type]
        return None, state

    def unicast(self) -> tuple[IPAddress, ...]:
        peers: tuple[IPAddress, ...] = tuple(self.v.get("unicast_peers", ()))
        if self.strict and peers:
            self.error("unicast_configured", "unicast peers are not supported in strict mode")
        if self.v.get("unicast_configured") and not peers and not self.failed("unicast_peer"):
            # keepalived 2.2.7: deprecated, "Defaulting to multicast"
            self.warning("unicast_configured", "a unicast keyword is given without any unicast_peer; using multicast")
        return peers

    def required(self) -> tuple[str, int]:
        interface: str | None = self.v.get("interface")
        if interface is None and not self.failed("interface"):
            # keepalived can do without one for unicast with unicast_src_ip; vipkeeper needs
            # it to place the virtual addresses.
            self.error("", "'interface' is required")
        vrid: int | None = self.v.get("vrid")
        if vrid is None and not self.failed("virtual_router_id"):
            self.error("", "'virtual_router_id' is required")
        self.ok = self.ok and interface is not None and vrid is not None
        return interface or "", vrid or 0

    def first_ipv6_vip(self, family: int, peers: tuple[IPAddress, ...], vips: list[VirtualAddress]) -> None:
        if family == 6 and not peers and vips and not vips[0].address.ip.is_link_local:
            if self.strict:
                self.error("vips", "strict mode: the first IPv6 virtual address must be link-local")
            else:  # keepalived only logs this
                self.warning("vips", "the first IPv6 virtual address should be link-local (RFC 5798 §5.2.9)")

    def preemption(self, state: str, priority: int) -> tuple[bool, int]:
        nopreempt = bool(self.v.get("nopreempt", False))
        delay_us: int = self.v.get("preempt_delay_us", 0)
        if priority == VRRP_PRIO_OWNER and nopreempt:
            self.warning("nopreempt", "nopreempt is incompatible with priority 255; nopreempt cleared")
            nopreempt = False
        if state == "MASTER":
            if nopreempt:
                self.warning("nopreempt", "nopreempt does not work with initial state MASTER; nopreempt cleared")
                nopreempt = False
            if delay_us:
                self.warning("preempt_delay_us", "preempt_delay does not work with initial state MASTER; cleared")
                delay_us = 0
        if delay_us and self.strict:
            self.warning("preempt_delay_us", "preempt_delay is incompatible with strict mode; cleared")
            delay_us = 0
        elif delay_us and nopreempt:
            self.warning("preempt_delay_us", "preempt_delay is incompatible with nopreempt; cleared")
            delay_us = 0
        return nopreempt, delay_us

    def strict_or_global(self, key: str, global_value: Any, strict_value: Any, what: str) -> Any:
        """An option strict mode forces; unset, it comes from global_defs (or strict mode)."""
        if key not in self.v:
            return strict_value if self.strict else global_value
        if self.strict and self.v[key] != strict_value:
            self.warning(key, f"strict mode requires {what}; reset")
            return strict_value
        return self.v[key]

    def advert_int_cs(self, version: int) -> int:
        """v2: whole seconds (keepalived rounds); v3: centiseconds below 40.96 s."""
        advert_us: int = self.v.get("advert_int_us", VRRP_ADVER_DFL_US)
        if version == 2:
            if advert_us % _US_PER_S:
                rounded = _round_to(advert_us, _US_PER_S)
                self.warning(
                    "advert_int_us",
                    f"a VRRPv2 advert_int must be whole seconds; {advert_us / _US_PER_S:g} rounded to {rounded // _US_PER_S}",
                )
                advert_us = rounded
        elif advert_us >= 4096 * _US_PER_CS:
            # keepalived clamps to 40.95 s with a config error; vipkeeper refuses it
            self.error("advert_int_us", f"VRRPv3 advert_int {advert_us / _US_PER_S:g} s is out of range (at most 40.95 s)")
            advert_us = 4095 * _US_PER_CS
        elif advert_us % _US_PER_CS:
            rounded = _round_to(advert_us, _US_PER_CS)
            self.warning(
                "advert_int_us",
                f"a VRRPv3 advert_int must be in units of 10 ms; {advert_us / _US_PER_S:g} rounded to {rounded / _US_PER_S:g}",
            )
            advert_us = rounded
        return advert_us // _US_PER_CS

    def tracking(self) -> tuple[tuple[TrackRef, ...], tuple[TrackRef, ...]]:
        pending_scripts = self.v.get("track_script", [])
        pending_files = self.v.get("track_file", [])
        scripts = _resolve_refs("track_script", pending_scripts, self.t, self.me, self.ctx)
        files = _resolve_refs("track_file", pending_files, self.t, self.me, self.ctx)
        if len(scripts) != len(pending_scripts) or len(files) != len(pending_files):
            self.ok = False
        return scripts, files

    def run(self) -> VrrpInstance | None:
        v, g = self.v, self.g
        family, version = self.family_and_version()
        vips, vips_excluded = self.vips(family, version)
        state, priority = self.state_and_priority()
        auth, state = self.authentication(family, version, state, priority)
        peers = self.unicast()
        interface, vrid = self.required()
        self.first_ipv6_vip(family, peers, vips)
        nopreempt, preempt_delay_us = self.preemption(state, priority)
        down_timer_adverts = v.get("down_timer_adverts", self.gd.get("_down_timer_adverts", VRRP_DOWN_TIMER_ADVERTS))
        if self.strict and down_timer_adverts != VRRP_DOWN_TIMER_ADVERTS:
            self.warning("down_timer_adverts", "down_timer_adverts is incompatible with strict mode; using 3")
            down_timer_adverts = VRRP_DOWN_TIMER_ADVERTS
        garp_lower_prio_repeat = self.strict_or_global(
            "garp_lower_prio_repeat", g.vrrp_garp_lower_prio_repeat, 0, "garp_lower_prio_repeat 0"
        )
        garp_lower_prio_delay_s = self.strict_or_global(
            "garp_lower_prio_delay_s", g.vrrp_garp_lower_prio_delay_s, 0, "garp_lower_prio_delay 0"
        )
        lower_prio_no_advert = self.strict_or_global(
            "lower_prio_no_advert", g.vrrp_lower_prio_no_advert, True, "lower_prio_no_advert"
        )
        higher_prio_send_advert = self.strict_or_global(
            "higher_prio_send_advert", g.vrrp_higher_prio_send_advert, False, "higher_prio_send_advert off"
        )
        advert_int_cs = self.advert_int_cs(version)
        track_scripts, track_files = self.tracking()
        if not self.ok:
            return None
        return VrrpInstance(
            name=self.d.name,
            interface=interface,
            vrid=vrid,
            priority=priority,
            initial_state=state,  # type: ignore[arg-type]
            version=version,
            family=family,  # type: ignore[arg-type]
            advert_int_cs=advert_int_cs,
            nopreempt=nopreempt,
            preempt_delay_s=preempt_delay_us / _US_PER_S,
            unicast_src_ip=v.get("unicast_src_ip"),
            mcast_src_ip=v.get("mcast_src_ip"),
            unicast_peers=peers,
            auth=auth,
            vips=tuple(vips),
            vips_excluded=tuple(vips_excluded),
            track_scripts=track_scripts,
            track_interfaces=_interface_refs(v.get("track_interface", [])),
            track_files=track_files,
            notify=_notify_of(self.d),
            garp_master_delay_s=v.get("garp_master_delay_s", g.vrrp_garp_master_delay_s),
            garp_master_repeat=v.get("garp_master_repeat", g.vrrp_garp_master_repeat),
            garp_master_refresh_s=v.get("garp_master_refresh_s", g.vrrp_garp_master_refresh_s),
            garp_master_refresh_repeat=v.get("garp_master_refresh_repeat", g.vrrp_garp_master_refresh_repeat),
            garp_interval_us=v.get("garp_interval_us", g.vrrp_garp_interval_us),
            gna_interval_us=v.get("gna_interval_us", g.vrrp_gna_interval_us),
            garp_lower_prio_delay_s=garp_lower_prio_delay_s,
            garp_lower_prio_repeat=garp_lower_prio_repeat,
            down_timer_adverts=down_timer_adverts,
            lower_prio_no_advert=lower_prio_no_advert,
            higher_prio_send_advert=higher_prio_send_advert,
            v3_checksum_as_v2=v.get("v3_checksum_as_v2", False),
            old_unicast_checksum=v.get("old_unicast_checksum", "auto"),
            check_unicast_src=v.get("check_unicast_src", g.vrrp_check_unicast_src),
            strict=self.strict,
            fast_preempt=v.get("fast_preempt", False),
            loc=self.node.loc,
        )


def _check_vrid_conflicts(instances: list[VrrpInstance], ctx: _Ctx) -> set[str]:
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
                "error", inst.loc.file, inst.loc.line,
                f"vrrp_instance {inst.name}: virtual_router_id {inst.vrid} on {inst.interface} is already used "
                f"by vrrp_instance {other.name} at {_where(other.loc.file, other.loc.line, inst.loc.file)}",
            )
        )
        bad.add(inst.name)
    return bad


def _complete_sync_group(d: _Draft, instances: dict[str, VrrpInstance], instance_drafts: dict[str, _Draft],
                         owner_of: dict[str, str], t: _Trackables, ctx: _Ctx) -> VrrpSyncGroup | None:
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
    track_scripts = _resolve_refs("track_script", d.get("track_script", []), t, me, ctx)
    track_files = _resolve_refs("track_file", d.get("track_file", []), t, me, ctx)
    if len(track_scripts) != len(d.get("track_script", [])) or len(track_files) != len(d.get("track_file", [])):
        ok = False
    if not ok:
        return None
    return VrrpSyncGroup(
        name=d.name,
        members=tuple(members),
        notify=_notify_of(d),
        track_scripts=track_scripts,
        track_interfaces=_interface_refs(d.get("track_interface", [])),
        track_files=track_files,
        loc=node.loc,
    )


def _seq(draft: _Draft) -> int:
    return draft.node.seq if draft.node is not None else -1


def _build_config(path: str, p: _Parse) -> Config:
    ctx = p.ctx
    g = _complete_global(p.global_draft)

    scripts: dict[str, VrrpScript] = {}
    for name, d in p.scripts.items():
        s = _complete_script(d, ctx)
        if s is None:
            p.broken.add(("vrrp_script", name))
        else:
            scripts[name] = s
    pgsql: dict[str, VrrpPgsql] = {}
    for name, d in p.pgsql.items():
        if name in p.scripts:
            first = p.scripts[name].loc
            where = _where(first.file, first.line, d.loc.file)
            ctx.error(d.node, f"vrrp_pgsql '{name}' has the name of the vrrp_script at {where}")  # type: ignore[arg-type]
            p.broken.add(("vrrp_pgsql", name))
            continue
        c = _complete_pgsql(d, ctx)
        if c is None:
            p.broken.add(("vrrp_pgsql", name))
        else:
            pgsql[name] = c
    track_files: dict[str, VrrpTrackFile] = {}
    for name, d in p.track_files.items():
        f = _complete_track_file(d, ctx)
        if f is None:
            p.broken.add(("track_file", name))
        else:
            track_files[name] = f

    trackables = _Trackables(
        scripts={
            **{n: (s.weight_reverse, _seq(p.scripts[n])) for n, s in scripts.items()},
            **{n: (c.weight_reverse, _seq(p.pgsql[n])) for n, c in pgsql.items()},
        },
        files={n: (f.weight_reverse, _seq(p.track_files[n])) for n, f in track_files.items()},
        broken=p.broken,
    )

    completed: list[VrrpInstance] = []
    for d in p.instances.values():
        inst = _InstanceCompletion(d, g, p.global_draft, trackables, ctx).run()
        if inst is not None:
            completed.append(inst)
    conflicting = _check_vrid_conflicts(completed, ctx)
    instances = [i for i in completed if i.name not in conflicting]
    by_name = {i.name: i for i in instances}

    owner_of: dict[str, str] = {}
    groups: list[VrrpSyncGroup] = []
    for d in p.sync_groups.values():
        sg = _complete_sync_group(d, by_name, p.instances, owner_of, trackables, ctx)
        if sg is not None:
            groups.append(sg)

    return Config(
        path=path,
        global_defs=g,
        scripts=scripts,
        pgsql_checks=pgsql,
        track_files=track_files,
        instances=tuple(instances),
        sync_groups=tuple(groups),
    )


# -- entry points -----------------------------------------------------------------------------


def _parse_lines(path: str, lines: list[Line], lex_diagnostics: list[Diagnostic]) -> tuple[Config, list[Diagnostic]]:
    ctx = _Ctx()

    def report(severity: str, line: Line, message: str) -> None:
        ctx.report(severity, line, message)

    tree = build_tree(lines, report)
    p = _Parse(ctx)
    p.top(tree)
    config = _build_config(path, p)
    return config, _ordered(path, lines, lex_diagnostics + ctx.diagnostics)


def _ordered(path: str, lines: list[Line], diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics by file (in the order files were read) then line; stable otherwise."""
    rank: dict[str, int] = {path: 0}
    for ln in lines:
        rank.setdefault(ln.file, len(rank))
    for d in diagnostics:
        rank.setdefault(d.file, len(rank))
    return sorted(diagnostics, key=lambda d: (rank[d.file], d.line))


def parse_file(path: str, config_id: str | None = None) -> tuple[Config, list[Diagnostic]]:
    """Parse a keepalived.conf and its includes; never raises for a bad configuration.

    ``config_id`` selects ``@ID`` lines (default: the short host name, as keepalived).
    """
    lexer = Lexer(config_id)
    lines = lexer.lex_file(path)
    return _parse_lines(path, lines, lexer.diagnostics)


def parse_string(text: str, path: str = "<string>", config_id: str | None = None) -> tuple[Config, list[Diagnostic]]:
    """Parse configuration text; ``path`` names it in diagnostics and anchors includes."""
    lexer = Lexer(config_id)
    lines = lexer.lex_string(text, path)
    return _parse_lines(path, lines, lexer.diagnostics)


def load_config(path: str, config_id: str | None = None) -> Config:
    """Parse ``path`` for the daemon: raise :class:`ConfigError` for the first error."""
    config, diagnostics = parse_file(path, config_id)
    for d in diagnostics:
        if d.is_error:
            raise ConfigError(d.file, d.line, d.message)
    return config
