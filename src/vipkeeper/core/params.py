"""What the core needs of one ``vrrp_instance`` (:class:`RouterParams`) and of
the host it runs on (:class:`RouterLink`): pure data.

``vipkeeper.config.to_params`` builds them from the configuration model; the
core never imports the configuration.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from vipkeeper.core import timers
from vipkeeper.core.auth_hmac import HmacParams
from vipkeeper.core.constants import AUTH_NONE, PRIORITY_OWNER, VRRP_GROUP_V4, VRRP_GROUP_V6, VRRP_TTL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

__all__ = ["CHECKSUM_MODES", "RouterLink", "RouterParams"]

CHECKSUM_MODES = ("auto", "never", "always")  # ``old_unicast_checksum``: see core.checksum_dialect


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
    # On the wire (the node encodes and decodes with these).
    mcast_group: IPAddress | None = None  # None: 224.0.0.18 / ff02::12 (``vrrp_mcast_group4/6``)
    v3_checksum_pseudo: bool = True  # False: ``v3_checksum_as_v2`` (VRRPv3 IPv4 checksum as v2)
    checksum_mode: str = "auto"  # ``old_unicast_checksum``: "auto", "never" or "always"
    excluded_vips: tuple[IPAddress, ...] = ()  # ``virtual_ipaddress_excluded``: announced, not advertised
    unicast_ttl: int = VRRP_TTL  # ``unicast_ttl``: IPv4 TTL / IPv6 hop limit of unicast adverts
    skip_check_adv_addr: bool = False  # ``(vrrp_)skip_check_adv_addr`` (keepalived vrrp_state_backup)
    # ``unicast_peer { ADDR min_ttl N max_ttl M }``: (peer, min, max), checked with check_unicast_src
    peer_ttl: tuple[tuple[IPAddress, int, int], ...] = ()
    track_primary: bool = True  # False: ``dont_track_primary``, link events of the interface are ignored
    config_fault: str = ""  # non-empty: FAULT for good, for this reason (``unicast_fault_no_peer``)
    auth_hmac: HmacParams | None = None  # keepalived 2.4 ``auth_hmac`` (core.auth_hmac)
    owner_ignore_adverts: bool = False  # keepalived 2.3.3: an owner at priority 255 drops adverts

    @property
    def sent_auth(self) -> tuple[int, bytes]:
        """The VRRPv2 auth type and data we send.  keepalived 2.4 drops the legacy
        ``authentication`` whenever ``auth_hmac`` is set; vipkeeper keeps sending PASS until
        mode ``enforce`` so a PASS cluster can switch to auth_hmac without a split
        (README "keepalived 2.4 auth_hmac")."""
        if self.auth_hmac is not None and self.auth_hmac.mode == "enforce":
            return AUTH_NONE, b""
        return self.auth_type, self.auth_data

    @property
    def unicast(self) -> bool:
        return bool(self.unicast_peers)

    @property
    def owner(self) -> bool:
        return self.base_priority == PRIORITY_OWNER

    @property
    def group(self) -> IPAddress:
        """The multicast destination (RFC 3768 §5.2.2, RFC 5798 §5.1.1.2 / §5.1.2.2)."""
        if self.mcast_group is not None:
            return self.mcast_group
        return VRRP_GROUP_V4 if self.family == 4 else VRRP_GROUP_V6

    @property
    def destinations(self) -> tuple[IPAddress, ...]:
        """Where adverts go: every unicast peer, else the group."""
        return self.unicast_peers or (self.group,)


@dataclass(frozen=True, slots=True)
class RouterLink:
    """Where one router lives on this host: facts the daemon reads from the kernel."""

    ifindex: int
    src: IPAddress  # the adverts' source (``unicast_src_ip``, ``mcast_src_ip`` or the primary address)
    mac: bytes  # the interface's MAC: gratuitous ARP / NA sender
