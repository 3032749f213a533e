"""``vrrp_sync_group``: members that move together (keepalived vrrp_sync.c).

keepalived's rules, which the RFCs do not cover:

* a FAULT in one member holds every other member in FAULT;
* a member becoming MASTER takes the others to MASTER;
* a member falling back from MASTER to BACKUP takes the others to BACKUP.

Pure: :meth:`SyncGroup.fan_out` says what to tell each other member when one
changes state, and :meth:`SyncGroup.settle` when the whole group has reached
one state (keepalived runs the group's notify scripts then).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vipkeeper.core.events import State, SyncGroupChanged
from vipkeeper.core.router import VrrpRouter

__all__ = ["SyncGroup"]


@dataclass(slots=True)
class SyncGroup:
    name: str
    members: tuple[str, ...]
    state: State | None = None  # the last state every member shared

    def fan_out(
        self, member: str, old: State, new: State, routers: Mapping[str, VrrpRouter]
    ) -> list[tuple[str, SyncGroupChanged]]:
        """``member`` went from ``old`` to ``new``: the event for each other member."""
        present = [m for m in self.members if m in routers]
        in_fault = {m for m in present if routers[m].own_faults}
        want = None
        if new is State.MASTER:
            want = State.MASTER
        elif new is State.BACKUP and old is State.MASTER:
            want = State.BACKUP
        return [
            (m, SyncGroupChanged(faults=frozenset(in_fault - {m}), want=want, group=self.name))
            for m in present
            if m != member
        ]

    def settle(self, routers: Mapping[str, VrrpRouter]) -> State | None:
        """The group's new common state, if every member now shares one it did not
        share before; else None."""
        states = {routers[m].state for m in self.members if m in routers}
        if len(states) != 1:
            return None
        (state,) = states
        if state is self.state:
            return None
        self.state = state
        return state
