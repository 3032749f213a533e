"""Cross-references: the ``track_script``/``track_file``/``track_process`` entries of instances
and sync groups resolved against the vrrp_script, vrrp_pgsql, vrrp_dcs, track_file and
vrrp_track_process blocks defined."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from vipkeeper.config.blocks.shared import PendingRef
from vipkeeper.config.keywords import Ctx
from vipkeeper.config.lexer import Diagnostic, Token
from vipkeeper.config.model import TrackRef


@dataclass(slots=True)
class Trackables:
    """What track_* entries may name: (weight_reverse, seq) per object, and broken names."""

    scripts: dict[str, tuple[bool, int]]
    files: dict[str, tuple[bool, int]]
    processes: dict[str, tuple[bool, int]]
    broken: set[tuple[str, str]]
    # (kind, name) keepalived removes while reading (a script without a user to run it as):
    # a reference is a defect, "track script NAME not found, ignoring", and the tracker runs without it
    removed: set[tuple[str, str]] = field(default_factory=set)
    # the tracked objects' own weights, by (track_* keyword, name): what a reference without
    # a weight of its own uses
    weights: dict[tuple[str, str], int] = field(default_factory=dict)

    def weight_of(self, kind: str, ref: TrackRef) -> int:
        """The weight keepalived tracks ``ref`` with (track_interface: 0 unless given)."""
        if ref.weight is not None:
            return ref.weight
        return self.weights.get((kind, ref.name), 0)


TRACKED_KINDS = {
    "track_script": ("vrrp_script", "vrrp_pgsql", "vrrp_dcs"),
    "track_file": ("track_file",),
    "track_process": ("vrrp_track_process",),
}


KEEPALIVED_KINDS = ("vrrp_script", "track_file", "vrrp_track_process")  # not vipkeeper's own blocks


def resolve_refs(kind: str, pending: list[PendingRef], t: Trackables, owner: str, ctx: Ctx) -> tuple[TrackRef, ...]:
    """Check each entry names a defined object; fill in the effective ``weight_reverse``.

    ``track_script`` may name a vrrp_script, a vrrp_pgsql or a vrrp_dcs, ``track_file`` a track_file.
    """
    known = {"track_script": t.scripts, "track_file": t.files, "track_process": t.processes}[kind]
    kinds = TRACKED_KINDS[kind]
    out: list[TrackRef] = []
    for p in pending:
        ref = p.ref
        target = known.get(ref.name)
        at = ref.loc
        if target is None:
            if any((k, ref.name) in t.removed for k in kinds):
                message = f"{owner}: {kind.replace('_', ' ')} {ref.name} not found (removed above), ignoring"
                ctx.diagnostics.append(Diagnostic("error", at.file, at.line, message, fatal=False))
            elif any((k, ref.name) in t.broken for k in kinds if k in KEEPALIVED_KINDS):
                # keepalived dropped the definition, so it names this line too ("not found, ignoring")
                message = f"{owner}: {kind} '{ref.name}' cannot be used: its definition has errors"
                ctx.diagnostics.append(Diagnostic("error", at.file, at.line, message))
            elif not any((k, ref.name) in t.broken for k in kinds):
                what = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " or " + kinds[-1]
                message = f"{owner}: {kind} '{ref.name}' is not defined (no {what} '{ref.name}')"
                ctx.diagnostics.append(Diagnostic("error", at.file, at.line, message))
            continue
        reverse_default, seq = target
        if seq > p.seq:
            # keepalived resolves track_* while reading (vrrp_track.c alloc_track_script),
            # so it ignores a reference to an object defined further down the file.
            ctx.diagnostics.append(
                Diagnostic(
                    "warning",
                    at.file,
                    at.line,
                    f"{owner}: '{ref.name}' is defined after this reference; "
                    "keepalived 2.2.7 would ignore the reference, vipkeeper accepts it",
                )
            )
        reverse = ref.weight_reverse if p.reverse_given else reverse_default
        out.append(TrackRef(ref.name, ref.weight, reverse, ref.loc))
    return tuple(out)


def expected(kind: str, pending: list[PendingRef], t: Trackables) -> int:
    """How many of ``pending`` must resolve: those keepalived removed are ignored, not errors."""
    kinds = TRACKED_KINDS[kind]
    return sum(1 for p in pending if not any((k, p.ref.name) in t.removed for k in kinds))


def interface_refs(pending: list[PendingRef]) -> tuple[TrackRef, ...]:
    return tuple(p.ref for p in pending)


Refs = tuple[TrackRef, ...]


def ignore_weights(
    owner: str, why: str, scripts: Refs, files: Refs, ifaces: Refs, t: Trackables, ctx: Ctx
) -> tuple[Refs, Refs, Refs]:
    """keepalived 2.2.7 vrrp.c vrrp_complete_instance: an address owner (``why``
    "address_owner") and a member of a sync group without ``sync_group_tracking_weight``
    ("SYNC group") ignore weights.  A weighted tracked script is dropped; a tracked file with
    the default weight 1 is tracked with weight 0, one with another weight dropped; a
    weighted tracked interface is dropped (owner) or tracked with weight 0 (sync group).
    keepalived 2.2.7 leaves track_process alone here."""
    sync = why == "SYNC group"

    def warn(ref: TrackRef, message: str, reason: str = why) -> None:
        ctx.warning(Token(ref.name, ref.loc.file, ref.loc.line), f"({owner}) {message} due to {reason}")

    kept_ifaces = []
    for ref in ifaces:
        if not t.weight_of("track_interface", ref):
            kept_ifaces.append(ref)
        elif sync:
            warn(ref, f"ignoring {ref.name} tracked interface weight")
            kept_ifaces.append(replace(ref, weight=0))
        else:
            warn(ref, f"ignoring {ref.name} tracked interface", "address owner")  # keepalived's wording
    kept_scripts = []
    for ref in scripts:
        if t.weight_of("track_script", ref):
            warn(ref, f"ignoring tracked script {ref.name} with weights")
        else:
            kept_scripts.append(ref)
    kept_files = []
    for ref in files:
        weight = t.weight_of("track_file", ref)
        if weight == 1:  # keepalived: "weight == 1 is the default"
            ctx.warning(
                Token(ref.name, ref.loc.file, ref.loc.line),
                f"({owner}) ignoring weight from tracked file {ref.name} due to {why}; specify weight 0",
            )
            kept_files.append(replace(ref, weight=0))
        elif weight:
            warn(ref, f"ignoring tracked file {ref.name} with weight {weight}")
        else:
            kept_files.append(ref)
    return tuple(kept_scripts), tuple(kept_files), tuple(kept_ifaces)
