"""``vipkeeper explain``: where the VIP sits, for every combination of check results.

Pure code: the CLI (:mod:`vipkeeper.cli_explain`) parses the configuration of every host of a
cluster and reads the check scripts it can find; :func:`explain` groups the instances of all
hosts into virtual routers, runs keepalived's election for every combination of tracker
results and looks for the known traps; :func:`render_text` and :func:`to_json` format the
:class:`Report`.

Election rules (keepalived 2.2.7, RFC 3768/5798): a host in FAULT does not hold the VIP; the
highest effective priority wins; on equal priorities the current master keeps the VIP (a
BACKUP only takes over from a master with a lower priority), and two simultaneous masters
settle it by the higher primary IP address, which is what the static table shows.  The
weight arithmetic is :mod:`vipkeeper.core.tracking`'s.
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from vipkeeper.config.lexer import Diagnostic
from vipkeeper.config.model import NOWHERE, Config, IPAddress, Location, TrackRef, VrrpInstance
from vipkeeper.core.tracking import Status, Tracked, clamp_priority, evaluate, is_fault

__all__ = [
    "CheckKind", "Finding", "HostInput", "Report", "Router", "Row", "ScriptText", "TrackerVar",
    "explain", "render_text", "script_path", "to_json",
]  # fmt: skip

Severity = Literal["error", "warning", "info"]
CheckKind = Literal["auto", "primary", "service"]
TrackerKind = Literal["script", "pgsql", "file", "interface"]

#: Beyond this many trackers in one virtual router the table is left out (2**N rows).
MAX_TRACKERS = 10
JSON_FORMAT_VERSION = 1
_SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


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
    """A check script's text and the file it was read from."""

    path: str
    text: str


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

    def value(self, ok: bool) -> str:
        if self.kind == "interface":
            return "up" if ok else "down"
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


# -- building the virtual routers -------------------------------------------------------------


_PRIMARY_WORDS = re.compile(
    r"pg_isready|pg_is_in_recovery|standby\.signal|recovery\.conf|repmgr|patroni|pgsql|postgres|psql",
    re.IGNORECASE,
)


def script_path(command: str) -> str | None:
    """The file a ``script`` command runs: its first word, or the script an interpreter runs."""
    try:
        argv = shlex.split(command)
    except ValueError:
        argv = command.split()
    if not argv:
        return None
    if len(argv) > 1 and argv[0].rsplit("/", 1)[-1] in ("sh", "bash", "dash", "zsh", "ksh", "python", "python3", "perl"):
        rest = [a for a in argv[1:] if not a.startswith("-")]
        return rest[0] if rest else None
    return argv[0]


