"""``vipkeeper explain``: where the VIP sits, for every combination of check results.

The CLI (:mod:`vipkeeper.cli.explain`) parses the configuration of every host of a cluster
and reads the check scripts it can find (:func:`read_scripts`); :func:`explain` groups the
instances of all hosts into virtual routers (:mod:`~vipkeeper.explain.build`), runs
keepalived's election for every combination of tracker results
(:mod:`~vipkeeper.explain.election`) and looks for the known traps
(:mod:`~vipkeeper.explain.traps`); :func:`render_text` and :func:`to_json`
(:mod:`~vipkeeper.explain.render`) format the :class:`Report` (:mod:`~vipkeeper.explain.model`).
"""

from __future__ import annotations

from vipkeeper.explain.build import explain
from vipkeeper.explain.model import (
    CheckKind,
    Finding,
    HostInput,
    Report,
    Router,
    Row,
    ScriptOrigin,
    ScriptText,
    TrackerVar,
)
from vipkeeper.explain.render import render_text, to_json
from vipkeeper.explain.scripts import read_scripts, script_path

__all__ = [
    "CheckKind", "Finding", "HostInput", "Report", "Router", "Row", "ScriptOrigin", "ScriptText", "TrackerVar",
    "explain", "read_scripts", "render_text", "script_path", "to_json",
]  # fmt: skip
