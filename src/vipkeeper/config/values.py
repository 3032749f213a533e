"""Value parsers: whole numbers, decimals, on/off switches, IP addresses, commands, and
virtual addresses (``ADDR[/PREFIX] [dev IF] ...``).

A value that cannot be used raises :class:`BadValue`; the keyword dispatcher
(:mod:`vipkeeper.config.keywords`) reports it as an error at ``BadValue.at``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from vipkeeper.config.lexer import Line, Token, split_quoted_escaped
from vipkeeper.config.model import IPAddress, Location, VirtualAddress
from vipkeeper.config.tree import Node

if TYPE_CHECKING:
    from vipkeeper.config.keywords import Ctx


class BadValue(Exception):
    """A value that cannot be used; the dispatcher reports it as an error at ``at``."""

    def __init__(self, at: Token | Line, message: str) -> None:
        super().__init__(message)
        self.at = at
        self.message = message


_INT_RE = re.compile(r"[+-]?[0-9]+")
_DECIMAL_RE = re.compile(r"([0-9]*)(?:\.([0-9]*))?")


def whole_number(tok: Token, lo: int, hi: int, what: str) -> int:
    if not _INT_RE.fullmatch(tok.value):
        raise BadValue(tok, f"{what}: '{tok.value}' is not a whole number")
    value = int(tok.value)
    if not lo <= value <= hi:
        raise BadValue(tok, f"{what} {value} is out of range [{lo}, {hi}]")
    return value


def decimal_units(tok: Token, digits: int, lo: int, hi: int, what: str) -> int:
    """A non-negative decimal with up to ``digits`` places, as an integer of 10**-digits units.

    ``lo`` and ``hi`` are in those units.  (keepalived's ``read_decimal_unsigned_long_func``.)
    """
    m = _DECIMAL_RE.fullmatch(tok.value)
    if not m or not (m.group(1) or m.group(2)):
        raise BadValue(tok, f"{what}: '{tok.value}' is not a number")
    whole, frac = m.group(1) or "0", m.group(2) or ""
    if len(frac) > digits:
        raise BadValue(tok, f"{what}: '{tok.value}' has too many decimal places (at most {digits})")
    value = int(whole) * 10**digits + int(frac.ljust(digits, "0") or "0")
    if not lo <= value <= hi:
        scale = 10**digits
        raise BadValue(tok, f"{what} {tok.value} is out of range [{lo / scale:g}, {hi / scale:g}]")
    return value


_TRUE = frozenset({"true", "on", "yes"})
_FALSE = frozenset({"false", "off", "no"})


def bool_option(node: Node) -> bool:
    """A switch with an optional value (keepalived's ``check_true_false``): bare means on."""
    if not node.args:
        return True
    word = node.args[0].value
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise BadValue(node.args[0], f"{node.name}: '{word}' is not one of on/off, true/false, yes/no")


def parse_ip(tok: Token, what: str, *, prefix_ok: bool = False) -> IPAddress:
    """An IPv4 or IPv6 address.  ``prefix_ok``: an ``ADDR/LEN`` is the address, as keepalived
    2.2.7 reads ``unicast_src_ip``, ``mcast_src_ip`` and ``unicast_peer`` entries (it parses
    them with its prefix-tolerant address parser and keeps the address)."""
    text = tok.value
    if prefix_ok and "/" in text:
        head, _, length = text.partition("/")
        if length.isdigit():
            text = head
    try:
        if "%" in text:  # a scope id: inet_pton() does not accept one
            raise ValueError
        return ipaddress.ip_address(text)
    except ValueError:
        raise BadValue(tok, f"{what}: '{text}' is not a valid IP address") from None


def first_word(node: Node) -> str:
    return node.args[0].value


def words_joined(node: Node) -> str:
    return " ".join(t.value for t in node.args)


def command_of(node: Node) -> tuple[str, list[str]]:
    """Re-read a script line with quotes and escapes: (command, extra words).

    keepalived re-parses script and notify lines with ``alloc_strvec_quoted_escaped`` and
    takes the word after the keyword as the command (itself split into argv when run).
    """
    words = split_quoted_escaped(node.line.raw)
    if len(words) < 2 or not words[1]:
        raise BadValue(node.line, f"'{node.name}' needs a command")
    return words[1], words[2:]


_SCOPES = {"global": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}


def parse_virtual_address(tokens: tuple[Token, ...], ctx: Ctx) -> VirtualAddress:
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
        raise BadValue(first, f"'{text}' is not a valid IP address") from None
    prefix = max_prefix
    if slash:
        if not prefix_text.isdigit() or not prefix_text.isascii() or int(prefix_text) > max_prefix:
            raise BadValue(first, f"'{text}': invalid prefix length '{prefix_text}' (0..{max_prefix})")
        prefix = int(prefix_text)
    interface = ipaddress.ip_interface(f"{address}/{prefix}")

    dev = brd = scope = label = None
    use_vmac = False
    brd_special = ""
    peer: IPAddress | None = None
    peer_prefix: int | None = None
    preferred_lft_s: int | None = None
    preferred_lft_set = False
    flags: dict[str, bool] = {}
    rest = list(tokens[1:])
    k = 0
    while k < len(rest):
        opt = rest[k]
        word = opt.value
        if word in ("dev", "scope", "brd", "broadcast", "label", "peer", "preferred_lft"):
            if k + 1 >= len(rest):
                raise BadValue(opt, f"'{word}' needs a value for '{text}'")
            arg = rest[k + 1]
            k += 2
            if word == "dev":
                if dev is not None:
                    raise BadValue(opt, f"'dev' given twice for '{text}'")
                dev = arg.value
            elif word == "scope":
                if arg.value not in _SCOPES and not (arg.value.isdigit() and int(arg.value) <= 255):
                    raise BadValue(arg, f"invalid scope '{arg.value}' for '{text}'")
                if family == 6:
                    ctx.warning(arg, f"a scope cannot be set for IPv6 address '{text}', ignored")
                else:
                    scope = arg.value
            elif word in ("brd", "broadcast"):
                if family == 6:
                    raise BadValue(opt, f"a broadcast address cannot be set for IPv6 address '{text}'")
                if arg.value in ("+", "-"):
                    brd_special = arg.value
                else:
                    try:
                        brd = ipaddress.IPv4Address(arg.value)
                    except ValueError:
                        raise BadValue(arg, f"invalid broadcast address '{arg.value}'") from None
            elif word == "label":
                if len(arg.value.encode()) >= 16:
                    raise BadValue(arg, f"address label '{arg.value}' is longer than 15 characters")
                if family == 6:
                    ctx.warning(arg, f"a label cannot be set for IPv6 address '{text}', ignored")
                else:
                    label = arg.value
            elif word == "peer":  # keepalived vrrp_ipaddress.c parse_ipaddress
                if peer is not None:
                    ctx.warning(arg, f"Peer {arg.value} - another peer has already been specified")
                    continue
                try:  # a bare address: keepalived parses the peer without a prefix
                    p_addr = ipaddress.ip_address(arg.value)
                except ValueError:
                    ctx.warning(arg, f"Invalid peer address {arg.value}")
                    continue
                if p_addr.version != family:
                    ctx.warning(arg, f"Peer address {arg.value} does not match address family")
                    continue
                if prefix != max_prefix:
                    ctx.warning(arg, "Cannot specify address prefix when specifying peer address - ignoring")
                peer, peer_prefix = p_addr, p_addr.max_prefixlen
            else:  # preferred_lft N|forever
                if arg.value == "forever":
                    preferred_lft_s, preferred_lft_set = None, True
                elif arg.value.isdigit() and arg.value.isascii() and int(arg.value) <= 0xFFFFFFFF:
                    preferred_lft_s, preferred_lft_set = int(arg.value), True
                else:
                    ctx.warning(arg, f"preferred_lft {arg.value} is invalid")
            continue
        if word == "use_vmac":  # keepalived vrrp_ipaddress.c: a macvlan of its own for this VIP
            use_vmac = True
        elif word in ("home", "mngtmpaddr", "noprefixroute", "autojoin", "no_track"):
            flags[word] = True
        elif word == "-nodad":
            flags["nodad"] = False
        else:
            ctx.warning(opt, f"unknown option '{word}' for virtual address '{text}', ignored")
        k += 1
    if peer_prefix is not None:
        prefix = peer_prefix  # keepalived: the address takes the peer's prefix length
        interface = ipaddress.ip_interface(f"{address}/{prefix}")
    if brd_special and peer is not None or brd is not None and peer is not None:
        ctx.warning(first, "Cannot specify broadcast and peer addresses - ignoring broadcast address")
        brd_special, brd = "", None
    if family == 6 and not preferred_lft_set:
        preferred_lft_s = 0 if prefix == 128 else None  # keepalived's defaults (a /128 is deprecated)
    if brd_special:
        if prefix > 30:
            raise BadValue(first, f"prefix length {prefix} is too long for a '{brd_special}' broadcast address")
        net = ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)
        brd = net.broadcast_address if brd_special == "+" else net.network_address
    return VirtualAddress(
        interface,
        dev=dev,
        brd=brd,
        scope=scope,
        label=label,
        use_vmac=use_vmac,
        loc=Location(first.file, first.line),
        peer=peer,
        preferred_lft_s=preferred_lft_s if family == 6 else None,
        **flags,
    )