class _Builder:
    def __init__(self, hosts: Sequence[HostInput], check_kind: CheckKind) -> None:
        self.hosts = hosts
        self.check_kind = check_kind
        self.vars: dict[tuple[str, str, str], TrackerVar] = {}

    def var(self, h: HostInput, kind: TrackerKind, name: str, loc: Location) -> TrackerVar:
        key = (h.label, kind, name)
        v = self.vars.get(key)
        if v is None:
            primary = False
            if kind == "pgsql":
                primary = True
            elif kind == "script":
                s = h.config.scripts[name]
                text = h.scripts.get(script_path(s.script) or "")
                primary = bool(_PRIMARY_WORDS.search(s.script) or (text and _PRIMARY_WORDS.search(text.text)))
            if self.check_kind != "auto" and kind != "interface":
                primary = self.check_kind == "primary"
            vid = f"{h.label}:{name}"
            if any(o.id == vid for o in self.vars.values()):  # a script and an interface of one name
                vid = f"{h.label}:{kind}:{name}"
            v = TrackerVar(vid, h.label, kind, name, loc, primary)
            self.vars[key] = v
        return v

    def uses_of(self, h: HostInput, scripts: Sequence[TrackRef], files: Sequence[TrackRef],
                interfaces: Sequence[TrackRef], force_weight_0: bool = False) -> list[Use]:
        """Resolve track_* entries as the daemon does (an entry's weight overrides the object's)."""
        cfg = h.config
        out: list[Use] = []
        for ref in scripts:
            if ref.name in cfg.scripts:
                obj_s = cfg.scripts[ref.name]
                kind: TrackerKind = "script"
                weight, reverse, loc = obj_s.weight, obj_s.weight_reverse, obj_s.loc
            elif ref.name in cfg.pgsql_checks:
                obj_p = cfg.pgsql_checks[ref.name]
                kind = "pgsql"
                weight, reverse, loc = obj_p.weight, obj_p.weight_reverse, obj_p.loc
            else:  # the parser reported it
                continue
            out.append(self._use(h, kind, ref, weight, reverse, loc, force_weight_0))
        for ref in files:
            if ref.name in cfg.track_files:
                obj_f = cfg.track_files[ref.name]
                out.append(self._use(h, "file", ref, obj_f.weight, obj_f.weight_reverse, obj_f.loc, force_weight_0))
        for ref in interfaces:
            out.append(self._use(h, "interface", ref, 0, False, ref.loc, force_weight_0))
        return out

    def _use(self, h: HostInput, kind: TrackerKind, ref: TrackRef, weight: int, reverse: bool,
             loc: Location, force_weight_0: bool) -> Use:
        if ref.weight is not None:
            weight, reverse = ref.weight, ref.weight_reverse
        if force_weight_0:  # keepalived ignores weights of sync group trackers
            weight = 0
        return Use(self.var(h, kind, ref.name, loc), Tracked(ref.name, weight, reverse), ref.loc)

    def member(self, h: HostInput, inst: VrrpInstance) -> Member:
        own = self.uses_of(h, inst.track_scripts, inst.track_files, inst.track_interfaces)
        group: list[Use] = []
        for sg in h.config.sync_groups:
            if inst.name not in sg.members:
                continue
            group += self.uses_of(h, sg.track_scripts, sg.track_files, sg.track_interfaces, force_weight_0=True)
            for sibling in h.config.instances:
                if sibling.name != inst.name and sibling.name in sg.members:
                    sib = self.uses_of(h, sibling.track_scripts, sibling.track_files, sibling.track_interfaces)
                    group += [u for u in sib if u.tracked.weight == 0]
        return Member(h.label, inst, tuple(own), tuple(group))

    def routers(self, findings: list[Finding]) -> list[Router]:
        by_key: dict[tuple[int, int], list[tuple[HostInput, VrrpInstance]]] = {}
        for h in self.hosts:
            for inst in h.config.instances:
                by_key.setdefault((inst.vrid, inst.family), []).append((h, inst))
        routers: list[Router] = []
        for (vrid, family), items in by_key.items():
            labels = [h.label for h, _ in items]
            if len(set(labels)) == len(labels):
                routers.append(Router(vrid, family, None, [self.member(h, i) for h, i in items]))
                continue
            # One host runs this VRID on several interfaces (separate LANs): one router each.
            by_if: dict[str, list[tuple[HostInput, VrrpInstance]]] = {}
            for h, inst in items:
                by_if.setdefault(inst.interface, []).append((h, inst))
            for ifname, sub in by_if.items():
                r = Router(vrid, family, ifname, [self.member(h, i) for h, i in sub])
                routers.append(r)
            findings.append(Finding(
                "info", "vrid-on-several-interfaces", None,
                f"VRID {vrid} is used on several interfaces ({', '.join(by_if)}); "
                "each interface is treated as its own virtual router",
            ))
        return routers


# -- the table --------------------------------------------------------------------------------


def _ip_key(ip: IPAddress | None) -> tuple[int, int]:
    return (0, 0) if ip is None else (1, int(ip))


def _preferred(r: Router) -> str:
    """The host that holds the VIP in normal operation: initial state MASTER, then priority."""
    order = {m.host: n for n, m in enumerate(r.members)}
    best = max(
        r.members,
        key=lambda m: (m.instance.initial_state == "MASTER", m.instance.priority, _ip_key(m.primary_ip), -order[m.host]),
    )
    return best.host


def _evaluate_member(m: Member, status: Mapping[str, Status]) -> int | None:
    """The member's effective priority, or None when it is in FAULT."""
    t = evaluate((u.tracked, status[u.var.id]) for u in m.uses)
    group_fault = any(is_fault(u.tracked.weight, u.tracked.reverse, status[u.var.id]) for u in m.group_faults)
    if t.faults or group_fault:
        return None
    return clamp_priority(m.instance.priority, t.offset)


