"""``vrrp_script``: run a command every ``interval`` and feed rise/fall."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vipkeeper.checks import WeightedByConfig, describe_runs
from vipkeeper.config.model import VrrpScript
from vipkeeper.core.tracking import RiseFall, Status
from vipkeeper.io.scripts import RunAs, ScriptResult, run_script, split_command

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CheckState:
    """What status output shows of a tracker."""

    status: Status = Status.INIT
    reason: str = "not run yet"
    latency_s: float = 0.0
    runs: int = 0
    failures: int = 0
    last_run_monotonic: float | None = None


class ScriptCheck(WeightedByConfig):
    """One ``vrrp_script``; at most one run at a time."""

    def __init__(
        self,
        cfg: VrrpScript,
        *,
        run_as: RunAs | None,
        env: dict[str, str],
        on_change: Callable[[str, Status], None],
        refused: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.argv = split_command(cfg.script)
        self.run_as = run_as
        self.env = env
        self.on_change = on_change
        self.rf = RiseFall(cfg.rise, cfg.fall, cfg.init_fail)
        self.refused = refused  # why script security refuses to run it
        if refused:
            # A check that may not run is a failed check: never fail open.
            self.rf.feed(False)
        self.state = CheckState(status=self.rf.status, reason=f"refused: {refused}" if refused else "not run yet")

    @property
    def status(self) -> Status:
        return self.rf.status

    def describe(self, now_mono: float) -> dict[str, Any]:
        return describe_runs("script", self.status, self.state, now_mono)

    async def run_forever(self) -> None:
        if self.refused:
            return
        interval_s = self.cfg.interval_s
        while True:
            started = time.monotonic()
            result = await run_script(
                self.argv, timeout_s=self.cfg.effective_timeout_s, run_as=self.run_as, env=self.env
            )
            self._record(result)
            await asyncio.sleep(max(0.0, started + interval_s - time.monotonic()))

    def _record(self, result: ScriptResult) -> None:
        st = self.state
        st.runs += 1
        st.latency_s = result.duration_s
        st.reason = result.reason
        st.last_run_monotonic = time.monotonic()
        if not result.ok:
            st.failures += 1
        changed = self.rf.feed(result.ok)
        st.status = self.rf.status
        if changed is not None:
            log.info(
                "VRRP_Script(%s) %s (%s)", self.name, "succeeded" if changed is Status.OK else "failed", result.reason
            )
            self.on_change(self.name, changed)
