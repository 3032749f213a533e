"""Reload (SIGHUP, ``vipkeeper reload``): a pure plan, applied one reload at a time.

:func:`plan_reload` compares the running configuration with the new one, as
keepalived matches instances across a reload: by (VRID, interface, family).
An instance that matches keeps its state and VIPs (it may be renamed or get
new settings); one that is gone resigns and releases its VIPs; a new one
starts in BACKUP.  Trackers whose definition is unchanged keep running with
their results.

:class:`SingleFlight` runs one reload at a time, whoever asks (a signal, the
control socket, two clients): a second request waits for the first to end,
then reads the file again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from vipkeeper.config.model import NOWHERE, Config, VirtualAddress, VrrpInstance

__all__ = ["ReloadPlan", "SingleFlight", "plan_reload"]


def _key(inst: VrrpInstance) -> tuple[object, ...]:
    # a use_vmac change gives another instance: its macvlan is deleted and created again
    vmac_vips = tuple((v.address, v.dev) for v in inst.vips + inst.vips_excluded if v.use_vmac or inst.use_vmac_addr)
    return (
        inst.vrid,
        inst.interface,
        inst.family,
        inst.use_vmac,
        inst.vmac_ifname,
        inst.vmac_mac,
        inst.vmac_xmit_base,
        inst.use_vmac_addr,
        vmac_vips,
    )


@dataclass(frozen=True)
class ReloadPlan:
    keep: tuple[tuple[str, VrrpInstance], ...]  # (running name, its new configuration)
    add: tuple[VrrpInstance, ...]
    remove: tuple[str, ...]  # running names
    trackers_kept: frozenset[str]
    # new instance name -> (VIPs to remove, VIPs to add), for kept instances whose VIPs changed
    vip_changes: dict[str, tuple[tuple[VirtualAddress, ...], tuple[VirtualAddress, ...]]] = field(default_factory=dict)

    def summary(self) -> str:
        return f"{len(self.keep)} instance(s) kept, {len(self.add)} added, {len(self.remove)} removed"


def _all_vips(inst: VrrpInstance) -> tuple[VirtualAddress, ...]:
    return inst.vips + inst.vips_excluded


def plan_reload(old: Config, new: Config, running: Iterable[str]) -> ReloadPlan:
    """What a reload from ``old`` to ``new`` does; ``running`` names the instances
    the daemon runs now (those of ``old``)."""
    running = set(running)
    old_by_key = {_key(i): i for i in old.instances if i.name in running}
    keep: list[tuple[str, VrrpInstance]] = []
    add: list[VrrpInstance] = []
    vip_changes: dict[str, tuple[tuple[VirtualAddress, ...], tuple[VirtualAddress, ...]]] = {}
    for inst in new.instances:
        prev = old_by_key.pop(_key(inst), None)
        if prev is None:
            add.append(inst)
            continue
        keep.append((prev.name, inst))
        old_vips = {str(v.address) for v in _all_vips(prev)}
        new_vips = {str(v.address) for v in _all_vips(inst)}
        if old_vips != new_vips:
            vip_changes[inst.name] = (
                tuple(v for v in _all_vips(prev) if str(v.address) not in new_vips),
                tuple(v for v in _all_vips(inst) if str(v.address) not in old_vips),
            )
    kept_trackers = frozenset(
        name
        for table_old, table_new in (
            (old.scripts, new.scripts),
            (old.track_files, new.track_files),
            (old.pgsql_checks, new.pgsql_checks),
            (old.dcs_checks, new.dcs_checks),
        )
        for name, cfg in table_old.items()
        if _same_definition(table_new.get(name), cfg)
    ) | frozenset(
        f"track_process {name}"  # daemon.trackers.process_key
        for name, cfg in old.track_processes.items()
        if _same_definition(new.track_processes.get(name), cfg)
    )
    return ReloadPlan(
        keep=tuple(keep),
        add=tuple(add),
        remove=tuple(i.name for i in old_by_key.values()),
        trackers_kept=kept_trackers,
        vip_changes=vip_changes,
    )


def _same_definition(new: Any, old: Any) -> bool:
    """The same tracker definition wherever it sits in the file: a reload that only moves a
    block keeps its tracker running (a vrrp_dcs in lock mode would otherwise revoke its lock)."""
    return new is not None and replace(new, loc=NOWHERE) == replace(old, loc=NOWHERE)


Result = tuple[bool, list[str]]


class SingleFlight:
    """One reload at a time.  :meth:`run` waits its turn; :meth:`request` (a signal)
    queues at most one more reload behind the one running, which reads the file
    after the running one has finished."""

    def __init__(
        self,
        reload: Callable[[], Awaitable[Result]],
        spawn: Callable[[Coroutine[Any, Any, Result], str], asyncio.Task[Result]],
    ) -> None:
        self._reload = reload
        self._spawn = spawn
        self._lock = asyncio.Lock()
        self._waiting = False  # a requested reload has not started yet
        self.running = False
        self.completed = 0

    async def run(self) -> Result:
        async with self._lock:
            return await self._locked()

    def request(self) -> None:
        if self._waiting:
            return
        self._waiting = True
        self._spawn(self._requested(), "reload")

    async def _requested(self) -> Result:
        async with self._lock:
            self._waiting = False
            return await self._locked()

    async def _locked(self) -> Result:
        self.running = True
        try:
            return await self._reload()
        finally:
            self.running = False
            self.completed += 1
