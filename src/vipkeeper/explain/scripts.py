"""Check scripts: the file a ``script`` command runs, and where each host's copy is read from.

The rule (README, "vipkeeper explain"): a script's configured path is a path on the host that
runs it.  It is read at that path on *this* machine only for the host that is this machine
(``this_host``); for every host, a copy by file name next to that host's configuration, then in
each ``--script-dir``.  So a finding about a script's text is claimed only for the host whose
copy was read, and never from this machine's file for another host.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence

from vipkeeper.config.model import Config
from vipkeeper.explain.model import ScriptOrigin, ScriptText

#: Read at most this much of a check script (they are short shell scripts).
MAX_SCRIPT_BYTES = 256 * 1024


def script_path(command: str) -> str | None:
    """The file a ``script`` command runs: its first word, or the script an interpreter runs."""
    try:
        argv = shlex.split(command)
    except ValueError:
        argv = command.split()
    if not argv:
        return None
    if len(argv) > 1 and argv[0].rsplit("/", 1)[-1] in (
        "sh",
        "bash",
        "dash",
        "zsh",
        "ksh",
        "python",
        "python3",
        "perl",
    ):
        rest = [a for a in argv[1:] if not a.startswith("-")]
        return rest[0] if rest else None
    return argv[0]


def _read_text(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(MAX_SCRIPT_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None


def read_scripts(
    config: Config,
    config_path: str,
    script_dirs: Sequence[str] = (),
    *,
    this_host: bool = False,
    root: str = "/",
) -> dict[str, ScriptText]:
    """The text of each vrrp_script's file for one host, by its configured path (see :func:`script_path`).

    Looked for, first found wins: when ``this_host`` (the host is this machine), at its
    configured path under ``root`` (``/``: this machine's own file); then next to the
    configuration (a relative path from there, else by file name); then by file name in each
    of ``script_dirs`` (configurations are often collected away from their hosts).
    """
    found: dict[str, ScriptText] = {}
    base = os.path.dirname(config_path)
    for s in config.scripts.values():
        path = script_path(s.script)
        if not path or path in found:
            continue
        name = os.path.basename(path)
        candidates: list[tuple[str, ScriptOrigin]] = []
        if os.path.isabs(path):
            if this_host:
                candidates.append((os.path.join(root, path.lstrip("/")), "this-host"))
        else:
            candidates.append((os.path.join(base, path), "config-dir"))
        candidates.append((os.path.join(base, name), "config-dir"))
        candidates += [(os.path.join(d, name), "script-dir") for d in script_dirs]
        for c, origin in candidates:
            if os.path.isfile(c):
                text = _read_text(c)
                if text is not None:
                    found[path] = ScriptText(c, text, origin)
                    break
    return found