def _elect(r: Router, prios: Sequence[int | None]) -> tuple[str | None, bool]:
    """The holder in the static table and whether it won on a tie."""
    candidates = [(p, m) for p, m in zip(prios, r.members) if p is not None]
    if not candidates:
        return None, False
    top = max(p for p, _ in candidates)
    best = [m for p, m in candidates if p == top]
    if len(best) == 1:
        return best[0].host, False
    # RFC 3768 §6.4.3 / RFC 5798 §6.4.3: two masters at once: the higher primary IP stays master.
    winner = max(best, key=lambda m: _ip_key(m.primary_ip))
    return winner.host, True


def _scenario(r: Router, healthy: list[str]) -> str:
    everyone = r.hosts
    if r.primary_checks:
        if len(healthy) == 1:
            return "normal" if healthy[0] == r.preferred else f"{healthy[0]} promoted"
        if not healthy:
            return "no primary"
        return "two primaries" if len(healthy) == 2 else f"{len(healthy)} primaries"
    if len(healthy) == len(everyone):
        return "normal"
    if not healthy:
        return "all failing"
    return ", ".join(h for h in everyone if h not in healthy) + " failing"


def _verdict(r: Router, healthy: list[str], holder: str | None) -> tuple[str, str]:
    if holder is None:
        return "no-holder", "no host can hold the VIP (all in FAULT)"
    if not healthy:
        return "dead-node", "VIP on a dead node"
    if holder not in healthy:
        return "failing-holder", f"wrong: VIP on {holder}, whose checks fail"
    if r.primary_checks and len(healthy) > 1:
        m = r.member(holder)
        if holder == r.preferred and not m.instance.nopreempt:
            return "split-brain", "split brain: VIP returns to the stale primary"
        return "split-brain", f"split brain: two primaries, VIP on {holder}"
    return "correct", "correct"


def _row_order(r: Router, combos: list[tuple[bool, ...]]) -> list[tuple[bool, ...]]:
    """Service checks: every pass first.  Primary checks (at most one host should pass): the
    single-primary states first (the normal one, then each failover), then no primary, then
    several primaries -- the order of the seed README's table."""
    if not r.primary_checks:
        return combos

    def n_healthy(c: tuple[bool, ...]) -> int:
        return sum(1 for h in r.hosts if all(ok for ok, v in zip(c, r.trackers) if v.host == h))

    def rank(c: tuple[bool, ...]) -> int:
        n = n_healthy(c)
        return 0 if n == 1 else 1 if n == 0 else n

    return sorted(combos, key=rank)  # stable: product order within a rank


def _build_table(r: Router) -> None:
    seen: dict[str, TrackerVar] = {}
    for m in r.members:
        for u in m.uses + m.group_faults:
            seen.setdefault(u.var.id, u.var)
    r.trackers = list(seen.values())
    r.primary_checks = any(v.primary_check for v in r.trackers)
    r.preferred = _preferred(r)
    if len(r.trackers) > MAX_TRACKERS:
        r.table_skipped = f"{len(r.trackers)} trackers: the table would have {2 ** len(r.trackers)} rows"
        return
    combos = list(itertools.product((True, False), repeat=len(r.trackers)))
    for combo in _row_order(r, combos):
        status = {v.id: Status.OK if ok else Status.FAIL for v, ok in zip(r.trackers, combo)}
        prios = tuple(_evaluate_member(m, status) for m in r.members)
        holder, tie = _elect(r, prios)
        healthy = [h for h in r.hosts if all(ok for ok, v in zip(combo, r.trackers) if v.host == h)]
        holder_prio = prios[r.hosts.index(holder)] if holder is not None else None
        verdict, note = _verdict(r, healthy, holder)
        if tie:
            known = all(r.member(h).primary_ip is not None for h, p in zip(r.hosts, prios) if p == holder_prio)
            how = "higher primary IP" if known else "host order: primary IP unknown"
            note += f"; tie: current holder keeps it (shown: {how})"
        r.rows.append(Row(combo, _scenario(r, healthy), holder, prios, tie, verdict, note, tuple(healthy)))


# -- traps ------------------------------------------------------------------------------------


