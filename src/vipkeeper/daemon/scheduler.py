"""Wakes the node when it asked to be woken.

As aioquic's asyncio protocol re-arms ``loop.call_at(connection.get_timer())``
after every input, the daemon calls :meth:`Scheduler.arm` with
``VrrpNode.next_deadline()`` after every call into the node; only a moved
deadline touches the event loop.  Time is the monotonic clock in integer
microseconds (``now_us``), the event loop's own clock in seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

US_PER_S = 1_000_000


def now_us() -> int:
    """The monotonic clock, in integer microseconds (the core's time)."""
    return time.monotonic_ns() // 1000


class Scheduler:
    def __init__(self, loop: asyncio.AbstractEventLoop, on_due: Callable[[], None]) -> None:
        self._loop = loop
        self._on_due = on_due
        self._handle: asyncio.TimerHandle | None = None
        self.armed_us: int | None = None

    def arm(self, deadline_us: int | None) -> None:
        """Be woken at ``deadline_us`` at the latest.  A timer armed for an earlier time is
        kept: waking early costs one empty ``on_timer`` call, while re-arming on every
        packet that moves a backup's deadline later would cost a timer handle per packet."""
        armed = self.armed_us
        if armed is not None and (deadline_us is None or armed <= deadline_us):
            return
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.armed_us = deadline_us
        if deadline_us is not None:
            self._handle = self._loop.call_at(deadline_us / US_PER_S, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self.armed_us = None
        self._on_due()

    def close(self) -> None:
        self.arm(None)
