"""``track_file`` / ``vrrp_track_file``: the integer in a file, fed by inotify on its directory."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

from vipkeeper.checks import WeightedByConfig
from vipkeeper.config.model import VrrpTrackFile
from vipkeeper.core.tracking import Status

log = logging.getLogger(__name__)


class FileTracker(WeightedByConfig):
    """``track_file``: the integer in a file (0 if missing or empty)."""

    status = Status.OK  # files have a value, not a status: see core.tracking.file_effect

    def __init__(self, cfg: VrrpTrackFile, on_change: Callable[[str, Status], None]) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.path = cfg.file
        self.on_change = on_change
        self.value = 0
        self.reason = "not read yet"

    def init_file(self) -> None:
        """``init_file [VALUE] [overwrite]``: create the file at start-up."""
        if not self.cfg.init_file:
            return
        if self.cfg.init_overwrite or not os.path.exists(self.path):
            with open(self.path, "w") as f:
                f.write(f"{self.cfg.init_value}\n")

    def read(self, *, notify: bool = True) -> None:
        try:
            with open(self.path, "rb") as f:
                text = f.read(128).decode(errors="replace").strip()
        except OSError as exc:
            text = ""
            self.reason = f"unreadable ({exc.strerror}): 0"
        if text:
            try:
                value = int(text.split()[0], 0)
            except ValueError:
                log.warning("track_file %s: invalid number %r in %s - ignoring", self.name, text[:20], self.path)
                return
            if not -(2**31) <= value <= 2**31:
                log.warning("track_file %s: number %d out of range in %s - ignoring", self.name, value, self.path)
                return
            self.reason = f"value {value}"
        else:
            value = 0
            if not self.reason.startswith("unreadable"):
                self.reason = "missing or empty: 0"
        if value != self.value:
            self.value = value
            log.info("track_file %s (%s) now %d", self.name, self.path, value)
            if notify:
                self.on_change(self.name, self.status)

    async def run_forever(self) -> None:
        """Fed by the daemon's inotify watch; nothing to run."""
        await asyncio.Event().wait()

    def describe(self, now_mono: float) -> dict[str, Any]:
        return {"kind": "file", "status": str(self.status), "reason": self.reason, "value": self.value}
