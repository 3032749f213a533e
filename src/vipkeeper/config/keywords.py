"""The keyword table machinery: a block's draft, the diagnostics context, and :func:`dispatch`,
which runs each keyword line of a block through its table (``keyword -> Kw(handler, arity,
block)``), reporting unknown keywords, a wrong number of values and bad values.

The helpers (:func:`value`, :func:`flag`, :func:`switch`, :func:`integer`, ...) build the
``Kw`` entries of the per-block tables in :mod:`vipkeeper.config.blocks`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vipkeeper.config.constants import UINT_MAX
from vipkeeper.config.lexer import Diagnostic, Line, Token
from vipkeeper.config.model import Location
from vipkeeper.config.tree import Node
from vipkeeper.config.values import BadValue, bool_option, decimal_units, first_word, whole_number


@dataclass(slots=True)
class Draft:
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


class Ctx:
    """Diagnostics for one parse, and the objects seen so far."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        # keepalived vrrp_iprule.c: a rule without a preference gets the next of 16384,
        # 16383, ... (RULE_START_PRIORITY), one countdown per family over the whole file.
        self.next_rule_priority: dict[int, int] = {4: 16384, 6: 16384}

    def report(self, severity: str, at: Token | Line | Node, message: str, fatal: bool = True) -> None:
        if isinstance(at, Node):
            at = at.line
        self.diagnostics.append(Diagnostic(severity, at.file, at.line, message, fatal))  # type: ignore[arg-type]

    def error(self, at: Token | Line | Node, message: str) -> None:
        self.report("error", at, message)

    def warning(self, at: Token | Line | Node, message: str) -> None:
        self.report("warning", at, message)

    def defect(self, at: Token | Line | Node, message: str) -> None:
        """An error keepalived reports and runs with, dropping what is wrong: ``vipkeeper
        check`` fails, the daemon logs it and runs without that object."""
        self.report("error", at, message, fatal=False)


Handler = Callable[[Draft, Node, Ctx], None]


@dataclass(frozen=True, slots=True)
class Kw:
    """One keyword of a block: its handler, how many values it takes, whether it has a block."""

    handler: Handler
    min_args: int = 0
    max_args: int | None = None
    block: bool = False


def dispatch(
    ctx: Ctx,
    nodes: Iterable[Node],
    table: Mapping[str, Kw],
    draft: Draft,
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
            ctx.error(
                node, f"'{name}' needs a value" if spec.min_args == 1 else f"'{name}' needs {spec.min_args} values"
            )
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
        except BadValue as bad:
            ctx.error(bad.at, bad.message)
            draft.failed.add(name)


def store(key: str, convert: Callable[[Node], Any]) -> Handler:
    def handler(draft: Draft, node: Node, ctx: Ctx) -> None:
        draft.set(key, convert(node), node)

    return handler


def value(key: str, convert: Callable[[Node], Any] = first_word) -> Kw:
    """``keyword VALUE``."""
    return Kw(store(key, convert), 1, 1)


def flag(key: str) -> Kw:
    """``keyword`` alone: sets ``key``."""
    return Kw(store(key, lambda node: True), 0, 0)


def switch(key: str) -> Kw:
    """``keyword [on|off]``: bare means on."""
    return Kw(store(key, bool_option), 0, 1)


def integer(key: str, lo: int, hi: int) -> Kw:
    return value(key, lambda node: whole_number(node.args[0], lo, hi, node.name))


def seconds_us(key: str, lo_us: int, hi_us: int) -> Kw:
    """Decimal seconds with microsecond resolution, stored in microseconds."""
    return value(key, lambda node: decimal_units(node.args[0], 6, lo_us, hi_us, node.name))


def repeat_count(key: str) -> Kw:
    """keepalived's garp repeat counts: 0 is accepted for compatibility and becomes 1."""

    def handler(draft: Draft, node: Node, ctx: Ctx) -> None:
        count = whole_number(node.args[0], 0, UINT_MAX, node.name)
        if count == 0:
            ctx.warning(node.args[0], f"{node.name} must be greater than 0, using 1")
            count = 1
        draft.set(key, count, node)

    return Kw(handler, 1, 1)


def invalid_is_ignored(kw: Kw) -> Kw:
    """For keywords whose bad value keepalived reports ("'%s' is invalid") and then runs
    without (the default stays): a defect, not a fatal error (:meth:`Ctx.defect`)."""
    inner = kw.handler

    def handler(draft: Draft, node: Node, ctx: Ctx) -> None:
        try:
            inner(draft, node, ctx)
        except BadValue as bad:
            ctx.defect(bad.at, f"{bad.message}; ignored, as keepalived does (the default applies)")

    return Kw(handler, kw.min_args, kw.max_args, kw.block)


def block(handler: Handler) -> Kw:
    return Kw(handler, 0, None, block=True)


def refused(why: str, *, takes_block: bool = False) -> Kw:
    """A keepalived keyword that would change the VIP, the wire or the host and that vipkeeper
    does not implement: an error naming it (the configuration does not run)."""

    def handler(draft: Draft, node: Node, ctx: Ctx) -> None:
        raise BadValue(node.line, f"'{node.name}' is not supported by vipkeeper: {why}")

    return Kw(handler, 0, None, block=takes_block)


def child_nodes(node: Node) -> list[Node]:
    return node.children or []
