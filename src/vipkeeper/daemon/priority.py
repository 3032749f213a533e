"""``vrrp_rt_priority`` (SCHED_RR), ``vrrp_rlimit_rttime`` and ``vrrp_priority`` (nice), as keepalived.

keepalived 2.2.7 (lib/process.c set_process_priorities, called from vrrp_daemon.c at start):

* with ``vrrp_rt_priority P``: ``sched_setscheduler(SCHED_RR | SCHED_RESET_ON_FORK, P)`` (the
  scripts it forks run at normal priority), then ``RLIMIT_RTTIME`` soft = limit / 2, hard =
  limit, with ``vrrp_rlimit_rttime`` µs, default 10000 (lib/process.h RT_RLIMIT_DEFAULT), and a
  SIGXCPU handler that logs "VRRP process has used too much CPU time, vrrp_rlimit_rttime may
  need to be increased" (lib/signals.c log_sigxcpu);
* otherwise, with ``vrrp_priority N``: ``setpriority(PRIO_PROCESS, 0, N)``.

RLIMIT_RTTIME counts the CPU time a real-time task uses without sleeping: past the soft limit
the kernel sends SIGXCPU, past the hard limit SIGKILL (setrlimit(2)).  keepalived's parent
process restarts a killed VRRP child; vipkeeper has no parent, and a Python loop turn that
handles many instances at once (a take-over of 200 VIPs, a reload) can run for more than a few
milliseconds.  So at SIGXCPU vipkeeper also steps down to SCHED_OTHER at once (a busy
real-time loop can never starve the machine, nor run into the SIGKILL), and a timer raises it
back to SCHED_RR a second later.  Every change is logged.
"""

from __future__ import annotations

import logging
import os
import resource
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

    from vipkeeper.config.model import GlobalDefs

log = logging.getLogger(__name__)

__all__ = ["ProcessPriority", "RT_RLIMIT_DEFAULT_US"]

RT_RLIMIT_DEFAULT_US = 10_000  # keepalived lib/process.h RT_RLIMIT_DEFAULT
RESTORE_AFTER_S = 1.0
# <linux/sched.h>: the scheduling policy is not inherited by children (os module has no name)
SCHED_RESET_ON_FORK = getattr(os, "SCHED_RESET_ON_FORK", 0x40000000)


class ProcessPriority:
    """Applies the configured priorities to this process; :meth:`close` undoes nothing (the
    process is exiting) but cancels the pending restore."""

    def __init__(self, gd: GlobalDefs) -> None:
        self.rt_priority = gd.vrrp_rt_priority or 0
        self.nice = gd.vrrp_priority or 0
        rl = getattr(gd, "vrrp_rlimit_rttime_us", None)
        self.rlimit_us = max(2, rl) if rl else RT_RLIMIT_DEFAULT_US  # keepalived: at least 2
        self.realtime = False
        self.demotions = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._restore: asyncio.TimerHandle | None = None

    def apply(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """At start, once.  Never raises: a refusal is logged and the daemon runs on."""
        self._loop = loop
        if self.rt_priority:
            if loop is not None:  # before the limit: SIGXCPU's default action kills
                loop.add_signal_handler(signal.SIGXCPU, self._on_sigxcpu)
            if self._set_realtime():
                try:
                    soft = self.rlimit_us // 2  # keepalived: warnings when approaching the limit
                    resource.setrlimit(resource.RLIMIT_RTTIME, (soft, self.rlimit_us))
                except (OSError, ValueError) as exc:
                    log.warning("cannot set RLIMIT_RTTIME to %d us: %s", self.rlimit_us, exc)
                log.info(
                    "real-time scheduling: SCHED_RR priority %d, RLIMIT_RTTIME %d us (soft %d us)",
                    self.rt_priority,
                    self.rlimit_us,
                    self.rlimit_us // 2,
                )
        elif self.nice:
            try:
                os.setpriority(os.PRIO_PROCESS, 0, self.nice)
                log.info("process priority (nice) set to %d", self.nice)
            except OSError as exc:
                log.warning("unable to set process priority to %d: %s", self.nice, exc)

    def _set_realtime(self) -> bool:
        try:
            os.sched_setscheduler(0, os.SCHED_RR | SCHED_RESET_ON_FORK, os.sched_param(self.rt_priority))
        except OSError as exc:
            log.warning("cannot raise priority to SCHED_RR %d: %s", self.rt_priority, exc)
            return False
        self.realtime = True
        return True

    def _on_sigxcpu(self) -> None:
        """Past the soft RLIMIT_RTTIME: log as keepalived, and leave real-time scheduling
        before the hard limit's SIGKILL; back to SCHED_RR after RESTORE_AFTER_S."""
        log.warning("VRRP process has used too much CPU time, vrrp_rlimit_rttime may need to be increased")
        if not self.realtime:
            return
        try:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        except OSError as exc:  # pragma: no cover - lowering one's own policy is always allowed
            log.error("cannot leave real-time scheduling: %s", exc)
            return
        self.realtime = False
        self.demotions += 1
        log.warning("left real-time scheduling for %.0f s (SCHED_OTHER)", RESTORE_AFTER_S)
        if self._loop is not None:
            self._restore = self._loop.call_later(RESTORE_AFTER_S, self._back_to_realtime)

    def _back_to_realtime(self) -> None:
        self._restore = None
        if self._set_realtime():
            log.info("back to real-time scheduling: SCHED_RR priority %d", self.rt_priority)

    def close(self) -> None:
        if self._restore is not None:
            self._restore.cancel()
            self._restore = None
