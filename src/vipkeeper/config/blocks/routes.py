"""Route and rule lines: ``virtual_routes`` / ``virtual_rules`` of a ``vrrp_instance`` and the
top-level ``static_routes`` / ``static_rules`` (see :mod:`vipkeeper.config.blocks.static`).

The syntax is keepalived 2.2.7's (``alloc_route`` in keepalived/vrrp/vrrp_iproute.c,
``alloc_rule`` in keepalived/vrrp/vrrp_iprule.c), its messages too where it refuses a line.
The commonly used options are implemented; the others keepalived knows (metrics such as
``mtu``, ``nexthop`` lists, ``encap``, ``realms``, ``uidrange``, ...) are refused with an
error that names the option, never silently dropped.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from vipkeeper.config.keywords import Ctx, Draft, Handler, child_nodes
from vipkeeper.config.lexer import Token
from vipkeeper.config.model import (
    RTPROT_KEEPALIVED,
    Family,
    IPAddress,
    IPInterface,
    Location,
    Route,
    RouteType,
    Rule,
    RuleAction,
)
from vipkeeper.config.tree import Node
from vipkeeper.config.values import BadValue

__all__ = ["lines_handler", "parse_route", "parse_rule", "routes_handler", "rules_handler"]

#: /etc/iproute2/rt_tables's fixed names (keepalived find_rttables_table also reads the file;
#: vipkeeper knows only these and numbers).
_TABLES = {"default": 253, "main": 254, "local": 255}
#: /etc/iproute2/rt_protos names keepalived and ip know (find_rttables_proto).
_PROTOCOLS = {
    "unspec": 0, "redirect": 1, "kernel": 2, "boot": 3, "static": 4, "gated": 8, "ra": 9, "mrt": 10,
    "zebra": 11, "bird": 12, "dnrouted": 13, "xorp": 14, "ntk": 15, "dhcp": 16, "keepalived": 18,
    "babel": 42, "bgp": 186, "isis": 187, "ospf": 188, "rip": 189, "eigrp": 192,
}  # fmt: skip
_SCOPES = {"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
_ROUTE_TYPES: dict[str, RouteType] = {
    "unicast": "unicast", "blackhole": "blackhole", "unreachable": "unreachable",
    "prohibit": "prohibit", "throw": "throw",
}  # fmt: skip
#: Route types keepalived accepts that vipkeeper does not install.
_ROUTE_TYPES_REFUSED = frozenset({"local", "broadcast", "anycast", "multicast", "nat", "xresolve"})
#: keepalived route options vipkeeper refuses (an error naming the option).
_ROUTE_REFUSED = frozenset(
    """as nexthop encap expires mtu hoplimit advmss rtt rttvar reordering window cwnd ssthresh
    realms rto_min initcwnd initrwnd features quickack congctl pref ttl-propagate
    fastopen_no_cookie vrf track_group append prepend""".split()
)
#: keepalived rule options vipkeeper refuses.
_RULE_REFUSED = frozenset(
    """realms suppress_prefixlength sup_pl suppress_ifgroup sup_group tunnel-id uidrange l3mdev
    ipproto sport dport track_group""".split()
)
_RULE_ACTIONS: dict[str, RuleAction] = {"blackhole": "blackhole", "unreachable": "unreachable", "prohibit": "prohibit"}


class _Words:
    """The words of one line, read left to right."""

    def __init__(self, tokens: tuple[Token, ...]) -> None:
        self.tokens = tokens
        self.i = 0

    def more(self) -> bool:
        return self.i < len(self.tokens)

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def value_of(self, opt: Token) -> Token:
        if not self.more():
            raise BadValue(opt, f"'{opt.value}' needs a value")
        return self.take()


def _family_of(addr: IPAddress | IPInterface) -> Family:
    return 4 if addr.version == 4 else 6


def _ip(tok: Token, message: str) -> IPAddress:
    try:
        if "%" in tok.value or "/" in tok.value:
            raise ValueError
        return ipaddress.ip_address(tok.value)
    except ValueError:
        raise BadValue(tok, message) from None


def _prefix(tok: Token, message: str, ctx: Ctx) -> tuple[IPInterface | None, Family | None]:
    """keepalived ``parse_route``: ``default``/``any``/``all`` (None, family not set),
    ``default6`` (deprecated), or ``ADDR[/LEN]`` (a too long LEN is cut, with a warning)."""
    if tok.value in ("default", "any", "all"):
        return None, None
    if tok.value == "default6":
        ctx.warning(tok, "'default6' is deprecated - please replace with 'inet6 default'")
        return None, 6
    text = tok.value
    try:
        if "%" in text:
            raise ValueError
        addr_text, slash, length = text.partition("/")
        addr = ipaddress.ip_address(addr_text)
        if slash and not (length.isascii() and length.isdigit()):
            raise ValueError
    except ValueError:
        raise BadValue(tok, message) from None
    prefixlen = int(length) if slash else addr.max_prefixlen
    if prefixlen > addr.max_prefixlen:
        ctx.warning(tok, f"Invalid address prefix len {prefixlen} for address {text} - using {addr.max_prefixlen}")
        prefixlen = addr.max_prefixlen
    net = ipaddress.ip_interface(f"{addr}/{prefixlen}")
    return net, _family_of(net)


def _number(tok: Token, names: dict[str, int], hi: int, message: str) -> int:
    word = tok.value
    if word in names:
        return names[word]
    try:
        value = int(word, 0)
    except ValueError:
        raise BadValue(tok, message) from None
    if not 0 <= value <= hi:
        raise BadValue(tok, message)
    return value


class _Family:
    """The family of a route or rule: set by its first address or ``inet``/``inet6``."""

    def __init__(self, what: str, mixed: str) -> None:
        self.value: Family | None = None
        self.what = what
        self.mixed = mixed

    def set(self, family: Family, at: Token) -> None:
        if self.value is None:
            self.value = family
        elif self.value != family:
            raise BadValue(at, self.mixed)

    def keyword(self, tok: Token, w: _Words) -> None:
        if w.more():
            # keepalived 2.2.7 alloc_route / alloc_rule step over the word after inet/inet6
            # (two increments), so 'inet6 default via ...' has no destination there.
            raise BadValue(
                tok,
                f"'{tok.value}' is only understood as the last word of a {self.what}: keepalived 2.2.7 "
                f"skips the word after it ('{w.tokens[w.i].value}')",
            )
        family: Family = 6 if tok.value == "inet6" else 4
        if self.value is not None and self.value != family:
            raise BadValue(tok, f"{tok.value} specified for IPv{self.value} {self.what}")
        self.value = family


def _refused(tok: Token, what: str) -> BadValue:
    return BadValue(tok, f"{what} option '{tok.value}' is not supported by vipkeeper")


def _tracked_protocol(ctx: Ctx, what: str, protocol: int | None, at: Token | None, no_track: bool) -> int | None:
    """keepalived: a tracked route or rule (no ``no_track``) gets protocol RTPROT_KEEPALIVED,
    whatever ``protocol`` said (with a warning)."""
    if no_track:
        return protocol
    if protocol is not None and protocol != RTPROT_KEEPALIVED and at is not None:
        ctx.warning(
            at,
            f"{what} cannot be tracked if protocol is not RTPROT_KEEPALIVED({RTPROT_KEEPALIVED}), resetting protocol",
        )
    return RTPROT_KEEPALIVED


def parse_route(tokens: tuple[Token, ...], ctx: Ctx, static: bool) -> Route:
    """One route line (keepalived ``alloc_route``)."""
    w = _Words(tokens)
    fam = _Family("route", "Cannot mix IPv4 and IPv6 addresses for route")
    dst: IPInterface | None = None
    dst_at: Token | None = None
    rtype: RouteType = "unicast"
    src = via = None
    nexthops: list[IPAddress] = []
    dev: str | None = None
    scope = metric = tos = None
    protocol: int | None = None
    protocol_at: Token | None = None
    table = 254
    onlink = no_track = False
    what = "static route" if static else "virtual route"
    while w.more():
        tok = w.take()
        word = tok.value
        if word in ("inet", "inet6"):
            fam.keyword(tok, w)
        elif word == "src":
            arg = w.value_of(tok)
            src = _ip(arg, f"invalid route src address {arg.value}")
            fam.set(_family_of(src), arg)
        elif word in ("via", "gw"):
            if word == "gw":
                ctx.warning(tok, '"gw" for routes is deprecated. Please use "via"')
            arg = w.value_of(tok)
            if arg.value in ("inet", "inet6"):  # 'via inet6 ADDR': no word skipped here
                fam.set(6 if arg.value == "inet6" else 4, arg)
                arg = w.value_of(tok)
            via = _ip(arg, f"invalid route via address {arg.value}")
            fam.set(_family_of(via), arg)
        elif word == "or":
            ctx.warning(tok, '"or" for routes is deprecated. Please use "nexthop"')
            arg = w.value_of(tok)
            if nexthops:
                ctx.warning(tok, '"or" route already specified - ignoring subsequent')
                continue
            gw = _ip(arg, f'Invalid "or" address {arg.value}')
            fam.set(_family_of(gw), arg)
            if via is None:
                raise BadValue(tok, '"or" needs a "via" address before it')
            nexthops = [via, gw]
            via = None
        elif word in ("tos", "dsfield"):
            arg = w.value_of(tok)
            tos = _number(arg, {}, 255, f"TOS value {arg.value} is invalid")
        elif word == "table":
            arg = w.value_of(tok)
            table = _number(arg, _TABLES, 0xFFFFFFFF, f"Routing table {arg.value} not found for route")
        elif word == "protocol":
            arg = w.value_of(tok)
            protocol = _number(arg, _PROTOCOLS, 255, f"Protocol {arg.value} not found or invalid for route")
            protocol_at = arg
        elif word == "scope":
            arg = w.value_of(tok)
            scope = _number(arg, _SCOPES, 255, f"Scope {arg.value} not found or invalid for route")
        elif word in ("metric", "priority", "preference"):
            arg = w.value_of(tok)
            metric = _number(arg, {}, 0xFFFFFFFF, f"Invalid metric {arg.value} specified for route")
        elif word in ("dev", "oif"):
            dev = w.value_of(tok).value
        elif word == "onlink":
            onlink = True
        elif word == "no_track":
            no_track = True
        elif word == "add":
            pass  # 'ip route add': what vipkeeper does
        elif word in _ROUTE_REFUSED:
            raise _refused(tok, what)
        else:
            if word == "to":
                tok = w.value_of(tok)
            if tok.value in _ROUTE_TYPES or tok.value in _ROUTE_TYPES_REFUSED:
                if tok.value in _ROUTE_TYPES_REFUSED:
                    raise BadValue(tok, f"{what} type '{tok.value}' is not supported by vipkeeper")
                rtype = _ROUTE_TYPES[tok.value]
                tok = w.value_of(tok)
            dst, dst_family = _prefix(tok, f"unknown route keyword {tok.value}", ctx)
            dst_at = tok
            # keepalived: 'default' (no family) after a family is set is a mismatch too
            if fam.value is not None and dst_family != fam.value:
                raise BadValue(tok, f"Cannot mix IPv4 and IPv6 addresses for route ({tok.value})")
            fam.value = dst_family
    if dst_at is None:
        raise BadValue(tokens[0], "Route must have a destination")
    protocol = _tracked_protocol(ctx, "Route", protocol, protocol_at, no_track)
    if not no_track:
        if dev is None:
            msg = f"Warning - cannot track route {dst_at.value} with no interface specified, not tracking"
            ctx.warning(dst_at, msg)
    if rtype != "unicast" and (via is not None or nexthops):
        raise BadValue(tokens[0], f"a {rtype} route cannot have a gateway")
    return Route(
        family=fam.value or 4,
        dst=dst,
        type=rtype,
        src=src,
        via=via,
        nexthops=tuple(nexthops),
        dev=dev,
        scope=scope,
        table=table,
        metric=metric,
        protocol=protocol,
        tos=tos,
        onlink=onlink,
        no_track=no_track,
        loc=Location(tokens[0].file, tokens[0].line),
    )


def _fwmark(tok: Token) -> tuple[int, int | None]:
    mark_text, slash, mask_text = tok.value.partition("/")
    try:
        mark = int(mark_text, 0)
        mask = int(mask_text, 0) if slash else None
    except ValueError:
        raise BadValue(tok, f"Invalid rule fwmark {tok.value} specified") from None
    if not 0 <= mark <= 0xFFFFFFFF or (mask is not None and not 0 <= mask <= 0xFFFFFFFF):
        raise BadValue(tok, f"Invalid rule fwmark {tok.value} specified")
    return mark, mask


def parse_rule(tokens: tuple[Token, ...], ctx: Ctx, static: bool) -> Rule:
    """One rule line (keepalived ``alloc_rule``)."""
    w = _Words(tokens)
    fam = _Family("rule", "rule specification has mixed IPv4 and IPv6")
    src = dst = None
    action: RuleAction | None = None
    table = goto_target = priority = tos = fwmark = fwmask = None
    iif = oif = None
    protocol: int | None = None
    protocol_at: Token | None = None
    invert = no_track = False
    what = "static rule" if static else "virtual rule"

    def set_action(new: RuleAction, at: Token) -> None:
        nonlocal action
        if action is not None:
            raise BadValue(at, "Cannot specify more than one of table/nop/goto/blackhole/prohibit/unreachable for rule")
        action = new

    while w.more():
        tok = w.take()
        word = tok.value
        if word in ("inet", "inet6"):
            fam.keyword(tok, w)
        elif word in ("from", "to"):
            arg = w.value_of(tok)
            addr, addr_family = _prefix(arg, f"Invalid rule {word} address {arg.value}", ctx)
            if fam.value is None:
                fam.value = addr_family
            elif addr_family != fam.value:  # keepalived: 'all' after a family is set too
                raise BadValue(arg, "rule specification has mixed IPv4 and IPv6")
            if word == "from":
                src = addr
            else:
                dst = addr
        elif word in ("table", "lookup"):
            arg = w.value_of(tok)
            table = _number(arg, _TABLES, 0xFFFFFFFF, f"Routing table {arg.value} not found for rule")
            if table == 0:
                raise BadValue(arg, "Table 0 is not valid")
            set_action("table", tok)
        elif word == "not":
            invert = True
        elif word in ("preference", "order", "priority"):
            arg = w.value_of(tok)
            priority = _number(arg, {}, 0xFFFFFFFF, f"Invalid rule preference {arg.value} specified")
        elif word in ("tos", "dsfield"):
            arg = w.value_of(tok)
            tos = _number(arg, {}, 255, f"TOS value {arg.value} is invalid")
        elif word == "fwmark":
            fwmark, fwmask = _fwmark(w.value_of(tok))
        elif word in ("dev", "iif"):
            iif = w.value_of(tok).value
        elif word == "oif":
            oif = w.value_of(tok).value
        elif word == "protocol":
            arg = w.value_of(tok)
            protocol = _number(arg, _PROTOCOLS, 255, f"Invalid protocol {arg.value}")
            protocol_at = arg
        elif word == "no_track":
            no_track = True
        elif word in _RULE_REFUSED:
            raise _refused(tok, what)
        else:
            if word == "type":
                tok = w.value_of(tok)
            if tok.value == "goto":
                arg = w.value_of(tok)
                goto_target = _number(arg, {}, 0xFFFFFFFF, f"Invalid target {arg.value} specified")
                set_action("goto", tok)
            elif tok.value == "nop":
                set_action("nop", tok)
            elif tok.value in _RULE_ACTIONS:
                set_action(_RULE_ACTIONS[tok.value], tok)
            elif tok.value in _ROUTE_TYPES or tok.value in _ROUTE_TYPES_REFUSED:
                raise BadValue(tok, f"Invalid rule action {tok.value}")
            else:
                raise BadValue(tok, f"Unknown rule option {tok.value}")
    if action == "goto":
        assert goto_target is not None
        if priority is None:
            raise BadValue(tokens[0], f"Invalid rule - goto target {goto_target} specified without preference")
        if priority >= goto_target:
            raise BadValue(tokens[0], f"Invalid rule - preference {priority} >= goto target {goto_target}")
    if action is None:
        raise BadValue(tokens[0], "No action specified for rule - ignoring")
    protocol = _tracked_protocol(ctx, "Rule", protocol, protocol_at, no_track)
    family: Family = fam.value or 4
    if priority is None:
        # keepalived: one countdown per family over the whole file, from 16384 (RULE_START_PRIORITY)
        priority = ctx.next_rule_priority[family]
        ctx.next_rule_priority[family] -= 1
        ctx.warning(
            tokens[0], f"Rule has no preference specified - setting to {priority}. This is probably not what you want."
        )
    return Rule(
        family=family,
        action=action,
        priority=priority,
        src=src,
        dst=dst,
        table=table,
        goto_target=goto_target,
        invert=invert,
        tos=tos,
        fwmark=fwmark,
        fwmask=fwmask,
        iif=iif,
        oif=oif,
        protocol=protocol,
        no_track=no_track,
        loc=Location(tokens[0].file, tokens[0].line),
    )


def lines_handler(key: str, parse: Callable[[tuple[Token, ...], Ctx], object]) -> Handler:
    """A block of one item a line; a bad line is an error naming its line, the others stay."""

    def handler(draft: Draft, node: Node, ctx: Ctx) -> None:
        items: list[object] = draft.values.setdefault(key, [])
        draft.nodes.setdefault(key, node)
        for child in child_nodes(node):
            try:
                if child.children is not None:
                    raise BadValue(child.line, f"unexpected block after '{child.name}'")
                items.append(parse(child.line.tokens, ctx))
            except BadValue as bad:
                ctx.error(bad.at, bad.message)
                draft.failed.add(node.name)

    return handler


def routes_handler(key: str, static: bool) -> Handler:
    return lines_handler(key, lambda tokens, ctx: parse_route(tokens, ctx, static))


def rules_handler(key: str, static: bool) -> Handler:
    return lines_handler(key, lambda tokens, ctx: parse_rule(tokens, ctx, static))