def _fmt_prios(row: Row) -> str:
    return " vs ".join("FAULT" if p is None else str(p) for p in row.priorities)


def _fmt_results(r: Router, row: Row) -> str:
    return " / ".join(v.value(ok) for v, ok in zip(r.trackers, row.results))


def _range_of(r: Router, host: str) -> tuple[int | None, int | None]:
    """Over the table: (the host's best priority while not in FAULT, its worst while one of its
    own checks fails but it is not in FAULT -- None when that never happens)."""
    i = r.hosts.index(host)
    best: int | None = None
    worst_failing: int | None = None
    own = [n for n, v in enumerate(r.trackers) if v.host == host]
    for row in r.rows:
        p = row.priorities[i]
        if p is None:
            continue
        best = p if best is None else max(best, p)
        if any(not row.results[n] for n in own):
            worst_failing = p if worst_failing is None else min(worst_failing, p)
    return best, worst_failing


def _weighted(m: Member) -> list[Use]:
    return [u for u in m.uses if u.tracked.weight != 0]


def _router_traps(r: Router, out: list[Finding]) -> None:
    key = r.key_str
    ms = r.members

    def add(sev: Severity, code: str, m: Member | None, msg: str, loc: Location | None = None) -> None:
        out.append(Finding(sev, code, m.host if m else None, msg, loc or (m.instance.loc if m else None), key))

    if len(ms) == 1:
        add("warning", "single-host", ms[0],
            f"{key} ({ms[0].instance.name}) exists only on {ms[0].host}: no other host given here backs it up")

    # -- consistency between the hosts of the virtual router
    ref = ms[0]
    ri = ref.instance
    for m in ms[1:]:
        i = m.instance
        if i.version != ri.version:
            add("error", "version-mismatch", m,
                f"VRRP version mismatch: {ref.host} uses VRRPv{ri.version}, {m.host} VRRPv{i.version}; "
                "they drop each other's adverts and both become MASTER")
        if i.advert_int_cs != ri.advert_int_cs:
            add("error", "advert-int-mismatch", m,
                f"advert_int mismatch: {ref.host} {ri.advert_int_cs / 100:g} s, {m.host} {i.advert_int_cs / 100:g} s; "
                "keepalived drops adverts with another interval, so both become MASTER")
        a, b = ri.auth, i.auth
        if (a is None) != (b is None) or (a and b and (a.auth_type, a.auth_pass) != (b.auth_type, b.auth_pass)):
            def desc(x: Any) -> str:
                return "no authentication" if x is None else f"auth_type {x.auth_type}"
            same_type = a is not None and b is not None and a.auth_type == b.auth_type
            what = "auth_pass differs" if same_type else f"{ref.host} has {desc(a)}, {m.host} {desc(b)}"
            add("error", "auth-mismatch", m,
                f"authentication mismatch ({what}); they drop each other's adverts and both become MASTER",
                (b.loc if b else None))
        va = sorted(str(v.address) for v in ri.vips)
        vb = sorted(str(v.address) for v in i.vips)
        if va != vb:
            only_a = sorted(set(va) - set(vb))
            only_b = sorted(set(vb) - set(va))
            parts = ([f"only {ref.host} has {', '.join(only_a)}"] if only_a else []) + (
                [f"only {m.host} has {', '.join(only_b)}"] if only_b else [])
            add("error", "vip-mismatch", m,
                f"virtual_ipaddress lists differ ({'; '.join(parts) or 'order/prefix'}): the holder changes which "
                "addresses exist; keepalived logs 'ip address associated with VRID not present in MASTER advert'")
    for m in ms:
        i = m.instance
        for o in ms:
            if o is m:
                continue
            oi = o.instance
            if i.unicast != oi.unicast:
                if i.unicast:
                    add("error", "unicast-mismatch", m,
                        f"{m.host} sends unicast adverts but {o.host} uses multicast: they may not hear each other")
                continue
            src = oi.unicast_src_ip
            if i.unicast and src is not None and src not in i.unicast_peers:
                add("error", "unicast-peer-missing", m,
                    f"{m.host}'s unicast_peer list does not contain {o.host}'s unicast_src_ip {src}: "
                    f"{o.host} never receives {m.host}'s adverts")

    # -- priorities
    by_prio: dict[int, list[Member]] = {}
    for m in ms:
        by_prio.setdefault(m.instance.priority, []).append(m)
    for prio, same in by_prio.items():
        if len(same) > 1:
            names = " and ".join(m.host for m in same) if len(same) == 2 else ", ".join(m.host for m in same)
            add("warning", "equal-priority", same[1],
                f"equal priorities: {names} {'both' if len(same) == 2 else 'all'} have priority {prio}; on a tie the current master keeps the VIP, "
                "so who holds it depends on who started first (two masters at once: the higher primary IP wins)")

    if r.table_skipped:
        return

    # -- failover impossible: the backup's best never exceeds the master's worst
    failover_trap = False
    for a in ms:
        if not _weighted(a):
            continue
        worst_a = _range_of(r, a.host)[1]
        if worst_a is None:
            continue
        others: list[tuple[Member, int]] = []
        for o in ms:
            best = _range_of(r, o.host)[0] if o is not a else None
            if best is not None:
                others.append((o, best))
        if not others or any(b > worst_a for _o, b in others):
            continue
        o, best_o = max(others, key=lambda x: x[1])
        failover_trap = True
        plus = [u.tracked.weight for u in _weighted(o) if u.tracked.weight > 0 and not u.tracked.reverse]
        how = " + ".join(str(n) for n in [o.instance.priority, *plus])
        how = f" ({how})" if plus and o.instance.priority + sum(plus) == best_o else ""
        add("error", "failover-impossible", o,
            f"failover impossible: {o.host}'s best priority {best_o}{how} never exceeds {a.host}'s worst {worst_a} "
            f"(its checks failing, still running): {o.host} can never take over from a running {a.host} whose check "
            f"fails -- need priority({o.host}) + weight > priority({a.host})")

    # -- rows the seed README flags
    def rows_with(verdict: str) -> list[Row]:
        return [row for row in r.rows if row.verdict == verdict]

    def example(rows: list[Row]) -> str:
        row = rows[0]
        more = f" (and {len(rows) - 1} more rows)" if len(rows) > 1 else ""
        return f"{_fmt_results(r, row)} ({row.scenario}){more}"

    dead = rows_with("dead-node")
    if dead:
        row = dead[0]
        holder = r.member(row.holder or "")
        add("warning", "dead-node", holder,
            f"{example(dead)}: VIP on a dead node: {row.holder} holds it ({_fmt_prios(row)}) though every check "
            "fails -- a positive weight never puts a host in FAULT (weight 0 would release the VIP instead)")
    split = rows_with("split-brain")
    if split:
        row = split[0]
        holder = r.member(row.holder or "")
        add("warning", "split-brain", holder,
            f"{example(split)}: {row.note.split('; tie')[0]}: {row.holder} wins ({_fmt_prios(row)}) whichever primary is current; "
            "an old primary restarted without rejoin takes the VIP back")
    failing = rows_with("failing-holder")
    if failing and not failover_trap:
        row = failing[0]
        add("warning", "failing-holder", r.member(row.holder or ""),
            f"{example(failing)}: VIP on {row.holder} ({_fmt_prios(row)}) whose checks fail while "
            f"{', '.join(row.healthy)} pass")
    none = rows_with("no-holder")
    if none:
        sev: Severity = "info" if all(not row.healthy for row in none) else "warning"
        add(sev, "no-holder", None,
            f"{example(none)}: no host can hold the VIP: every host is in FAULT (a weight-0 tracker failed)")

    # -- weight 0 vs FAULT, nopreempt
    for m in ms:
        for u in m.uses:
            if u.tracked.weight == 0:
                when = "passes (reverse)" if u.tracked.reverse else "fails"
                add("info", "weight-0-fault", m,
                    f"{m.instance.name}: {u.var.kind} {u.var.name} has weight 0: when it {when}, {m.instance.name} "
                    f"goes to FAULT -- it releases the VIP and stops competing (its priority does not change); "
                    "until its first result the instance stays in INIT", u.loc)
        if m.instance.nopreempt:
            add("info", "nopreempt", m,
                f"{m.instance.name}: nopreempt: {m.host} does not take the VIP from a running master with a lower "
                "priority; the table shows the election from scratch")


