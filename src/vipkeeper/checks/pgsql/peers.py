"""The peers of a vrrp_pgsql check, each probed in the background (fencing)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from vipkeeper.checks.pgsql.connection import ProbeError, Prober
from vipkeeper.checks.pgsql.decide import PeerView, PgFacts

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PeerState:
    name: str
    facts: PgFacts | None = None
    error: str | None = "not probed yet"
    at_monotonic: float | None = None
    probed: asyncio.Event = field(default_factory=asyncio.Event)


class PeerWatcher:
    """Probes one peer every interval (bounded by timeout); keeps the last answer."""

    def __init__(self, prober: Prober, name: str, interval_s: float, timeout_s: float) -> None:
        self.prober = prober
        self.state = PeerState(name)
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._kick = asyncio.Event()

    def kick(self) -> None:
        self._kick.set()

    def view(self, now: float, max_age_s: float) -> PeerView:
        st = self.state
        if st.facts is not None and st.at_monotonic is not None and now - st.at_monotonic <= max_age_s:
            return PeerView(st.name, st.facts)
        return PeerView(st.name, None, st.error or "answer too old")

    async def probe_once(self) -> None:
        st = self.state
        try:
            st.facts = await self.prober.facts(self.timeout_s)
            st.error = None
        except ProbeError as exc:
            if st.error != str(exc):
                log.debug("peer %s: %s", st.name, exc)
            st.facts, st.error = None, str(exc)
        except Exception as exc:  # never end the peer loop
            log.exception("peer %s: probe raised", st.name)
            st.facts, st.error = None, f"internal error: {exc!r}"
        st.at_monotonic = time.monotonic()
        st.probed.set()

    async def run_forever(self) -> None:
        try:
            while True:
                self._kick.clear()
                started = time.monotonic()
                await self.probe_once()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, started + self.interval_s - time.monotonic())):
                        await self._kick.wait()
        finally:
            await self.prober.close()
