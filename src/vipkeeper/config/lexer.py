"""Lexer for keepalived.conf: physical lines in, logical lines of located tokens out.

What it does, following keepalived 2.2.7's ``lib/parser.c`` (``read_line``, ``decomment``,
``alloc_strvec_r``, ``check_definition``, ``replace_param``, ``check_include``):

* ``#`` and ``!`` start a comment anywhere outside double quotes (``\\#`` and ``\\!`` are
  literal characters); leading and trailing blanks are dropped.
* A line starting ``@ID`` is used only when ``ID`` is this host's config id (keepalived
  defaults it to the short host name); ``@^ID`` is used only when it is not.
* ``$NAME=value`` defines a parameter (a value ending in ``\\`` continues on the next lines:
  a multi-line definition).  ``${NAME}`` anywhere, or ``$NAME`` followed by a blank, ``,``,
  ``)`` or the end of the line, is replaced by its value; an unknown ``$NAME`` is left alone.
  Substituted text is scanned again (definitions may use definitions).  ``${_ENV NAME}``
  (keepalived 2.4) is the environment variable NAME (empty, with a warning, when unset).
* ``include GLOB`` reads the matching files (sorted) in place; a relative pattern is taken
  relative to the directory of the file containing the ``include``.
* A double-quoted string is one token and keeps its blanks; ``{`` and ``}`` outside quotes
  are tokens of their own even when glued to a word (``track_script{``).

keepalived is line-oriented (one keyword per line, its values on the same line), and it
splits a line at a brace: ``vrrp_instance VI_1 { state MASTER`` reads as the three lines
``vrrp_instance VI_1``, ``{``, ``state MASTER``.  The lexer does the same, so a brace is
always a :class:`Line` of its own, and every token knows its file and line.
"""

from __future__ import annotations

import glob
import os
import re
import socket
import stat
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]

#: keepalived's include variants: ``include`` plus ``includer``/``m``/``w``/``b``/``a``.
#: They only differ in which include problems keepalived reports; vipkeeper treats them alike.
_INCLUDE_RE = re.compile(r"include[rmwba]?[ \t]+(\S.*)$")
_DEFINITION_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)=[ \t]*(.*)$")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_CONFIG_ID_END_RE = re.compile(r"[ \t]")
_MAX_SUBSTITUTION_ROUNDS = 32
# keepalived 2.4 lib/parser.c add_std_definition("_ENV", ..., get_env_var, 1, 1): the value of
# an environment variable, e.g. ``file:${_ENV CREDENTIALS_DIRECTORY}/vrrp51``.
_ENV_RE = re.compile(r"\$\{_ENV[ \t]+([A-Za-z0-9_]+)[ \t]*\}")
_MAX_INCLUDE_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a configuration, located by file and 1-based line.

    ``str()`` gives the compiler-style ``FILE:LINE: error: message``; the line is left out
    when it is 0 (a problem with the file as a whole, e.g. it cannot be read).
    """

    severity: Severity
    file: str
    line: int
    message: str
    # False for a defect keepalived reports and runs with (it drops what is wrong): ``check``
    # fails on it as ``keepalived -t`` does, the daemon logs it and runs the same way.
    fatal: bool = True

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line > 0 else self.file
        # one line per diagnostic, whatever a quoted value contained
        message = _CONTROL_RE.sub(lambda m: repr(m.group())[1:-1], self.message)
        return f"{where}: {self.severity}: {message}"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    @property
    def stops_daemon(self) -> bool:
        """An error the daemon refuses to start (or reload) with."""
        return self.is_error and self.fatal


@dataclass(frozen=True, slots=True)
class Token:
    """One word of the configuration and where it was read.

    ``quoted`` is true for a double-quoted string (its value without the quotes): a quoted
    ``"{"`` is a word, not a brace.
    """

    value: str
    file: str
    line: int
    quoted: bool = False

    @property
    def is_open(self) -> bool:
        return self.value == "{" and not self.quoted

    @property
    def is_close(self) -> bool:
        return self.value == "}" and not self.quoted

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Line:
    """A logical line: a keyword and its values, or a lone brace.

    ``raw`` is the line's text after comment removal and ``$`` substitution (quotes kept),
    for the few keywords that re-read it with shell-like quoting (``script``, ``notify*``).
    """

    tokens: tuple[Token, ...]
    raw: str

    @property
    def file(self) -> str:
        return self.tokens[0].file

    @property
    def line(self) -> int:
        return self.tokens[0].line

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(t.value for t in self.tokens)

    @property
    def is_open(self) -> bool:
        return len(self.tokens) == 1 and self.tokens[0].is_open

    @property
    def is_close(self) -> bool:
        return len(self.tokens) == 1 and self.tokens[0].is_close


@dataclass(slots=True)
class _Definition:
    """A ``$NAME=value`` definition; a multi-line one has several lines."""

    lines: list[str] = field(default_factory=list)

    @property
    def multiline(self) -> bool:
        return len(self.lines) > 1


def _is_plain_file(path: str) -> bool:
    """A regular file without any execute bit (keepalived refuses to read anything else)."""
    try:
        st = os.stat(path)
    except OSError:
        return True  # let the read report why
    return stat.S_ISREG(st.st_mode) and not st.st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def default_config_id() -> str:
    """keepalived's default config id: the host name up to its first dot (``main.c``)."""
    return socket.gethostname().split(".", 1)[0]