#: What a script may look at in the data directory, most telling first.
_DATA_DIR_RES = tuple(re.compile(p) for p in (
    r"standby\.signal|recovery\.signal|recovery\.conf",
    r"postmaster\.pid|PG_VERSION|\$\{?PGDATA\b|/var/lib/pgsql/\S*data|/var/lib/postgresql/\S+/main",
))
_ACCEPTING_RE = re.compile(r"accepting connections")
_PG_ISREADY_RE = re.compile(r"\bpg_isready\b")
_RECOVERY_RE = re.compile(r"pg_is_in_recovery|standby\.signal|recovery\.conf")


def _without_comments(text: str) -> str:
    """Shell comment lines blanked (line numbers kept), so that a comment matches nothing."""
    return "\n".join("" if line.lstrip().startswith("#") else line for line in text.split("\n"))


def _line_of(text: str, m: re.Match[str]) -> int:
    return text.count("\n", 0, m.start()) + 1


def _script_traps(h: HostInput, used: set[str], out: list[Finding]) -> None:
    g = h.config.global_defs
    for name, s in h.config.scripts.items():
        if name not in used:
            continue
        path = script_path(s.script)
        st = h.scripts.get(path or "")
        sources = [(s.script, s.loc, None)]
        if st is not None:
            sources.append((_without_comments(st.text), None, st.path))
        else:
            out.append(Finding("info", "script-not-read", h.label,
                               f"vrrp_script {name}: script {path} was not found (see --script-dir); fail-open checks skipped", s.loc))
        user = s.user or g.script_user

        def loc_of(text: str, m: re.Match[str], cfg_loc: Location | None, file: str | None) -> Location:
            return cfg_loc if cfg_loc is not None else Location(file or "", _line_of(text, m))

        for text, cfg_loc, file in sources:
            dd = next((m for m in (r.search(text) for r in _DATA_DIR_RES) if m), None)
            if dd:
                if user is None:
                    who = ("no script_user: keepalived runs it as keepalived_script if that user exists, else as "
                           "root; as any user but root or postgres it")
                elif user in ("root", "postgres"):
                    who = ""
                else:
                    who = f"it runs as {user}, which"
                if who:
                    pg12 = " (and standby.signal exists only on PostgreSQL 12 and later)" if "standby.signal" in dd.group() else ""
                    out.append(Finding(
                        "warning", "fail-open-data-dir", h.label,
                        f"vrrp_script {name} may fail open: it looks into the PostgreSQL data directory "
                        f"('{dd.group()}'); {who} cannot see into that directory (mode 0700), so the test is "
                        f"false and the script falls through as if on a primary{pg12}",
                        loc_of(text, dd, cfg_loc, file)))
            acc = _ACCEPTING_RE.search(text)
            if acc:
                out.append(Finding(
                    "warning", "locale-string-match", h.label,
                    f"vrrp_script {name} matches pg_isready's output 'accepting connections': the message is "
                    "translated, so under a non-English locale the check always fails; test pg_isready's exit code",
                    loc_of(text, acc, cfg_loc, file)))
            ready = _PG_ISREADY_RE.search(text)
            if ready and not _RECOVERY_RE.search(text):
                out.append(Finding(
                    "warning", "pg-isready-standby", h.label,
                    f"vrrp_script {name} relies on pg_isready, which reports 'accepting connections' on a hot "
                    "standby too (fails open); ask SELECT pg_is_in_recovery()",
                    loc_of(text, ready, cfg_loc, file)))


