"""The findings: known traps in one virtual router (mismatches between hosts, failover that
cannot happen, the dead-node and split-brain rows...), in check scripts, in what the parser
already reported, and VRIDs that differ between hosts."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

from vipkeeper.config.lexer import Diagnostic
from vipkeeper.config.model import AuthHmac, Location, VrrpInstance
from vipkeeper.explain.model import Finding, HostInput, Member, Router, Row, Severity, Use
from vipkeeper.explain.scripts import script_path


def _fmt_prios(row: Row) -> str:
    return " vs ".join("FAULT" if p is None else str(p) for p in row.priorities)


def fmt_results(r: Router, row: Row) -> str:
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


def _auth_hmac_clash(ha: str, a: AuthHmac | None, hb: str, b: AuthHmac | None) -> str:
    """Why two hosts' ``auth_hmac`` blocks drop each other's adverts ("" if they do not)."""
    for (h1, x), (h2, y) in (((ha, a), (hb, b)), ((hb, b), (ha, a))):
        if x is None or x.mode == "receive-only":
            continue  # sends no trailer
        if y is None:
            return (
                f"{h1} signs adverts (auth_hmac mode {x.mode}) but {h2} has no auth_hmac: it drops them "
                "as too long (auth_trailer), and both become MASTER"
            )
        if dict(y.keys).get(x.active_key) != dict(x.keys)[x.active_key]:
            return (
                f"{h1} signs with auth_hmac key {x.active_key}, which {h2} does not have (or has another value): "
                "it drops them (auth_unknown_key / auth_bad_hmac), and both become MASTER"
            )
    for (h1, x), (h2, y) in (((ha, a), (hb, b)), ((hb, b), (ha, a))):
        if x is not None and x.mode == "enforce" and (y is None or y.mode == "receive-only"):
            return f"{h1} enforces auth_hmac but {h2} does not sign: {h1} drops its adverts (auth_missing)"
    return ""


def router_traps(r: Router, out: list[Finding]) -> None:
    key = r.key_str
    ms = r.members

    def add(sev: Severity, code: str, m: Member | None, msg: str, loc: Location | None = None) -> None:
        out.append(Finding(sev, code, m.host if m else None, msg, loc or (m.instance.loc if m else None), key))

    if len(ms) == 1:
        add(
            "warning",
            "single-host",
            ms[0],
            f"{key} ({ms[0].instance.name}) exists only on {ms[0].host}: no other host given here backs it up",
        )

    # -- consistency between the hosts of the virtual router
    ref = ms[0]
    ri = ref.instance
    for m in ms[1:]:
        i = m.instance
        if i.version != ri.version:
            add(
                "error",
                "version-mismatch",
                m,
                f"VRRP version mismatch: {ref.host} uses VRRPv{ri.version}, {m.host} VRRPv{i.version}; "
                "they drop each other's adverts and both become MASTER",
            )
        if i.advert_int_cs != ri.advert_int_cs:
            add(
                "error",
                "advert-int-mismatch",
                m,
                f"advert_int mismatch: {ref.host} {ri.advert_int_cs / 100:g} s, {m.host} {i.advert_int_cs / 100:g} s; "
                "keepalived drops adverts with another interval, so both become MASTER",
            )
        a, b = ri.auth, i.auth
        if (a is None) != (b is None) or (a and b and (a.auth_type, a.auth_pass) != (b.auth_type, b.auth_pass)):

            def desc(x: Any) -> str:
                return "no authentication" if x is None else f"auth_type {x.auth_type}"

            same_type = a is not None and b is not None and a.auth_type == b.auth_type
            what = "auth_pass differs" if same_type else f"{ref.host} has {desc(a)}, {m.host} {desc(b)}"
            add(
                "error",
                "auth-mismatch",
                m,
                f"authentication mismatch ({what}); they drop each other's adverts and both become MASTER",
                (b.loc if b else None),
            )
        hmac_clash = _auth_hmac_clash(ref.host, ri.auth_hmac, m.host, i.auth_hmac)
        if hmac_clash:
            add("error", "auth-hmac-mismatch", m, hmac_clash, i.auth_hmac.loc if i.auth_hmac else None)
        va = sorted(str(v.address) for v in ri.vips)
        vb = sorted(str(v.address) for v in i.vips)
        if va != vb:
            only_a = sorted(set(va) - set(vb))
            only_b = sorted(set(vb) - set(va))
            parts = ([f"only {ref.host} has {', '.join(only_a)}"] if only_a else []) + (
                [f"only {m.host} has {', '.join(only_b)}"] if only_b else []
            )
            add(
                "error",
                "vip-mismatch",
                m,
                f"virtual_ipaddress lists differ ({'; '.join(parts) or 'order/prefix'}): the holder changes which "
                "addresses exist; keepalived logs 'ip address associated with VRID not present in MASTER advert'",
            )
    for m in ms:
        i = m.instance
        for o in ms:
            if o is m:
                continue
            oi = o.instance
            if i.unicast != oi.unicast:
                if i.unicast:
                    add(
                        "error",
                        "unicast-mismatch",
                        m,
                        f"{m.host} sends unicast adverts but {o.host} uses multicast: they may not hear each other",
                    )
                continue
            if not i.unicast and i.mcast_dst_ip != oi.mcast_dst_ip and m is ms[0]:
                # keepalived binds its socket to the instance's group: another group is not heard
                def group(x: VrrpInstance) -> str:
                    return f"mcast_dst_ip {x.mcast_dst_ip}" if x.mcast_dst_ip else "the global group"

                add(
                    "error",
                    "mcast-group-mismatch",
                    o,
                    f"{m.host} sends its adverts to {group(i)}, {o.host} to {group(oi)}: they do not hear "
                    "each other and both become MASTER",
                )
            src = oi.unicast_src_ip
            if i.unicast and src is not None and src not in i.unicast_peers:
                add(
                    "error",
                    "unicast-peer-missing",
                    m,
                    f"{m.host}'s unicast_peer list does not contain {o.host}'s unicast_src_ip {src}: "
                    f"{o.host} never receives {m.host}'s adverts",
                )

    # -- priorities
    by_prio: dict[int, list[Member]] = {}
    for m in ms:
        by_prio.setdefault(m.instance.priority, []).append(m)
    for prio, same in by_prio.items():
        if len(same) > 1:
            names = " and ".join(m.host for m in same) if len(same) == 2 else ", ".join(m.host for m in same)
            add(
                "warning",
                "equal-priority",
                same[1],
                f"equal priorities: {names} {'both' if len(same) == 2 else 'all'} have priority {prio}; "
                "on a tie the current master keeps the VIP, "
                "so who holds it depends on who started first (two masters at once: the higher primary IP wins)",
            )

    if r.table_skipped:
        return

    # -- failover impossible: the backup's best never exceeds the master's worst
    failover_trap = False
    for master in ms:
        if not _weighted(master):
            continue
        worst_a = _range_of(r, master.host)[1]
        if worst_a is None:
            continue
        others: list[tuple[Member, int]] = []
        for o in ms:
            best = _range_of(r, o.host)[0] if o is not master else None
            if best is not None:
                others.append((o, best))
        if not others or any(b > worst_a for _o, b in others):
            continue
        o, best_o = max(others, key=lambda x: x[1])
        failover_trap = True
        plus = [u.tracked.weight for u in _weighted(o) if u.tracked.weight > 0 and not u.tracked.reverse]
        how = " + ".join(str(n) for n in [o.instance.priority, *plus])
        how = f" ({how})" if plus and o.instance.priority + sum(plus) == best_o else ""
        add(
            "error",
            "failover-impossible",
            o,
            f"failover impossible: {o.host}'s best priority {best_o}{how} never exceeds {master.host}'s worst "
            f"{worst_a} (its checks failing, still running): {o.host} can never take over from a running "
            f"{master.host} whose check fails -- need priority({o.host}) + weight > priority({master.host})",
        )

    # -- rows the seed README flags
    def rows_with(verdict: str) -> list[Row]:
        return [row for row in r.rows if row.verdict == verdict]

    def example(rows: list[Row]) -> str:
        row = rows[0]
        more = f" (and {len(rows) - 1} more rows)" if len(rows) > 1 else ""
        return f"{fmt_results(r, row)} ({row.scenario}){more}"

    dead = rows_with("dead-node")
    if dead:
        row = dead[0]
        holder = r.member(row.holder or "")
        add(
            "warning",
            "dead-node",
            holder,
            f"{example(dead)}: VIP on a dead node: {row.holder} holds it ({_fmt_prios(row)}) though every check "
            "fails -- a positive weight never puts a host in FAULT (weight 0 would release the VIP instead)",
        )
    split = rows_with("split-brain")
    if split:
        row = split[0]
        holder = r.member(row.holder or "")
        add(
            "warning",
            "split-brain",
            holder,
            f"{example(split)}: {row.note.split('; tie')[0]}: {row.holder} wins ({_fmt_prios(row)}) "
            "whichever primary is current; "
            "an old primary restarted without rejoin takes the VIP back",
        )
    failing = rows_with("failing-holder")
    if failing and not failover_trap:
        row = failing[0]
        add(
            "warning",
            "failing-holder",
            r.member(row.holder or ""),
            f"{example(failing)}: VIP on {row.holder} ({_fmt_prios(row)}) whose checks fail while "
            f"{', '.join(row.healthy)} pass",
        )
    none = rows_with("no-holder")
    if none:
        sev: Severity = "info" if all(not row.healthy for row in none) else "warning"
        add(
            sev,
            "no-holder",
            None,
            f"{example(none)}: no host can hold the VIP: every host is in FAULT (a weight-0 tracker failed)",
        )

    # -- weight 0 vs FAULT, nopreempt
    for m in ms:
        for u in m.uses:
            if u.tracked.weight == 0:
                when = "passes (reverse)" if u.tracked.reverse else "fails"
                add(
                    "info",
                    "weight-0-fault",
                    m,
                    f"{m.instance.name}: {u.var.kind} {u.var.name} has weight 0: when it {when}, {m.instance.name} "
                    f"goes to FAULT -- it releases the VIP and stops competing (its priority does not change); "
                    "until its first result the instance stays in INIT",
                    u.loc,
                )
        if m.instance.nopreempt:
            add(
                "info",
                "nopreempt",
                m,
                f"{m.instance.name}: nopreempt: {m.host} does not take the VIP from a running master with a lower "
                "priority; the table shows the election from scratch",
            )


#: What a script may look at in the data directory, most telling first.
_DATA_DIR_RES = tuple(
    re.compile(p)
    for p in (
        r"standby\.signal|recovery\.signal|recovery\.conf",
        r"postmaster\.pid|PG_VERSION|\$\{?PGDATA\b|/var/lib/pgsql/\S*data|/var/lib/postgresql/\S+/main",
    )
)
_ACCEPTING_RE = re.compile(r"accepting connections")
_PG_ISREADY_RE = re.compile(r"\bpg_isready\b")
_RECOVERY_RE = re.compile(r"pg_is_in_recovery|standby\.signal|recovery\.conf")


def _without_comments(text: str) -> str:
    """Shell comment lines blanked (line numbers kept), so that a comment matches nothing."""
    return "\n".join("" if line.lstrip().startswith("#") else line for line in text.split("\n"))


def _line_of(text: str, m: re.Match[str]) -> int:
    return text.count("\n", 0, m.start()) + 1


def script_traps(h: HostInput, used: set[str], out: list[Finding]) -> None:
    g = h.config.global_defs
    for name, s in h.config.scripts.items():
        if name not in used:
            continue
        path = script_path(s.script)
        st = h.scripts.get(path or "")
        sources: list[tuple[str, Location | None, str | None]] = [(s.script, s.loc, None)]
        if st is not None:
            sources.append((_without_comments(st.text), None, st.path))
        else:
            out.append(
                Finding(
                    "info",
                    "script-not-read",
                    h.label,
                    f"vrrp_script {name}: script {path} was not found (see --script-dir); fail-open checks skipped",
                    s.loc,
                )
            )
        user = s.user or g.script_user

        def loc_of(text: str, m: re.Match[str], cfg_loc: Location | None, file: str | None) -> Location:
            return cfg_loc if cfg_loc is not None else Location(file or "", _line_of(text, m))

        for text, cfg_loc, file in sources:
            dd = next((m for m in (r.search(text) for r in _DATA_DIR_RES) if m), None)
            if dd:
                if user is None:
                    who = (
                        "no script_user: keepalived runs it as keepalived_script if that user exists, else as "
                        "root; as any user but root or postgres it"
                    )
                elif user in ("root", "postgres"):
                    who = ""
                else:
                    who = f"it runs as {user}, which"
                if who:
                    pg12 = (
                        " (and standby.signal exists only on PostgreSQL 12 and later)"
                        if "standby.signal" in dd.group()
                        else ""
                    )
                    out.append(
                        Finding(
                            "warning",
                            "fail-open-data-dir",
                            h.label,
                            f"vrrp_script {name} may fail open: it looks into the PostgreSQL data directory "
                            f"('{dd.group()}'); {who} cannot see into that directory (mode 0700), so the test is "
                            f"false and the script falls through as if on a primary{pg12}",
                            loc_of(text, dd, cfg_loc, file),
                        )
                    )
            acc = _ACCEPTING_RE.search(text)
            if acc:
                out.append(
                    Finding(
                        "warning",
                        "locale-string-match",
                        h.label,
                        f"vrrp_script {name} matches pg_isready's output 'accepting connections': the message is "
                        "translated, so under a non-English locale the check always fails; test pg_isready's exit code",
                        loc_of(text, acc, cfg_loc, file),
                    )
                )
            ready = _PG_ISREADY_RE.search(text)
            if ready and not _RECOVERY_RE.search(text):
                out.append(
                    Finding(
                        "warning",
                        "pg-isready-standby",
                        h.label,
                        f"vrrp_script {name} relies on pg_isready, which reports 'accepting connections' on a hot "
                        "standby too (fails open); ask SELECT pg_is_in_recovery()",
                        loc_of(text, ready, cfg_loc, file),
                    )
                )


def diagnostic_traps(h: HostInput, routers: list[Router], out: list[Finding]) -> None:
    """Traps the parser already notices (it adjusts the configuration and warns)."""

    def router_at(d: Diagnostic) -> str | None:
        """The router of the instance block the diagnostic is in (the nearest one above it)."""
        best: tuple[int, str] | None = None
        for r in routers:
            for m in r.members:
                loc = m.instance.loc
                if (
                    m.host == h.label
                    and loc.file == d.file
                    and loc.line <= d.line
                    and (best is None or loc.line > best[0])
                ):
                    best = (loc.line, r.key_str)
        return best[1] if best else None

    for d in h.diagnostics:
        loc = Location(d.file, d.line)
        if "nopreempt does not work with initial state MASTER" in d.message:
            out.append(
                Finding(
                    "warning",
                    "nopreempt-master",
                    h.label,
                    "nopreempt with state MASTER: keepalived ignores nopreempt (a host starting as MASTER preempts); "
                    "use state BACKUP on every host for nopreempt",
                    loc,
                    router_at(d),
                )
            )
        elif "dropping legacy auth" in d.message:
            out.append(
                Finding(
                    "warning",
                    "auth-hmac-pass",
                    h.label,
                    "auth_hmac with authentication PASS: keepalived 2.4.3 drops the PASS auth in every auth_hmac mode "
                    "and sends auth type 0, which its PASS peers reject, so a PASS cluster rolled over to "
                    "receive-only splits into two masters; vipkeeper keeps PASS until mode enforce (no split "
                    "between vipkeeper hosts), but with keepalived 2.4 peers remove 'authentication' everywhere first",
                    loc,
                    router_at(d),
                )
            )
        elif "auth_pass is longer than" in d.message:
            out.append(
                Finding(
                    "warning",
                    "auth-pass-too-long",
                    h.label,
                    "auth_pass is longer than 8 characters: only the first 8 are used (and sent in clear text)",
                    loc,
                    router_at(d),
                )
            )


def vrid_mismatches(hosts: Sequence[HostInput], routers: list[Router], out: list[Finding]) -> None:
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
            out.append(
                Finding(
                    "error",
                    "vrid-mismatch",
                    b.host,
                    f"virtual_router_id mismatch: {what} is VRID {a.instance.vrid} on {a.host} ({a.instance.name}) "
                    f"but VRID {b.instance.vrid} on {b.host} ({b.instance.name}): they are separate virtual routers "
                    "and both hold the VIP",
                    b.instance.loc,
                    rb.key_str,
                )
            )

    for vip, ms in by_vip.items():
        check(f"VIP {vip}", ms)
    for name, ms in by_name.items():
        check(f"vrrp_instance {name}", ms)