def split_quoted_escaped(text: str) -> list[str]:
    """Split ``text`` into words the way keepalived re-reads script and notify lines.

    Single or double quotes group words; a backslash escapes the next character (with C-like
    ``\\n``, ``\\t``, ``\\xHH``, octal ``\\NNN`` forms), as keepalived's
    ``alloc_strvec_quoted_escaped`` (``lib/parser.c``).  An unterminated quote ends at the end
    of the text.
    """
    words: list[str] = []
    i, n = 0, len(text)
    simple = {"a": "\a", "b": "\b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        word: list[str] = []
        quote = ""
        while i < n:
            c = text[i]
            if c == "\\" and i + 1 < n:
                nxt = text[i + 1]
                if nxt == "x" and i + 2 < n and text[i + 2] in "0123456789abcdefABCDEF":
                    j = i + 2
                    while j < n and j < i + 4 and text[j] in "0123456789abcdefABCDEF":
                        j += 1
                    word.append(chr(int(text[i + 2 : j], 16)))
                    i = j
                elif nxt in "01234567":
                    j = i + 1
                    while j < n and j < i + 4 and text[j] in "01234567":
                        j += 1
                    word.append(chr(int(text[i + 1 : j], 8)))
                    i = j
                else:
                    word.append(simple.get(nxt, nxt))
                    i += 2
                continue
            if quote:
                if c == quote:
                    quote = ""
                else:
                    word.append(c)
                i += 1
                continue
            if c in "'\"":
                quote = c
                i += 1
                continue
            if c in " \t":
                break
            word.append(c)
            i += 1
        words.append("".join(word))
    return words


class Lexer:
    """Turns configuration text into :class:`Line` objects, collecting :class:`Diagnostic`.

    One lexer reads one configuration (the main file and everything it includes):
    ``$`` definitions are shared across included files, as in keepalived.
    """

    def __init__(self, config_id: str | None = None) -> None:
        self.config_id = default_config_id() if config_id is None else config_id
        self.diagnostics: list[Diagnostic] = []
        self._definitions: dict[str, _Definition] = {}
        self._open_files: list[str] = []  # real paths of the files being read (include stack)

    # -- entry points ---------------------------------------------------------------------

    def lex_file(self, path: str) -> list[Line]:
        """Read ``path`` (and its includes); an unreadable file is an error at line 0."""
        out: list[Line] = []
        text = self._read(path, path, 0)
        if text is not None:
            self._lex_text(text, path, out)
        return out

    def lex_string(self, text: str, path: str = "<string>") -> list[Line]:
        """Read configuration text; includes are relative to ``path``'s directory."""
        out: list[Line] = []
        self._lex_text(text, path, out)
        return out

    # -- diagnostics ----------------------------------------------------------------------

    def _error(self, file: str, line: int, message: str) -> None:
        self.diagnostics.append(Diagnostic("error", file, line, message))

    def _warning(self, file: str, line: int, message: str) -> None:
        self.diagnostics.append(Diagnostic("warning", file, line, message))

    # -- files ----------------------------------------------------------------------------

    def _read(self, path: str, where_file: str, where_line: int) -> str | None:
        """The text of ``path``, or None after reporting why not at ``where_file:where_line``."""
        try:
            with open(path, "rb") as f:
                data = f.read()
        except IsADirectoryError:
            self._error(where_file, where_line, f"'{path}' is a directory, not a configuration file")
            return None
        except OSError as e:
            what = "cannot read configuration file" if where_line == 0 else "cannot read included file"
            self._error(where_file, where_line, f"{what} '{path}': {e.strerror or e}")
            return None
        # keepalived is byte-oriented: keep undecodable bytes (surrogateescape) rather than fail.
        return data.decode("utf-8", errors="surrogateescape")

    def _lex_text(self, text: str, path: str, out: list[Line]) -> None:
        real = os.path.realpath(path) if not path.startswith("<") else path
        self._open_files.append(real)
        try:
            self._lex_lines(text, path, out)
        finally:
            self._open_files.pop()

    def _lex_lines(self, text: str, path: str, out: list[Line]) -> None:
        pending: _Definition | None = None  # a multi-line definition being read
        # Split on "\n" only (as fgets does): str.splitlines() also splits on \f, \v, \x1c...
        # and would shift line numbers.
        for lineno, physical in enumerate(text.split("\n"), 1):
            body, continued = self._decomment(physical.rstrip("\r"), path, lineno)
            if pending is not None:
                # keepalived: a blank line or a line without a trailing '\' ends the definition.
                if body:
                    pending.lines.append(body)
                if not continued or not body:
                    pending = None
                continue
            if not body:
                continue
            pending = self._process(body, continued, path, lineno, out, 0)

    # -- one line ---------------------------------------------------------------------------

    def _decomment(self, text: str, path: str, lineno: int) -> tuple[str, bool]:
        """Strip comments and blanks; return (text, ends_with_continuation_backslash)."""
        text = text.lstrip(" \t")
        out: list[str] = []
        quote = False
        continued = False
        i, n = 0, len(text)
        while i < n:
            c = text[i]
            if c == '"':
                quote = not quote
            elif c == "\\":
                if i + 1 >= n:
                    continued = True
                    break
                nxt = text[i + 1]
                if not quote and nxt in "#!":
                    out.append(nxt)  # an escaped comment character is a plain character
                else:
                    out.append(c)
                    out.append(nxt)
                i += 2
                continue
            elif not quote and c in "#!":
                break
            out.append(c)
            i += 1
        if quote:
            self._error(path, lineno, "unterminated quote: a '\"' is missing on this line")
        return "".join(out).rstrip(" \t"), continued

    def _process(
        self, text: str, continued: bool, path: str, lineno: int, out: list[Line], rounds: int
    ) -> _Definition | None:
        """Handle one decommented line; return a definition still reading continuation lines."""
        if text.startswith("@"):
            selected = self._select_config_id(text)
            if selected is None:
                return None
            text = selected
            if not text:
                return None

        if text.startswith("$"):
            m = _DEFINITION_RE.match(text)
            if m:
                name, value = m.group(1), m.group(2)
                definition = _Definition([value] if (value or not continued) else [])
                self._definitions[name] = definition
                return definition if continued else None

        if "${_ENV" in text:
            text = self._expand_env(text, path, lineno)

        if self._definitions and "$" in text:
            expanded = self._substitute(text)
            if expanded is not None:
                if rounds >= _MAX_SUBSTITUTION_ROUNDS:
                    self._error(path, lineno, "too many nested '$' substitutions (a definition that uses itself?)")
                    return None
                for piece in expanded:
                    piece, _ = self._decomment(piece, path, lineno)
                    if piece:
                        self._process(piece, False, path, lineno, out, rounds + 1)
                return None

        m = _INCLUDE_RE.match(text)
        if m:
            self._include(m.group(1).strip(), path, lineno, out)
            return None

        self._tokenize(text, path, lineno, out)
        return None

    def _expand_env(self, text: str, path: str, lineno: int) -> str:
        """``${_ENV NAME}`` -> the environment variable NAME (keepalived 2.4); an unset one is
        empty, with a warning."""

        def value(m: re.Match[str]) -> str:
            got = os.environ.get(m.group(1))
            if got is None:
                self._warning(path, lineno, f"environment variable '{m.group(1)}' (${{_ENV {m.group(1)}}}) is not set")
                return ""
            return got

        return _ENV_RE.sub(value, text)

    def _select_config_id(self, text: str) -> str | None:
        """``@ID rest``: ``rest`` if ID is our config id (``@^ID``: if it is not), else None."""
        reverse = text.startswith("@^")
        start = 2 if reverse else 1
        m = _CONFIG_ID_END_RE.search(text, start)
        if m is None:
            return None  # nothing after the id: keepalived drops the line
        ident = text[start : m.start()]
        if (ident == self.config_id) == reverse:
            return None
        return text[m.end() :].lstrip(" \t")

    def _substitute(self, text: str) -> list[str] | None:
        """Replace known ``$NAME`` / ``${NAME}`` once; None when nothing was replaced.

        A multi-line definition may only be used at the end of a line; it yields several lines.
        """
        pieces: list[str] = []
        extra_lines: list[str] = []
        changed = False
        i = 0
        while True:
            j = text.find("$", i)
            if j < 0 or j + 1 >= len(text):
                pieces.append(text[i:])
                break
            braces = text[j + 1] == "{"
            m = _NAME_RE.match(text, j + 2 if braces else j + 1)
            definition = None
            end = j + 1
            if m:
                name = m.group(0)
                if braces:
                    ok = m.end() < len(text) and text[m.end()] == "}"
                    end = m.end() + 1
                else:
                    ok = m.end() == len(text) or text[m.end()] in " \t,)"
                    end = m.end()
                definition = self._definitions.get(name) if ok else None
                if definition is not None and definition.multiline and end != len(text):
                    definition = None
            if definition is None:
                pieces.append(text[i : j + 1])
                i = j + 1
                continue
            changed = True
            pieces.append(text[i:j])
            if definition.lines:
                pieces.append(definition.lines[0])
                extra_lines = definition.lines[1:]
            i = end
            if extra_lines:
                pieces.append(text[i:])
                break
        if not changed:
            return None
        return ["".join(pieces), *extra_lines]

    def _include(self, pattern: str, path: str, lineno: int, out: list[Line]) -> None:
        if pattern.startswith('"') and pattern.endswith('"') and len(pattern) >= 2:
            pattern = pattern[1:-1]
        base = os.path.dirname(path) if not path.startswith("<") else os.getcwd()
        full = pattern if os.path.isabs(pattern) else os.path.join(base, pattern)
        if len(self._open_files) >= _MAX_INCLUDE_DEPTH:
            self._error(path, lineno, f"includes nested more than {_MAX_INCLUDE_DEPTH} deep at '{pattern}'")
            return
        if "\0" in pattern:  # glob and open raise ValueError on it
            self._error(path, lineno, f"include {pattern!r}: a file name cannot contain a NUL byte")
            return
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(full))
            if not matches:
                # keepalived only logs this (unless started with --include-check)
                self._warning(path, lineno, f"no configuration file matches include '{pattern}'")
                return
        else:
            if not os.path.lexists(full):
                self._error(path, lineno, f"included file '{pattern}' not found")
                return
            matches = [full]
        for match in matches:
            if os.path.isdir(match):
                self._warning(path, lineno, f"included '{match}' is a directory, skipped")
                continue
            if not _is_plain_file(match):
                # keepalived check_glob_file(): "not a regular non-executable file - skipping"
                report = self._warning if len(matches) > 1 or glob.has_magic(pattern) else self._error
                report(path, lineno, f"included '{match}' is not a regular non-executable file, skipped")
                continue
            real = os.path.realpath(match)
            if real in self._open_files:
                self._error(path, lineno, f"include recursion: '{match}' is already being read")
                continue
            text = self._read(match, path, lineno)
            if text is not None:
                self._lex_text(text, match, out)

    def _tokenize(self, text: str, path: str, lineno: int, out: list[Line]) -> None:
        """Split a line into tokens, and into logical lines at each unquoted brace."""
        tokens: list[Token] = []
        start_of_line = 0
        i, n = 0, len(text)

        def flush(end: int) -> None:
            nonlocal tokens
            if tokens:
                out.append(Line(tuple(tokens), text[start_of_line:end].strip(" \t")))
                tokens = []

        while i < n:
            c = text[i]
            if c in " \t":
                i += 1
                continue
            if c == '"':
                j = i + 1
                while j < n and text[j] != '"':
                    j += 2 if text[j] == "\\" else 1
                j = min(j, n)
                if not tokens:
                    start_of_line = i
                tokens.append(Token(text[i + 1 : j], path, lineno, quoted=True))
                i = j + 1
                continue
            if c in "{}":
                flush(i)
                out.append(Line((Token(c, path, lineno),), c))
                i += 1
                continue
            j = i
            while j < n and text[j] not in ' \t"{}':
                j += 1
            if not tokens:
                start_of_line = i
            tokens.append(Token(text[i:j], path, lineno))
            i = j
        flush(n)


def lex_file(path: str, config_id: str | None = None) -> tuple[list[Line], list[Diagnostic]]:
    """Lex a configuration file and its includes."""
    lexer = Lexer(config_id)
    lines = lexer.lex_file(path)
    return lines, lexer.diagnostics


def lex_string(text: str, path: str = "<string>", config_id: str | None = None) -> tuple[list[Line], list[Diagnostic]]:
    """Lex configuration text (includes are relative to ``path``'s directory)."""
    lexer = Lexer(config_id)
    lines = lexer.lex_string(text, path)
    return lines, lexer.diagnostics