def _diagnostic_traps(h: HostInput, routers: list[Router], out: list[Finding]) -> None:
    """Traps the parser already notices (it adjusts the configuration and warns)."""

    def router_at(d: Diagnostic) -> str | None:
        """The router of the instance block the diagnostic is in (the nearest one above it)."""
        best: tuple[int, str] | None = None
        for r in routers:
            for m in r.members:
                loc = m.instance.loc
                if m.host == h.label and loc.file == d.file and loc.line <= d.line and (best is None or loc.line > best[0]):
                    best = (loc.line, r.key_str)
        return best[1] if best else None

    for d in h.diagnostics:
        loc = Location(d.file, d.line)
        if "nopreempt does not work with initial state MASTER" in d.message:
            out.append(Finding(
                "warning", "nopreempt-master", h.label,
                "nopreempt with state MASTER: keepalived ignores nopreempt (a host starting as MASTER preempts); "
                "use state BACKUP on every host for nopreempt", loc, router_at(d)))
        elif "auth_pass is longer than" in d.message:
            out.append(Finding(
                "warning", "auth-pass-too-long", h.label,
                "auth_pass is longer than 8 characters: only the first 8 are used (and sent in clear text)",
                loc, router_at(d)))


def _vrid_mismatches(hosts: Sequence[HostInput], routers: list[Router], out: list[Finding]) -> None:
    """The same VIP, or the same instance name, in different virtual routers on different hosts."""
    router_of: dict[tuple[str, str], Router] = {}
    for r in routers:
        for m in r.members:
            router_of[(m.host, m.instance.name)] = r
    by_vip: dict[str, list[Member]] = {}
    by_name: dict[str, list[Member]] = {}
    for r in routers:
        for m in r.members:
            for v in m.instance.vips:
                by_vip.setdefault(str(v.address.ip), []).append(m)
            by_name.setdefault(m.instance.name, []).append(m)
    reported: set[frozenset[str]] = set()

    def check(what: str, ms: list[Member]) -> None:
        for a, b in itertools.combinations(ms, 2):
            if a.host == b.host:
                continue
            ra, rb = router_of[(a.host, a.instance.name)], router_of[(b.host, b.instance.name)]
            if ra is rb:
                continue
            pair = frozenset({ra.key_str + a.host, rb.key_str + b.host})
            if pair in reported:
                continue
            reported.add(pair)
            out.append(Finding(
                "error", "vrid-mismatch", b.host,
                f"virtual_router_id mismatch: {what} is VRID {a.instance.vrid} on {a.host} ({a.instance.name}) "
                f"but VRID {b.instance.vrid} on {b.host} ({b.instance.name}): they are separate virtual routers "
                "and both hold the VIP", b.instance.loc, rb.key_str))

    for vip, ms in by_vip.items():
        check(f"VIP {vip}", ms)
    for name, ms in by_name.items():
        check(f"vrrp_instance {name}", ms)


