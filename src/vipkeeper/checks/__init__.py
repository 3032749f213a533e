"""Health checks and trackers that feed instance priorities.

Every tracker the daemon runs satisfies :class:`Tracker`: it has a name, a
current :class:`~vipkeeper.core.tracking.Status`, the weight an instance uses
when its ``track_*`` entry gives none, and a coroutine that runs it (calling
the ``on_change(name, status)`` callback it was built with on every change),
and a :meth:`~Tracker.describe` of itself for the status output.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from vipkeeper.core.tracking import Status


class Tracker(Protocol):
    name: str

    @property
    def status(self) -> Status: ...

    @property
    def default_weight(self) -> int: ...

    @property
    def default_reverse(self) -> bool: ...

    async def run_forever(self) -> None: ...

    def describe(self, now_mono: float) -> dict[str, Any]:
        """``kind``, ``status``, ``reason`` and whatever else this kind reports
        (``now_mono``: ``time.monotonic()``, for ages)."""
        ...


class WeightedByConfig:
    """For trackers defined by a config block with ``weight [reverse]``: an instance's
    ``track_*`` entry without its own weight uses the block's."""

    cfg: Any  # the block: VrrpScript, VrrpPgsql, VrrpTrackFile...

    @property
    def default_weight(self) -> int:
        return int(self.cfg.weight)

    @property
    def default_reverse(self) -> bool:
        return bool(self.cfg.weight_reverse)


@runtime_checkable
class NeedsEligibility(Protocol):
    """A tracker that acts only while this host is otherwise eligible (``vrrp_dcs`` lock mode:
    it takes the lock only then).  The daemon calls :meth:`set_eligible` whenever the other
    trackers of the instances that track it change: eligible when every one of them passes."""

    @property
    def needs_eligibility(self) -> bool: ...

    def set_eligible(self, eligible: bool, why_not: str = "") -> None: ...


def describe_runs(kind: str, status: Status, state: Any, now_mono: float) -> dict[str, Any]:
    """What a tracker that runs something (a script, a probe) reports of its last run."""
    last = state.last_run_monotonic
    return {
        "kind": kind,
        "status": str(status),
        "reason": state.reason,
        "latency_s": round(state.latency_s, 6),
        "last_run_age_s": None if last is None else round(now_mono - last, 3),
        "runs": state.runs,
        "failures": state.failures,
    }
