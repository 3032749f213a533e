"""Tracking arithmetic: rise/fall counting and weight → priority offset.

Pure code, following keepalived 2.2.7 (``vrrp_track.c``,
``vrrp_scheduler.c``):

- a tracked object is INIT until its first result, then OK or FAIL;
- weight > 0 adds the weight while OK; weight < 0 adds it (subtracts) while
  FAIL; ``reverse`` flips the direction of the adjustment; INIT adds nothing;
- weight 0 puts the instance in FAULT while FAIL (while OK with ``reverse``),
  and holds it in INIT until the first result;
- the effective priority is clamped to 1..254 by the engine, and 255 (the
  address owner) never changes.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from vipkeeper.core.events import TrackingChanged


class Status(enum.Enum):
    INIT = "INIT"
    OK = "OK"
    FAIL = "FAIL"

    def __str__(self) -> str:
        return self.value


class RiseFall:
    """keepalived's script result counter.

    ``result`` runs from 0 to ``rise + fall - 1``; the object is OK once
    ``result >= rise``.  Starting at ``rise - 1`` (or 0 with ``init_fail``),
    one result decides the first state; after that it takes ``rise``
    successes to become OK and ``fall`` failures to become FAIL.
    """

    __slots__ = ("rise", "fall", "result", "status")

    def __init__(self, rise: int = 1, fall: int = 1, init_fail: bool = False) -> None:
        self.rise = max(rise, 1)
        self.fall = max(fall, 1)
        self.result = 0 if init_fail else self.rise - 1
        self.status = Status.FAIL if init_fail else Status.INIT

    def feed(self, success: bool) -> Status | None:
        """Record one result; return the new status if it changed."""
        top = self.rise + self.fall - 1
        old = self.status
        if success:
            if self.result < self.rise - 1:
                self.result += 1
            else:
                self.result = top
                self.status = Status.OK
        else:
            if self.result > self.rise:
                self.result -= 1
            else:
                self.result = 0
                self.status = Status.FAIL
        return self.status if self.status is not old else None


@dataclass(frozen=True, slots=True)
class Tracked:
    """One tracker as an instance sees it (the instance's ``track_*`` entry may
    override the tracked object's own weight)."""

    name: str
    weight: int = 0
    reverse: bool = False


def contribution(weight: int, reverse: bool, status: Status) -> int:
    """Priority offset of one weighted tracker in ``status``."""
    if status is Status.INIT or weight == 0:
        return 0
    sign = -1 if reverse else 1
    if status is Status.OK:
        return weight * sign if weight > 0 else 0
    return weight * sign if weight < 0 else 0


def is_fault(weight: int, reverse: bool, status: Status) -> bool:
    """A weight-0 tracker holds its instance in FAULT while failed (while OK
    with ``reverse``)."""
    if weight != 0 or status is Status.INIT:
        return False
    return (status is Status.FAIL) != reverse


FILE_FAULT = -254


def file_effect(value: int, weight: int, reverse: bool) -> tuple[int, bool]:
    """A tracked file's (priority offset, fault) for the integer it contains.

    keepalived ``track_file.c``: with weight 0 a non-zero value means FAULT
    (with ``reverse``: zero means FAULT); otherwise ``value * weight`` (negated
    with ``reverse``) clamped to -254..253, where -254 means FAULT.
    """
    if weight == 0:
        return 0, (value != 0) != reverse
    effect = max(FILE_FAULT, min(253, value * weight * (-1 if reverse else 1)))
    if effect == FILE_FAULT:
        return 0, True
    return effect, False


def evaluate(
    items: Iterable[tuple[Tracked, Status]],
    file_items: Iterable[tuple[Tracked, int]] = (),
) -> TrackingChanged:
    """Combine every tracker of an instance into the engine's input."""
    offset = 0
    faults: set[str] = set()
    pending: set[str] = set()
    for t, value in file_items:
        effect, fault = file_effect(value, t.weight, t.reverse)
        offset += effect
        if fault:
            faults.add(t.name)
    for t, status in items:
        if t.weight == 0:
            if status is Status.INIT:
                pending.add(t.name)
            elif is_fault(t.weight, t.reverse, status):
                faults.add(t.name)
        else:
            offset += contribution(t.weight, t.reverse, status)
    return TrackingChanged(offset=offset, faults=frozenset(faults), pending=frozenset(pending))


def clamp_priority(base: int, offset: int) -> int:
    """keepalived vrrp_set_effective_priority(): 255 is fixed, others 1..254."""
    if base == 255:
        return 255
    return min(max(base + offset, 1), 254)