def explain(hosts: Sequence[HostInput], check_kind: CheckKind = "auto") -> Report:
    """Group every host's instances into virtual routers, tabulate, and find the traps."""
    findings: list[Finding] = []
    builder = _Builder(hosts, check_kind)
    routers = builder.routers(findings)
    for r in routers:
        _build_table(r)
    router_findings: list[Finding] = []
    for r in routers:
        _router_traps(r, router_findings)
    host_findings: list[Finding] = []
    _vrid_mismatches(hosts, routers, host_findings)
    for h in hosts:
        _diagnostic_traps(h, routers, host_findings)
        used = {v.name for v in builder.vars.values() if v.host == h.label and v.kind == "script"}
        _script_traps(h, used, host_findings)
    findings += router_findings + host_findings
    order = {h.label: n for n, h in enumerate(hosts)}
    findings.sort(key=lambda f: (_SEVERITY_RANK[f.severity], order.get(f.host or "", -1)))
    return Report([(h.label, h.config.path) for h in hosts], routers, findings)


# -- output -----------------------------------------------------------------------------------


def _tracker_header(r: Router) -> str:
    per_host = {h: [v for v in r.trackers if v.host == h] for h in r.hosts}
    if all(len(vs) == 1 for vs in per_host.values()) and len(r.trackers) == len(r.hosts):
        return " / ".join(f"check {v.host}" if v.kind != "interface" else f"{v.name} {v.host}" for v in r.trackers)
    return " / ".join(v.id for v in r.trackers)


def _fmt_weight(u: Use) -> str:
    w = u.tracked.weight
    return ("weight 0 (FAULT)" if w == 0 else f"weight {w:+d}") + (" reverse" if u.tracked.reverse else "")


