"""The data of ``vipkeeper explain``: what the CLI hands in (:class:`HostInput`,
:class:`ScriptText`) and the :class:`Report` it gets back (virtual routers, their table rows,
the findings)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from vipkeeper.config.lexer import Diagnostic
from vipkeeper.config.model import NOWHERE, Config, IPAddress, Location, VrrpInstance
from vipkeeper.core.tracking import Tracked

Severity = Literal["error", "warning", "info"]
CheckKind = Literal["auto", "primary", "service"]
TrackerKind = Literal["script", "pgsql", "dcs", "file", "interface", "process"]
#: Where a script's text was read: at its configured path on this machine (for the host that is
#: this machine only), next to the host's configuration, or in a ``--script-dir``.
ScriptOrigin = Literal["this-host", "config-dir", "script-dir"]

#: Beyond this many trackers in one virtual router the table is left out (2**N rows).
MAX_TRACKERS = 10
JSON_FORMAT_VERSION = 1
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class HostInput:
    """One host of the cluster, as the CLI read it.

    ``scripts`` maps a script's path (see :func:`script_path`) to its text, for the scripts
    the CLI could read; ``diagnostics`` are the parser's, for the traps it already detects.
    """

    label: str
    config: Config
    diagnostics: Sequence[Diagnostic] = ()
    scripts: Mapping[str, ScriptText] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ScriptText:
    """A check script's text, the file it was read from and how that file was found."""

    path: str
    text: str
    origin: ScriptOrigin | None = None  # None: handed in by the caller


@dataclass(frozen=True, slots=True)
class Finding:
    """One trap found: ``code`` is stable (for tests and JSON consumers), ``message`` is not."""

    severity: Severity
    code: str
    host: str | None
    message: str
    loc: Location | None = None
    router: str | None = None  # Router.key_str, or None for a host-wide finding

    def __str__(self) -> str:
        where = ""
        if self.loc is not None and self.loc != NOWHERE:
            where = f"{self.loc}: " if self.loc.line > 0 else f"{self.loc.file}: "
        who = f"{self.host}: " if self.host else ""
        return f"{where}{self.severity}: {who}{self.message}"


@dataclass(frozen=True, slots=True)
class TrackerVar:
    """One thing whose result varies across the table: a tracker on one host."""

    id: str
    host: str
    kind: TrackerKind
    name: str
    loc: Location
    primary_check: bool  # it tells a PostgreSQL primary from a standby (at most one passes)
    script: ScriptText | None = None  # a vrrp_script's text, when it was read

    def value(self, ok: bool) -> str:
        if self.kind == "interface":
            return "up" if ok else "down"
        if self.kind == "process":
            return "quorum" if ok else "no quorum"
        return "pass" if ok else "fail"


@dataclass(frozen=True, slots=True)
class Use:
    """How one instance uses a tracker (``Tracked`` plus where it was named)."""

    var: TrackerVar
    tracked: Tracked
    loc: Location


@dataclass(frozen=True, slots=True)
class Member:
    """One host's instance in a virtual router."""

    host: str
    instance: VrrpInstance
    uses: tuple[Use, ...]  # its own trackers: they weigh or fault
    group_faults: tuple[Use, ...]  # sync group trackers and siblings' weight-0 trackers: fault only

    @property
    def primary_ip(self) -> IPAddress | None:
        return self.instance.unicast_src_ip or self.instance.mcast_src_ip


@dataclass(frozen=True, slots=True)
class Row:
    results: tuple[bool, ...]  # one per Router.trackers, True = pass/up
    scenario: str
    holder: str | None
    priorities: tuple[int | None, ...]  # one per Router.members, None = FAULT
    tie: bool
    verdict: str  # correct, dead-node, split-brain, failing-holder, no-holder
    note: str
    healthy: tuple[str, ...]


@dataclass(slots=True)
class Router:
    """The instances of all hosts that form one virtual router: one VRID and family."""

    vrid: int
    family: int
    interface: str | None  # set only when one host has several instances for the VRID
    members: list[Member]
    trackers: list[TrackerVar] = field(default_factory=list)
    primary_checks: bool = False
    preferred: str | None = None
    rows: list[Row] = field(default_factory=list)
    table_skipped: str | None = None

    @property
    def key_str(self) -> str:
        fam = "IPv4" if self.family == 4 else "IPv6"
        return f"VRID {self.vrid} {fam}" + (f" {self.interface}" if self.interface else "")

    @property
    def hosts(self) -> list[str]:
        return [m.host for m in self.members]

    def member(self, host: str) -> Member:
        return next(m for m in self.members if m.host == host)


@dataclass(slots=True)
class Report:
    hosts: list[tuple[str, str]]  # (label, config path)
    routers: list[Router]
    findings: list[Finding]
