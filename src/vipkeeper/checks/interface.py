"""``track_interface``: fed by the daemon's netlink link events (no polling)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from vipkeeper.core.tracking import Status

log = logging.getLogger(__name__)


class InterfaceTracker:
    """``track_interface``: OK while the link is up (IFF_UP and IFF_RUNNING)."""

    default_weight = 0
    default_reverse = False

    def __init__(self, ifname: str, on_change: Callable[[str, Status], None]) -> None:
        self.name = ifname
        self.on_change = on_change
        self._status = Status.INIT
        self.reason = "not seen yet"

    @property
    def status(self) -> Status:
        return self._status

    def set_up(self, up: bool | None) -> None:
        """``None``: the interface does not exist."""
        new = Status.OK if up else Status.FAIL
        self.reason = "up" if up else ("does not exist" if up is None else "down")
        if new is not self._status:
            old, self._status = self._status, new
            if old is not Status.INIT:
                log.info("tracked interface %s is %s", self.name, self.reason)
            self.on_change(self.name, new)

    async def run_forever(self) -> None:
        """Fed by the daemon's link watch; nothing to run."""
        await asyncio.Event().wait()

    def describe(self, now_mono: float) -> dict[str, Any]:
        return {"kind": "interface", "status": str(self._status), "reason": self.reason}
