"""The table: where the VIP goes for each combination of tracker results.

Election rules (keepalived 2.2.7, RFC 3768/5798): a host in FAULT does not hold the VIP; the
highest effective priority wins; on equal priorities the current master keeps the VIP (a
BACKUP only takes over from a master with a lower priority), and two simultaneous masters
settle it by the higher primary IP address, which is what the static table shows.  The
weight arithmetic is :mod:`vipkeeper.core.tracking`'s.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from vipkeeper.config.model import IPAddress
from vipkeeper.core.tracking import Status, clamp_priority, evaluate, is_fault
from vipkeeper.explain.model import MAX_TRACKERS, Member, Router, Row, TrackerVar


def ip_key(ip: IPAddress | None) -> tuple[int, int]:
    return (0, 0) if ip is None else (1, int(ip))


def _preferred(r: Router) -> str:
    """The host that holds the VIP in normal operation: initial state MASTER, then priority."""
    order = {m.host: n for n, m in enumerate(r.members)}
    best = max(
        r.members,
        key=lambda m: (m.instance.initial_state == "MASTER", m.instance.priority, ip_key(m.primary_ip), -order[m.host]),
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
    winner = max(best, key=lambda m: ip_key(m.primary_ip))
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


def build_table(r: Router) -> None:
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
