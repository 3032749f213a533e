"""Health checks and trackers that feed instance priorities.

Every tracker the daemon runs satisfies :class:`Tracker`: it has a name, a
current :class:`~vipkeeper.core.tracking.Status`, the weight an instance uses
when its ``track_*`` entry gives none, and a coroutine that runs it (calling
the ``on_change(name, status)`` callback it was built with on every change).
"""

from __future__ import annotations

from typing import Protocol

from ..core.tracking import Status


class Tracker(Protocol):
    name: str

    @property
    def status(self) -> Status: ...

    @property
    def default_weight(self) -> int: ...

    @property
    def default_reverse(self) -> bool: ...

    async def run_forever(self) -> None: ...
