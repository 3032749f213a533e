"""RouterParams: what the VRRP engine needs of one ``vrrp_instance``.

Built from the configuration model by :func:`from_config`; pure data.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..config.model import VrrpInstance
from . import timers
from .constants import AUTH_NONE, AUTH_PASS, PRIORITY_OWNER as PRIO_OWNER

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

__all__ = ["AUTH_NONE", "AUTH_PASS", "RouterParams", "from_config"]


@dataclass(frozen=True, slots=True)
class RouterParams:
    """What the engine needs of a ``vrrp_instance`` (see ``from_config``)."""

    name: str
    vrid: int
    version: int
    family: int
    base_priority: int
    advert_int_cs: int
    want_master: bool = False  # ``state MASTER``
    vips: tuple[IPAddress, ...] = ()
    unicast_peers: tuple[IPAddress, ...] = ()
    auth_type: int = AUTH_NONE
    auth_data: bytes = b""
    nopreempt: bool = False
    preempt_delay_us: int = 0
    down_timer_adverts: int = 3
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = False
    check_unicast_src: bool = False
    garp_master_delay_us: int = 5 * timers.US_PER_S
    garp_master_repeat: int = 5
    garp_master_refresh_us: int = 0
    garp_master_refresh_repeat: int = 1
    garp_interval_us: int = 0
    garp_lower_prio_delay_us: int = 0
    garp_lower_prio_repeat: int = 0
    fast_preempt: bool = False

    @property
    def unicast(self) -> bool:
        return bool(self.unicast_peers)

    @property
    def owner(self) -> bool:
        return self.base_priority == PRIO_OWNER



def from_config(inst: VrrpInstance) -> RouterParams:
    """Translate a parsed ``vrrp_instance`` into engine parameters."""
    auth_type, auth_data = AUTH_NONE, b""
    if inst.version == 2 and inst.auth is not None and inst.auth.auth_type == "PASS":
        auth_type, auth_data = AUTH_PASS, inst.auth.auth_pass[:8].ljust(8, b"\0")
    us = timers.US_PER_S
    return RouterParams(
        name=inst.name,
        vrid=inst.vrid,
        version=inst.version,
        family=inst.family,
        base_priority=inst.priority,
        advert_int_cs=inst.advert_int_cs,
        want_master=inst.initial_state == "MASTER",
        vips=tuple(v.address.ip for v in inst.vips),
        unicast_peers=tuple(inst.unicast_peers),
        auth_type=auth_type,
        auth_data=auth_data,
        nopreempt=inst.nopreempt,
        preempt_delay_us=int(inst.preempt_delay_s * us),
        down_timer_adverts=inst.down_timer_adverts,
        lower_prio_no_advert=inst.lower_prio_no_advert,
        higher_prio_send_advert=inst.higher_prio_send_advert,
        check_unicast_src=inst.check_unicast_src,
        garp_master_delay_us=inst.garp_master_delay_s * us,
        garp_master_repeat=inst.garp_master_repeat,
        garp_master_refresh_us=inst.garp_master_refresh_s * us,
        garp_master_refresh_repeat=inst.garp_master_refresh_repeat,
        garp_interval_us=inst.garp_interval_us,
        garp_lower_prio_delay_us=(inst.garp_lower_prio_delay_s or 0) * us,
        garp_lower_prio_repeat=inst.garp_lower_prio_repeat or 0,
        fast_preempt=inst.fast_preempt,
    )
