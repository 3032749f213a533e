"""The vrrp_pgsql decision, pure: what the local server and its peers say -> pass or fail."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PgFacts:
    """What one probe learned about one server."""

    in_recovery: bool
    read_only: bool
    timeline: int | None  # a primary's insert timeline; a standby's received/checkpoint timeline
    system_identifier: int | None = None

    @property
    def writable_primary(self) -> bool:
        return not self.in_recovery and not self.read_only

    @property
    def role(self) -> str:
        if self.in_recovery:
            return "standby"
        return "primary (read-only)" if self.read_only else "primary"


@dataclass(frozen=True, slots=True)
class PeerView:
    """A peer as the decision sees it: facts, or None when unreachable/unknown."""

    name: str
    facts: PgFacts | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str
    alarm: str | None = None  # split brain or wrong cluster: worth one ERROR line
    role: str = "unknown"
    timeline: int | None = None


def timeline_text(t: int | None) -> str:
    return "?" if t is None else str(t)


def decide(local: PgFacts | None, local_error: str | None, peers: Sequence[PeerView] = ()) -> Verdict:
    """(local facts, peer facts) -> pass/fail and why.  Pure."""
    if local is None:
        return Verdict(False, f"local server: {local_error or 'no answer'}", role="unreachable")
    role, tl = local.role, local.timeline
    if local.in_recovery:
        return Verdict(False, f"standby (in recovery, timeline {timeline_text(tl)})", role=role, timeline=tl)
    if local.read_only:
        return Verdict(False, "primary but read-only (transaction_read_only is on)", role=role, timeline=tl)
    notes: list[str] = []
    for p in peers:
        f = p.facts
        if f is None:
            notes.append(f"peer {p.name} unreachable")
            continue
        if (
            f.system_identifier is not None
            and local.system_identifier is not None
            and f.system_identifier != local.system_identifier
        ):
            alarm = (
                f"WRONG CLUSTER: peer {p.name} has system_identifier {f.system_identifier}, "
                f"ours is {local.system_identifier}: it is not a copy of this database; check peer_conninfo"
            )
            return Verdict(False, f"peer {p.name} is another cluster", alarm=alarm, role=role, timeline=tl)
        if not f.writable_primary:
            notes.append(f"peer {p.name} {f.role}")
            continue
        if f.timeline is not None and tl is not None and f.timeline > tl:
            alarm = (
                f"SPLIT BRAIN: peer {p.name} is a writable primary on timeline {f.timeline}, this server is a "
                f"primary on timeline {tl}: this server is a stale old primary (rejoin it as a standby); "
                "check fails"
            )
            return Verdict(
                False,
                f"stale primary: peer {p.name} is primary on newer timeline {f.timeline}",
                alarm=alarm,
                role=role,
                timeline=tl,
            )
        if f.timeline is None or tl is None or f.timeline == tl:
            alarm = (
                f"SPLIT BRAIN: peer {p.name} is also a writable primary on timeline {timeline_text(f.timeline)} "
                f"(ours {timeline_text(tl)}): two primaries, no VIP is safer than a VIP on the wrong one; check fails"
            )
            return Verdict(
                False,
                f"two primaries (peer {p.name}, timeline {timeline_text(f.timeline)})",
                alarm=alarm,
                role=role,
                timeline=tl,
            )
        notes.append(f"peer {p.name} is a stale primary on timeline {f.timeline}")
    reason = f"writable primary, timeline {timeline_text(tl)}"
    if notes:
        reason += "; " + ", ".join(notes)
    return Verdict(True, reason, role=role, timeline=tl)
