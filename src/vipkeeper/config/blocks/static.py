"""The top-level ``static_ipaddress``, ``static_routes`` and ``static_rules`` blocks.

keepalived (vrrp_daemon.c ``start_vrrp``) removes leftovers of them and installs them at start,
whatever the VRRP state, and removes them at stop (``vrrp_terminate_phase2``); on a reload it
removes the entries that are gone and adds the new ones.  The line syntax is the one of
``virtual_ipaddress`` / ``virtual_routes`` / ``virtual_rules``
(:mod:`vipkeeper.config.blocks.routes`).
"""

from __future__ import annotations

import dataclasses

from vipkeeper.config.blocks.routes import lines_handler, routes_handler, rules_handler
from vipkeeper.config.keywords import Ctx, Draft
from vipkeeper.config.lexer import Token
from vipkeeper.config.model import VirtualAddress
from vipkeeper.config.tree import Node
from vipkeeper.config.values import BadValue, parse_virtual_address

__all__ = ["STATIC_BLOCKS", "static_block"]


def _static_address(tokens: tuple[Token, ...], ctx: Ctx) -> VirtualAddress:
    """A ``virtual_ipaddress`` line with ``dev``; ``no_track``: not put back when deleted."""
    no_track = any(t.value == "no_track" for t in tokens[1:])
    addr = parse_virtual_address(tuple(t for t in tokens if t.value != "no_track" or t is tokens[0]), ctx)
    if no_track:
        addr = dataclasses.replace(addr, no_track=True)
    if addr.dev is None:
        # keepalived puts it on global_defs' default_interface (eth0 unless set), which
        # vipkeeper does not implement: ask for the interface instead of guessing.
        raise BadValue(
            tokens[0],
            f"static address '{tokens[0].value}' needs 'dev IFNAME' "
            "(vipkeeper does not implement keepalived's default_interface)",
        )
    return addr


STATIC_BLOCKS = {
    "static_ipaddress": lines_handler("static_addresses", _static_address),
    "static_routes": routes_handler("static_routes", static=True),
    "static_rules": rules_handler("static_rules", static=True),
}


def static_block(draft: Draft, node: Node, ctx: Ctx) -> None:
    """One top-level ``static_*`` block (there may be several of each: they add up)."""
    if node.children is None:
        ctx.error(node, f"'{node.name}' needs a '{{ ... }}' block")
        return
    if node.args:
        ctx.warning(node.args[0], f"unexpected '{node.args[0].value}' after '{node.name}', ignored")
    STATIC_BLOCKS[node.name](draft, node, ctx)
