"""The adapter between the configuration model and the core: one ``vrrp_instance``
(with ``global_defs``) -> :class:`~vipkeeper.core.params.RouterParams`.

The core never imports ``vipkeeper.config``; everything it needs of a config
passes through here.
"""

from __future__ import annotations

from vipkeeper.config.model import Config, GlobalDefs, VrrpInstance
from vipkeeper.core import timers
from vipkeeper.core.auth_hmac import HmacParams
from vipkeeper.core.codec import pass_auth_data
from vipkeeper.core.constants import AUTH_AH, AUTH_NONE, AUTH_PASS
from vipkeeper.core.params import RouterParams

__all__ = ["router_params", "sync_groups"]


def router_params(inst: VrrpInstance, gd: GlobalDefs | None = None) -> RouterParams:
    """Translate a parsed ``vrrp_instance`` into engine parameters."""
    auth_type, auth_data = AUTH_NONE, b""
    if inst.version == 2 and inst.auth is not None:
        # PASS: the password in the advert; AH: the HMAC-MD5 key (core.ipsec_ah), 8 bytes either way
        auth_type = AUTH_PASS if inst.auth.auth_type == "PASS" else AUTH_AH
        auth_data = pass_auth_data(inst.auth.auth_pass)
    us = timers.US_PER_S
    group = inst.mcast_dst_ip  # keepalived: the instance's mcast_dst_ip, else the global group
    if group is None and gd is not None:
        group = gd.vrrp_mcast_group4 if inst.family == 4 else gd.vrrp_mcast_group6
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
        mcast_group=group,
        v3_checksum_pseudo=not inst.v3_checksum_as_v2,
        checksum_mode=inst.old_unicast_checksum,
        owner_ignore_adverts=inst.owner_ignore_adverts,
        excluded_vips=tuple(v.address.ip for v in inst.vips_excluded),
        unicast_ttl=inst.unicast_ttl,
        skip_check_adv_addr=inst.skip_check_adv_addr,
        peer_ttl=inst.peer_ttl,
        track_primary=not inst.dont_track_primary,
        config_fault="unicast without any peers (unicast_fault_no_peer)" if inst.fault_no_peer else "",
        auth_hmac=None
        if inst.auth_hmac is None
        else HmacParams(
            keys=inst.auth_hmac.keys,
            active_key=inst.auth_hmac.active_key,
            mode=inst.auth_hmac.mode,
            anti_replay_time=inst.auth_hmac.anti_replay_time,
            time_window_s=inst.auth_hmac.time_window_s,
        ),
    )


def sync_groups(config: Config) -> dict[str, tuple[str, ...]]:
    """``vrrp_sync_group`` name -> member names, for ``VrrpNode.set_sync_groups``."""
    return {g.name: tuple(g.members) for g in config.sync_groups}