def render_text(report: Report) -> str:
    out: list[str] = []
    if not report.routers:
        out.append("no vrrp_instance in the given configurations")
    for r in report.routers:
        vips = ", ".join(str(v.address.ip) for v in r.members[0].instance.vips) or "no VIP"
        out.append(f"{r.key_str}: {vips}")
        for m in r.members:
            i = m.instance
            src = f", primary IP {m.primary_ip}" if m.primary_ip else ""
            extra = ", nopreempt" if i.nopreempt else ""
            out.append(f"  {m.host}: {i.name} on {i.interface}, state {i.initial_state}, priority {i.priority}"
                       f"{src}{extra} ({i.loc})")
            for u in m.uses:
                out.append(f"    tracks {u.var.kind} {u.var.name}, {_fmt_weight(u)}")
            for u in m.group_faults:
                out.append(f"    sync group: {u.var.kind} {u.var.name} can put it in FAULT")
        out.append("")
        if r.table_skipped:
            out.append(f"  (no table: {r.table_skipped})")
        else:
            header = _tracker_header(r) if r.trackers else "(no trackers)"
            out.append(f"| {header} | holder | priority {' / '.join(r.hosts)} | note |")
            out.append("|---|---|---|---|")
            for row in r.rows:
                checks = _fmt_results(r, row) if r.trackers else "-"
                prios = " / ".join("FAULT" if p is None else str(p) for p in row.priorities)
                out.append(f"| {checks} ({row.scenario}) | {row.holder or 'none'} | {prios} | {row.note} |")
        mine = [f for f in report.findings if f.router == r.key_str]
        if mine:
            out.append("")
            out.extend(str(f) for f in mine)
        out.append("")
    rest = [f for f in report.findings if f.router is None or f.router not in {r.key_str for r in report.routers}]
    if rest:
        out.extend(str(f) for f in rest)
        out.append("")
    counts = {s: sum(1 for f in report.findings if f.severity == s) for s in ("error", "warning", "info")}
    out.append(f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} note(s)")
    return "\n".join(out) + "\n"


def _loc_json(loc: Location | None) -> dict[str, Any]:
    if loc is None or loc == NOWHERE:
        return {"file": None, "line": None}
    return {"file": loc.file, "line": loc.line if loc.line > 0 else None}


def to_json(report: Report) -> dict[str, Any]:
    """A JSON-ready dict; its keys are stable (``format`` says which version)."""
    routers = []
    for r in report.routers:
        routers.append({
            "key": r.key_str,
            "vrid": r.vrid,
            "family": r.family,
            "interface": r.interface,
            "vips": [str(v.address) for v in r.members[0].instance.vips],
            "check_kind": "primary" if r.primary_checks else "service",
            "preferred": r.preferred,
            "instances": [
                {
                    "host": m.host,
                    "name": m.instance.name,
                    "interface": m.instance.interface,
                    "state": m.instance.initial_state,
                    "priority": m.instance.priority,
                    "primary_ip": str(m.primary_ip) if m.primary_ip else None,
                    "nopreempt": m.instance.nopreempt,
                    **_loc_json(m.instance.loc),
                    "trackers": [
                        {"id": u.var.id, "weight": u.tracked.weight, "reverse": u.tracked.reverse,
                         "fault_only": False} for u in m.uses
                    ] + [
                        {"id": u.var.id, "weight": 0, "reverse": u.tracked.reverse, "fault_only": True}
                        for u in m.group_faults
                    ],
                }
                for m in r.members
            ],
            "trackers": [
                {"id": v.id, "host": v.host, "kind": v.kind, "name": v.name, "primary_check": v.primary_check,
                 **_loc_json(v.loc)}
                for v in r.trackers
            ],
            "table_skipped": r.table_skipped,
            "rows": [
                {
                    "results": {v.id: v.value(ok) for v, ok in zip(r.trackers, row.results)},
                    "scenario": row.scenario,
                    "holder": row.holder,
                    "priorities": {h: p for h, p in zip(r.hosts, row.priorities)},
                    "fault": [h for h, p in zip(r.hosts, row.priorities) if p is None],
                    "healthy": list(row.healthy),
                    "tie": row.tie,
                    "verdict": row.verdict,
                    "note": row.note,
                }
                for row in r.rows
            ],
        })
    return {
        "format": JSON_FORMAT_VERSION,
        "hosts": [{"label": label, "file": path} for label, path in report.hosts],
        "routers": routers,
        "findings": [
            {"severity": f.severity, "code": f.code, "host": f.host, "router": f.router, **_loc_json(f.loc),
             "message": f.message}
            for f in report.findings
        ],
    }

