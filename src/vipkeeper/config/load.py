"""keepalived.conf parser entry points: :func:`parse_file`, :func:`parse_string`, :func:`load_config`.

Three steps:

1. :mod:`vipkeeper.config.lexer` gives logical lines of located tokens (braces alone).
2. :func:`vipkeeper.config.tree.build_tree` matches braces into :class:`Node` objects,
   reporting unbalanced braces at the line of the block that is not closed (or of the stray brace).
3. :mod:`vipkeeper.config.build`: each block kind (:mod:`vipkeeper.config.blocks`) has a
   declarative keyword table (``keyword -> Kw(handler, arity, block)``, machinery in
   :mod:`vipkeeper.config.keywords`) that fills a draft; each kind's completion then applies
   keepalived 2.2.7's rules (``vrrp_complete_instance`` in ``keepalived/vrrp/vrrp.c``) and
   builds the frozen model; :mod:`vipkeeper.config.references` resolves the track_* names.

Problems are collected as :class:`Diagnostic` (errors and warnings) so that one run reports
many of them; :func:`parse_file` never raises for a bad configuration.  :func:`load_config`
is for the daemon: it raises :class:`ConfigError` for the first error.

Severity policy: a value keepalived rejects, or a configuration it cannot run as written, is
an *error*; something keepalived adjusts and runs with (truncating a password, rounding a
v2 advert interval, clearing an incompatible option) or ignores (unknown keyword) is a
*warning*.
"""

from __future__ import annotations

from vipkeeper.config.build import build_config
from vipkeeper.config.keywords import Ctx
from vipkeeper.config.lexer import Diagnostic, Lexer, Line
from vipkeeper.config.model import Config
from vipkeeper.config.tree import build_tree
from vipkeeper.errors import ConfigError

__all__ = ["load_config", "parse_file", "parse_string"]


def _parse_lines(path: str, lines: list[Line], lex_diagnostics: list[Diagnostic]) -> tuple[Config, list[Diagnostic]]:
    ctx = Ctx()

    def report(severity: str, line: Line, message: str) -> None:
        ctx.report(severity, line, message)

    tree = build_tree(lines, report)
    config = build_config(path, tree, ctx)
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
    """Parse ``path`` for the daemon: raise :class:`ConfigError` for the first error it cannot
    run with (a defect keepalived runs with, such as a script dropped for want of a user, is not)."""
    config, diagnostics = parse_file(path, config_id)
    for d in diagnostics:
        if d.stops_daemon:
            raise ConfigError(d.file, d.line, d.message)
    return config
