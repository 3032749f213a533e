"""The parsed block tree: logical lines matched into :class:`Node` objects by their braces.

Unbalanced braces are reported at the line of the block that is not closed (or of the stray
brace).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vipkeeper.config.lexer import Line, Token
from vipkeeper.config.model import Location

__all__ = ["Node", "Report", "build_tree", "where_of"]


#: Blocks that only exist at the top level: meeting one inside a block means a '}' is missing.
#: (``track_file`` is left out: it is also a keyword inside vrrp_instance.)
_TOP_LEVEL_ONLY = frozenset(
    {
        "global_defs", "vrrp_instance", "vrrp_script", "vrrp_sync_group", "vrrp_pgsql", "vrrp_dcs",
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
    close: Line | None = None  # the '}' line that closed them (keepalived reports end-of-block defects there)

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


def where_of(file: str, line: int, from_file: str) -> str:
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
                stack.pop().close = ln
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
                        f"before '{name}' at {where_of(ln.file, ln.line, unclosed.line.file)}",
                    )
            stack.clear()
        elif stack and opens and stack[-1].name in _VALUE_BLOCKS and (stack[-1].name != "track_file" or len(stack) > 1):
            blk = stack.pop()
            report(
                "error",
                blk.line,
                f"missing '}}': block '{blk.describe()}' is not closed before '{name}' "
                f"at {where_of(ln.file, ln.line, blk.line.file)}",
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
