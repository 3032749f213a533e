"""Deliberately broken routers and vrrp_dcs sessions: the simulator must catch each within a few
thousand histories.

Each is a ``VrrpRouter`` subclass that changes one decision; :func:`installed` puts it where
``VrrpNode.add_router`` builds its routers, for the duration of a ``with`` block.  The production
code itself is never edited.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from unittest import mock

from tests.sim import dcs as sim_dcs
from vipkeeper.checks.dcs import decide, session
from vipkeeper.checks.dcs.session import Answer, DcsSession, Request
from vipkeeper.core import node as core_node
from vipkeeper.core import timers
from vipkeeper.core.constants import PRIORITY_STOP
from vipkeeper.core.events import AdvertReceived, RouterEffect
from vipkeeper.core.params import RouterParams
from vipkeeper.core.router import VrrpRouter


class PreemptIgnoresPriority(VrrpRouter):
    """A BACKUP in preempt mode discards every advert as if it came from a lower priority:
    preemption that ignores priority."""

    def _backup_rx(self, ev: AdvertReceived, now_us: int, out: list[RouterEffect]) -> None:
        p = self.params
        if ev.advert.priority != PRIORITY_STOP and not p.nopreempt and not p.preempt_delay_us:
            self.master_addr, self.master_priority = ev.src, ev.advert.priority
            return
        super()._backup_rx(ev, now_us, out)


class NoSkew(VrrpRouter):
    """Skew_Time dropped: Master_Down_Interval is k * Master_Adver_Interval, a priority-0 advert
    promotes every BACKUP at once."""

    def skew_us(self) -> int:
        return 0

    def master_down_us(self) -> int:
        return self.params.down_timer_adverts * timers.cs_to_us(self.master_adver_int_cs)


class MasterIgnoresPriority(VrrpRouter):
    """A MASTER never yields: it ignores the priority of the adverts it hears (split brain
    never heals)."""

    def _master_rx(self, ev: AdvertReceived, now_us: int, out: list[RouterEffect]) -> None:
        if ev.advert.priority == PRIORITY_STOP:
            super()._master_rx(ev, now_us, out)


class IgnoresPreemptSettings(VrrpRouter):
    """``nopreempt`` and ``preempt_delay`` read from the configuration and then forgotten."""

    def __init__(self, params: RouterParams) -> None:
        super().__init__(replace(params, nopreempt=False, preempt_delay_us=0))

    def reconfigure(self, params: RouterParams, now_us: int) -> list[RouterEffect]:
        return super().reconfigure(replace(params, nopreempt=False, preempt_delay_us=0), now_us)


VARIANTS: dict[str, type[VrrpRouter]] = {
    "preempt-ignores-priority": PreemptIgnoresPriority,
    "no-skew": NoSkew,
    "master-ignores-priority": MasterIgnoresPriority,
    "ignores-preempt-settings": IgnoresPreemptSettings,
}


@contextmanager
def installed(name: str) -> Iterator[None]:
    with mock.patch.object(core_node, "VrrpRouter", VARIANTS[name]):
        yield


# ------------------------------------------------------------------ vrrp_dcs (invariant 1)


def _no_margin(ttl_s: float) -> float:
    return 0.0


class TtlFromReceive(DcsSession):
    """The lease's TTL counted from when the answer was *received*, not from when its request
    was sent (the request may have waited in etcd's queue or on the wire)."""

    def answer(self, ans: Answer) -> Request | None:
        return super().answer(replace(ans, sent=ans.received))


@contextmanager
def dcs_installed(name: str) -> Iterator[None]:
    """``no-margin``: the lease safety margin set to zero; ``ttl-from-receive``: see above;
    ``revoke-at-once``: lock mode turning ineligible revokes its lease as soon as it fails,
    while the VIP worker may still be deleting the VIP."""
    if name == "no-margin":
        with mock.patch.object(decide, "margin_s", _no_margin):
            yield
    elif name == "revoke-at-once":
        with mock.patch.object(session, "REVOKE_AFTER_FAIL_S", 0.0):
            yield
    else:
        with mock.patch.object(sim_dcs, "DcsSession", TtlFromReceive):
            yield


DCS_VARIANTS = ("no-margin", "ttl-from-receive", "revoke-at-once")
